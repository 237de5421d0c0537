"""Domain errors that know their HTTP status, rendered as RFC 9457 problem+json.

Every app calls ``install_problem_handlers(app)``. The ``type`` of a problem is a stable URI
(``https://portal.zp.gov.ua/problems/<slug>``) that clients can switch on.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://portal.zp.gov.ua/problems/"

log = logging.getLogger("portal.errors")

_STATUS_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    408: "request-timeout",
    409: "conflict",
    410: "gone",
    411: "length-required",
    412: "precondition-failed",
    413: "payload-too-large",
    415: "unsupported-media-type",
    416: "range-not-satisfiable",
    422: "validation-error",
    428: "precondition-required",
    429: "too-many-requests",
    500: "internal-error",
    502: "bad-gateway",
    503: "service-unavailable",
    504: "gateway-timeout",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    408: "Request Timeout",
    409: "Conflict",
    410: "Gone",
    411: "Length Required",
    412: "Precondition Failed",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
    428: "Precondition Required",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class AppError(Exception):
    """Base of all expected errors. Subclasses set ``status`` and may set ``slug``."""

    status: ClassVar[int] = 500
    slug: ClassVar[str | None] = None

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra
        self.headers = headers or {}


class BadRequest(AppError):
    status = 400


class Unauthorized(AppError):
    status = 401

    def __init__(self, detail: str = "Authentication required", **extra: Any) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"}, **extra)


class Forbidden(AppError):
    status = 403


class NotFound(AppError):
    status = 404


class RequestTimeout(AppError):
    """408: the client stopped sending its request; the connection is closed after it."""

    status = 408

    def __init__(self, detail: str = "Request not received in time", **extra: Any) -> None:
        super().__init__(detail, headers={"Connection": "close"}, **extra)


class Conflict(AppError):
    status = 409


class PreconditionFailed(AppError):
    status = 412


class PreconditionRequired(AppError):
    status = 428


class PayloadTooLarge(AppError):
    status = 413


class UnsupportedMediaType(AppError):
    status = 415


class Unprocessable(AppError):
    """422 with field errors: ``errors=[{"loc": [...], "msg": ..., "type": ...}]``."""

    status = 422


class TooManyRequests(AppError):
    status = 429


class ServiceUnavailable(AppError):
    status = 503


def problem(
    status: int,
    detail: str | None = None,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or _STATUS_SLUGS.get(status, "error")),
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
    }
    if detail is not None:
        body["detail"] = detail
    if instance is not None:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def field_error(
    loc: list[str | int] | tuple[str | int, ...], msg: str, type_: str = "value_error"
) -> dict[str, Any]:
    return {"loc": list(loc), "msg": msg, "type": type_}


def _clean_validation_errors(errors: list[Any]) -> list[dict[str, Any]]:
    cleaned = []
    for err in errors:
        item = {
            "loc": list(err.get("loc", [])),
            "msg": str(err.get("msg", "")),
            "type": err.get("type", ""),
        }
        cleaned.append(item)
    return cleaned


def _nul_in_text(exc: BaseException | None) -> bool:
    """PostgreSQL refused a string with a NUL byte (asyncpg CharacterNotInRepertoireError)."""
    seen = 0
    while exc is not None and seen < 8:
        if "invalid byte sequence for encoding" in str(exc) and "0x00" in str(exc):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def install_problem_handlers(app: FastAPI) -> None:
    async def app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return problem(
            exc.status,
            exc.detail,
            slug=exc.slug,
            instance=request.url.path,
            headers=exc.headers or None,
            **exc.extra,
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) else None
        extra = {} if isinstance(exc.detail, str) else {"errors": exc.detail}
        return problem(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=dict(exc.headers) if exc.headers else None,
            **extra,
        )

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = _clean_validation_errors(list(exc.errors()))
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in errors[:5])
        return problem(
            422,
            f"Invalid request: {fields}" if fields else "Invalid request",
            instance=request.url.path,
            errors=errors,
        )

    async def database_error(request: Request, exc: Exception) -> JSONResponse:
        # a handler for the class (not for Exception): answered here, never re-raised to the
        # server, so the keep-alive connection stays usable for the gateway's next request
        if _nul_in_text(exc):  # hardening: a NUL (%00) in a path, query or body string
            return problem(400, "Text must not contain NUL characters", instance=request.url.path)
        log.error("unhandled database error", exc_info=exc, extra={"path": request.url.path})
        return problem(500, "An unexpected error occurred", instance=request.url.path)

    async def unhandled(request: Request, exc: Exception) -> JSONResponse:
        if _nul_in_text(exc):
            return problem(400, "Text must not contain NUL characters", instance=request.url.path)
        log.exception("unhandled error", extra={"path": request.url.path})
        return problem(500, "An unexpected error occurred", instance=request.url.path)

    app.add_exception_handler(AppError, app_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    from sqlalchemy.exc import DBAPIError

    app.add_exception_handler(DBAPIError, database_error)
    app.add_exception_handler(Exception, unhandled)
