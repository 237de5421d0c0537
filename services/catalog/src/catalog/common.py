"""Small shared pieces: ETags, validation helpers, EDRPOU, JSON-able values."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from portal_kit.errors import (
    Conflict,
    PreconditionFailed,
    PreconditionRequired,
    Unprocessable,
    field_error,
)
from sqlalchemy.exc import IntegrityError

SLUG_RE = r"^[a-z0-9_-]{2,100}$"
EMAIL_RE = r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$"
URL_RE = r"^https?://[^\s/$.?#][^\s]*$"
PHONE_RE = r"^[0-9+()\-\s]{5,30}$"
SOURCE = "/catalog"


def etag(revision: int) -> str:
    return f'W/"{revision}"'


def check_if_match(request: Request, revision: int) -> None:
    """428 when If-Match is missing, 412 when it names another revision."""
    header = request.headers.get("if-match")
    if not header or not header.strip():
        raise PreconditionRequired("If-Match header with the ETag you read is required")
    tags = [t.strip() for t in header.split(",") if t.strip()]
    if "*" in tags:
        return
    wanted = str(revision)
    for tag in tags:
        if tag.removeprefix("W/").strip('"') == wanted:
            return
    raise PreconditionFailed(
        "The resource was changed since you read it; read it again and retry",
        current_etag=etag(revision),
    )


def with_etag(body: Any, revision: int, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable(body), status_code=status_code, headers={"ETag": etag(revision)})


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    return value


def edrpou_valid(code: str) -> bool:
    """The EDRPOU check digit (the State Statistics Service algorithm)."""
    if not re.fullmatch(r"\d{8}", code):
        return False
    digits = [int(c) for c in code]
    num = int(code)
    base = 1 if (num < 30000000 or num > 60000000) else 7
    weights = list(range(base, base + 7))
    check = sum(d * w for d, w in zip(digits[:7], weights, strict=True)) % 11
    if check == 10:
        weights = [w + 2 for w in weights]
        check = sum(d * w for d, w in zip(digits[:7], weights, strict=True)) % 11
        if check == 10:
            check = 0
    return check == digits[7]


def edrpou_with_check(first7: str) -> str:
    for d in "0123456789":
        if edrpou_valid(first7 + d):
            return first7 + d
    raise ValueError(first7)


def unprocessable(loc: list[str | int], msg: str, type_: str = "value_error") -> Unprocessable:
    return Unprocessable(
        f"Invalid request: {'.'.join(map(str, loc))}", errors=[field_error(loc, msg, type_)]
    )


def integrity_to_problem(exc: IntegrityError, what: str) -> Conflict | Unprocessable:
    text = str(exc.orig) if exc.orig is not None else str(exc)
    if "unique" in text.lower() or "duplicate" in text.lower():
        field = "name"
        for candidate in ("list_code", "request_id", "name"):
            if candidate in text:
                field = candidate
                break
        return Conflict(f"{what} with this {field} already exists", field=field)
    return unprocessable(["body"], f"{what} violates a constraint")
