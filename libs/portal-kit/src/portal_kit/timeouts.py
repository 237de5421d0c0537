"""Slow-client bounds (issue 10 hardening): an idle timeout on request-body reads and a total
bound on reading a request's headers.

uvicorn bounds only the idle time *between* requests (``timeout_keep_alive``); a client that
sends its headers or its body one byte every few seconds holds a connection (and, behind the
gateway, an upstream connection) for as long as it likes. Two pieces close that:

- ``BodyIdleTimeoutMiddleware`` (pure ASGI, every service and the gateway): while the request
  body is incomplete and no response has started, each ``receive()`` that waits longer than
  ``idle`` seconds for the next chunk raises ``RequestTimeout``. Code that streams the body
  (the gateway's proxy into httpx, storage's upload into S3) fails like on a disconnect: httpx
  closes the upstream connection, storage aborts its multipart upload. The problem handler
  answers 408 problem+json with ``Connection: close``. Time the *application* spends between
  reads (back-pressure, a slow S3) does not count: only waiting for the client does.
- ``header_timeout_protocol(seconds)``: uvicorn's httptools protocol, with a timer from the
  connection's first byte (or the previous response) to the end of the request's headers; on
  expiry it answers 408 and closes the connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal_kit.errors import PROBLEM_BASE, PROBLEM_JSON, RequestTimeout

log = logging.getLogger("portal.timeouts")


class BodyIdleTimeoutMiddleware:
    def __init__(self, app: ASGIApp, idle: float) -> None:
        self.app = app
        self.idle = idle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.idle or self.idle <= 0:
            await self.app(scope, receive, send)
            return
        state = {"body_done": False, "started": False}

        async def timed_receive() -> Message:
            if state["body_done"] or state["started"]:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=self.idle)
            except TimeoutError:
                log.warning(
                    "request body idle for %.0f s, aborting %s %s",
                    self.idle,
                    scope.get("method"),
                    scope.get("path"),
                )
                raise RequestTimeout(
                    f"No request body data for {self.idle:g} seconds", idle_seconds=self.idle
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def tracked_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, tracked_send)
        except RequestTimeout as exc:
            # raised outside the problem handlers (e.g. in a middleware reading the body)
            if state["started"]:
                raise
            await _send_408(send, exc.detail, scope.get("path"))


async def _send_408(send: Send, detail: str, instance: str | None) -> None:
    body = json.dumps(
        {
            "type": PROBLEM_BASE + "request-timeout",
            "title": "Request Timeout",
            "status": 408,
            "detail": detail,
            "instance": instance,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_HEADER_408 = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/problem+json\r\n"
    b"connection: close\r\n"
)


def header_timeout_protocol(seconds: float) -> Any:
    """A uvicorn ``http`` protocol class that bounds the time to receive a request's headers
    (None when httptools is not installed: then uvicorn's default applies, unbounded)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency of uvicorn[standard]
        return None

    body = json.dumps(
        {
            "type": PROBLEM_BASE + "request-timeout",
            "title": "Request Timeout",
            "status": 408,
            "detail": f"Request headers not received within {seconds:g} seconds",
        }
    ).encode()
    response = _HEADER_408 + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None
        _awaiting_headers = False

        def _arm(self) -> None:
            self._disarm()
            self._awaiting_headers = True
            self._header_timer = self.loop.call_later(seconds, self._header_timeout)

        def _disarm(self) -> None:
            self._awaiting_headers = False
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                log.warning("request headers not complete after %.0f s, closing", seconds)
                self.transport.write(response)
                self.transport.close()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if not self._awaiting_headers and self._header_timer is None and self._idle():
                # first byte of the next request on a kept-alive connection
                self._arm()
            super().data_received(data)

        def _idle(self) -> bool:
            return self.cycle is None or self.cycle.response_complete

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeaderTimeoutProtocol
