"""Request bodies as async chunk iterators: raw bodies and the file part of a multipart form.

The multipart form is parsed incrementally (python-multipart's ``MultipartParser``): the file
part's bytes are handed on as they arrive, never collected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from portal_kit.errors import BadRequest, Unprocessable, field_error
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from storage.names import parse_disposition_filename


class ClientGone(Exception):
    """The client disconnected before the body was complete."""


async def raw_chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise ClientGone() from exc


@dataclass
class FormFile:
    filename: str | None = None
    content_type: str | None = None
    found: bool = False
    finished: bool = False
    _pending: list[bytes] = field(default_factory=list)


def boundary_of(content_type: str) -> bytes:
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary or len(boundary) > 200:
        raise BadRequest("multipart/form-data without a usable boundary")
    return boundary


async def form_file_chunks(request: Request, form: FormFile) -> AsyncIterator[bytes]:
    """Yield the bytes of the first file part (field ``file``, or any part with a filename)."""
    boundary = boundary_of(request.headers.get("content-type", ""))
    state = {"field": b"", "value": b"", "headers": {}, "active": False}

    def on_part_begin() -> None:
        state["headers"] = {}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]  # type: ignore[index]
        state["field"], state["value"] = b"", b""

    def on_headers_finished() -> None:
        headers: dict[bytes, bytes] = state["headers"]  # type: ignore[assignment]
        disp = headers.get(b"content-disposition", b"").decode("utf-8", errors="replace")
        name = None
        if disp:
            import re

            m = re.search(r';\s*name\s*=\s*"?([^";]*)"?', disp)
            name = m.group(1) if m else None
        filename = parse_disposition_filename(disp) if disp else None
        if not form.found and (name == "file" or filename is not None):
            form.found = True
            form.filename = filename
            ctype = headers.get(b"content-type")
            form.content_type = ctype.decode("latin-1") if ctype else None
            state["active"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["active"]:
            form._pending.append(bytes(data[start:end]))

    def on_part_end() -> None:
        if state["active"]:
            state["active"] = False
            form.finished = True

    parser = MultipartParser(
        boundary,
        callbacks={
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            try:
                parser.write(chunk)
            except Exception as exc:  # malformed multipart
                raise BadRequest("Malformed multipart/form-data body") from exc
            if form._pending:
                data = b"".join(form._pending)
                form._pending.clear()
                yield data
            if form.finished:
                break  # ignore whatever follows the file part
    except ClientDisconnect as exc:
        raise ClientGone() from exc
    if not form.found:
        raise Unprocessable(
            "The form has no file part",
            errors=[field_error(["body", "file"], "Field required", "missing")],
        )
    if not form.finished:
        raise ClientGone()
