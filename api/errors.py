"""One error shape for every failure: ``{"error": {"code": ..., "message": ...}}``.

Clients branch on ``code`` (stable, snake_case) and show ``message`` (human text). No
handler ever puts a traceback or an exception's text from inside the server in a body.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from redis.exceptions import RedisError, ResponseError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.metrics import ApiMetrics
from api.rankings import StoredDataError

log = logging.getLogger(__name__)

#: Codes by HTTP status for errors raised by the framework itself (routing, methods).
_FRAMEWORK_CODES = {404: "not_found", 405: "method_not_allowed"}


class ApiError(Exception):
    """An expected failure with a status, a stable code and a message for the client."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None) -> Response:
    """A JSON error response in the API's one error shape."""
    body = orjson.dumps({"error": {"code": code, "message": message}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def describe_validation_errors(errors: list[dict],
                               parameter_messages: Mapping[str, str] | None = None) -> str:
    """A short message naming each invalid parameter and why, without echoing input.

    A parameter named in ``parameter_messages`` is described by that message, once,
    whatever its value failed (not an integer, too small, too large).
    """
    parameter_messages = parameter_messages or {}
    parts: list[str] = []
    for error in errors:
        loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path")]
        where = ".".join(loc) or "request"
        part = parameter_messages.get(where) or f"{where}: {error.get('msg', 'invalid value')}"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts) or "invalid request"


async def _api_error(_: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


def _validation_error(parameter_messages: Mapping[str, str] | None):
    async def handler(_: Request, exc: RequestValidationError) -> Response:
        return error_response(422, "invalid_parameter",
                              describe_validation_errors(exc.errors(), parameter_messages))
    return handler


async def _http_error(_: Request, exc: StarletteHTTPException) -> Response:
    code = _FRAMEWORK_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request failed"
    return error_response(exc.status_code, code, message, getattr(exc, "headers", None))


def redis_unavailable(metrics: ApiMetrics | None, exc: Exception) -> Response:
    """The 503 for a failed Redis call, counted in ``trend_api_redis_errors_total``."""
    if metrics is not None:
        metrics.redis_errors.labels(kind=type(exc).__name__).inc()
    log.warning("redis unavailable: %s", type(exc).__name__)
    return error_response(503, "redis_unavailable", "the ranking store is unavailable; retry",
                          headers={"Retry-After": "1"})


def unreadable_data(exc: Exception) -> StoredDataError | None:
    """The stored-data problem an error means, logged (never echoed): a value the job would
    never write, or a key of another type (``WRONGTYPE``: the data, not the server). None
    for anything else, an outage above all."""
    if is_wrong_type(exc):
        exc = StoredDataError("a key holds another type than the job writes")
    if not isinstance(exc, StoredDataError):
        return None
    log.warning("unreadable data in Redis: %s", exc)
    return exc


def corrupt_data(exc: Exception) -> Response:
    """The 503 for data in Redis the API cannot serve: a :class:`StoredDataError` or a
    ``WRONGTYPE`` answer (see :func:`unreadable_data`)."""
    unreadable_data(exc)
    return error_response(503, "corrupt_data",
                          "the stored rankings could not be read; retry later",
                          headers={"Retry-After": "5"})


async def _stored_data_error(_: Request, exc: StoredDataError) -> Response:
    return corrupt_data(exc)


def is_wrong_type(exc: Exception) -> bool:
    """Redis refused the command because the key holds another type (a list where the job
    writes a string, ...): that is the data, not the server."""
    return isinstance(exc, ResponseError) and str(exc).startswith("WRONGTYPE")


async def _redis_error(request: Request, exc: Exception) -> Response:
    if is_wrong_type(exc):
        return corrupt_data(exc)
    return redis_unavailable(getattr(request.app.state, "metrics", None), exc)


async def _unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal error")


def install_common_error_handlers(app: FastAPI,
                                  parameter_messages: Mapping[str, str] | None = None) -> None:
    """The handlers every app of the project shares: ``ApiError``, invalid parameters,
    the framework's own errors (404, 405) and anything unexpected (a 500 without details).

    ``parameter_messages`` gives, by parameter name, one fixed message for any invalid
    value of that parameter (see :func:`describe_validation_errors`).
    """
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error(parameter_messages))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def install_error_handlers(app: FastAPI,
                           parameter_messages: Mapping[str, str] | None = None) -> None:
    """Route every failure, expected or not, to a JSON body in the one error shape."""
    install_common_error_handlers(app, parameter_messages)
    # A Redis outage is a 503 to retry, whether it surfaces as a Redis error or as a
    # socket error or timeout (TimeoutError is an OSError).
    for exc_type in (RedisError, OSError):
        app.add_exception_handler(exc_type, _redis_error)
    # Garbage in Redis (by hand, or from a bug) is a 503 too: the job's next window
    # replaces a ranking; the API never passes a bad value on or fails with a 500.
    app.add_exception_handler(StoredDataError, _stored_data_error)
