"""Every error the status API answers with is one envelope.

``{"error": code, "message": ..., "details": {...}}``, with the HTTP status of
the error's class in :mod:`pipeline.errors`. Four sources are mapped:

- fitsflow errors raised by a handler or the database adapter (their own
  ``code`` and ``http_status``: a database that is down gives 503);
- FastAPI's request validation (400 ``validation_error``, the bad parameters
  listed in ``details.parameters``);
- Starlette's routing errors (404 ``not_found``, 405 ``method_not_allowed``);
- anything else, a defect: logged with its traceback, answered with 500
  ``internal_error`` by :class:`InternalErrorEnvelope`, the one place that
  catches every exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.errors import (
    FitsflowError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    ValidationError,
)

__all__ = [
    "InternalErrorEnvelope",
    "bad_parameter",
    "envelope_response",
    "install_error_handling",
]

log = structlog.get_logger(__name__)

#: Codes for the HTTP errors Starlette raises itself (routing, methods).
HTTP_ERROR_CODES: Mapping[int, str] = {
    400: ValidationError.code,
    404: NotFound.code,
    405: MethodNotAllowed.code,
}


def envelope_response(
    code: str,
    message: str,
    status: int,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error envelope as a JSON response."""
    body = {"error": code, "message": message, "details": dict(details or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_parameter(name: str, message: str, location: str = "query") -> ValidationError:
    """A 400 for one parameter, with the same details as FastAPI's own validation."""
    problem = {"in": location, "name": name, "message": message}
    return ValidationError(
        f"{location} parameter {name!r}: {message}", details={"parameters": [problem]}
    )


async def _fitsflow_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, FitsflowError)
    if error.http_status >= 500:
        # A 503 is an outage an operator must see; a 500 is a defect.
        emit = log.warning if error.transient else log.error
        emit("request failed", path=request.url.path, code=error.code, error=error.message)
    return envelope_response(error.code, error.message, error.http_status, error.details)


def _parameter_problems(errors: Sequence[Any]) -> list[dict[str, str]]:
    problems = []
    for item in errors:
        location = [str(part) for part in item.get("loc", ())]
        where = location[0] if location else "request"
        name = ".".join(location[1:]) or where
        problems.append({"in": where, "name": name, "message": str(item.get("msg", "invalid"))})
    return problems


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = _parameter_problems(error.errors())
    names = ", ".join(sorted({problem["name"] for problem in problems}))
    return envelope_response(
        ValidationError.code,
        f"invalid request parameters: {names}",
        ValidationError.http_status,
        {"parameters": problems},
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    code = HTTP_ERROR_CODES.get(error.status_code, "http_error")
    if error.status_code == 404:
        message = f"no such resource: {request.url.path}"
    elif error.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(error.detail)
    return envelope_response(code, message, error.status_code, headers=error.headers)


class InternalErrorEnvelope:
    """ASGI middleware: an exception no handler took becomes the 500 envelope.

    Starlette's own last-resort handler answers, then re-raises into the
    server, which logs a second traceback without fitsflow's context; this
    middleware sits inside it and ends the story here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception as error:  # the API's outermost boundary (see the class docstring)
            log.exception("unexpected error", method=scope.get("method"), path=scope.get("path"))
            if started:
                raise  # the status line is out: all that is left is to drop the connection
            internal = InternalError(
                f"unexpected {type(error).__name__}; the server log has the details",
                details={"exception": type(error).__name__},
            )
            response = envelope_response(
                internal.code, internal.message, internal.http_status, internal.details
            )
            await response(scope, receive, send)


def install_error_handling(app: FastAPI) -> None:
    """Route every kind of error of ``app`` to the envelope."""
    app.add_exception_handler(FitsflowError, _fitsflow_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_middleware(InternalErrorEnvelope)
