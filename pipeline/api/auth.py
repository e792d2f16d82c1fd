"""Who may do what: a bearer token from the settings guards the API.

Mutating endpoints (retry, requeue, purge) depend on :func:`require_operator`:
403 ``forbidden`` when no token is configured (the actions are disabled) or
the request's token is missing or wrong. Read endpoints depend on
:func:`require_reader`, which asks for the same token only when
``api.protect_reads`` is set. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pipeline.errors import Forbidden

__all__ = ["Operator", "Reader", "publish_security", "require_operator", "require_reader"]

_bearer = HTTPBearer(auto_error=False, description="The api.token setting.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def _token(request: Request) -> str | None:
    token: str | None = request.app.state.status.settings.api.token
    return token


def _check(expected: str, credentials: HTTPAuthorizationCredentials | None) -> None:
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden(
            "a valid bearer token is required (Authorization: Bearer <api.token>)",
            details={"reason": "missing_token" if not given else "wrong_token"},
        )


async def require_operator(request: Request, credentials: Credentials) -> None:
    """Guard for endpoints that change state."""
    expected = _token(request)
    if expected is None:
        raise Forbidden(
            "this action is disabled: set api.token (FITSFLOW_API_TOKEN) to enable "
            "retry, requeue and purge",
            details={"reason": "disabled", "settings": ["api.token"]},
        )
    _check(expected, credentials)


async def require_reader(request: Request, credentials: Credentials) -> None:
    """Guard for read endpoints: open unless ``api.protect_reads`` is set."""
    settings = request.app.state.status.settings.api
    if settings.protect_reads and settings.token is not None:
        _check(settings.token, credentials)


#: ``dependencies=[Operator]`` on a route (or router) that changes state.
Operator = Depends(require_operator)
#: ``dependencies=[Reader]`` on a read route (or router).
Reader = Depends(require_reader)


def publish_security(app: FastAPI, protect_reads: bool) -> None:
    """Make the OpenAPI schema say what this app asks for: the bearer token on
    reads only when ``protect_reads`` is set (a client, or schemathesis, should
    not be told that an open endpoint needs credentials)."""
    if protect_reads:
        return
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for operations in schema.get("paths", {}).values():
            operations.get("get", {}).pop("security", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
