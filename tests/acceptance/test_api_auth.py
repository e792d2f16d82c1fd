"""Who may call what on the status API: the token rules of :mod:`pipeline.api.auth`.

- No token configured: every read is open; every mutating route answers 403
  ``forbidden`` with the reason ``disabled`` and the setting to set.
- A token configured: mutating routes need it (missing or wrong: 403).
- ``api.protect_reads``: every read route needs it too — except ``/health``.
- Tokens are compared with :func:`hmac.compare_digest` (constant time).

Routes are enumerated from the app, so endpoints added later are held to the
same rules. The mutating side is also checked on a route this test adds to
its own app, so the rules are exercised whatever the product offers today.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from pipeline.api import auth as auth_module
from pipeline.api import create_app
from pipeline.api.auth import Operator
from pipeline.db import Database
from pipeline.settings import Settings
from tests.acceptance.conftest import FixedBrokerProbe, asgi_client
from tests.support.databases import ONLY_SQLITE

pytestmark = ONLY_SQLITE  # the rules do not depend on the database

TOKEN = "s3cret-token-for-tests-0123456789"
WRONG = TOKEN[:-1] + "X"  # same length, last character differs
MUTATING = {"POST", "PUT", "PATCH", "DELETE"}
TEST_ONLY_PATH = "/test-only/poke"


def _settings(token: str | None = None, protect_reads: bool = False) -> Settings:
    return Settings.model_validate({"api": {"token": token, "protect_reads": protect_reads}})


def _app(database: Database, settings: Settings) -> FastAPI:
    """The product's app plus one test-only mutating route guarded by ``Operator``."""
    app = create_app(database, FixedBrokerProbe(), settings=settings)

    async def poke() -> dict[str, bool]:
        return {"poked": True}

    app.add_api_route(TEST_ONLY_PATH, poke, methods=["POST"], dependencies=[Operator])
    return app


def _url(path: str, operation: dict[str, Any]) -> str:
    """A request URL: path parameters 1, required query parameters filled."""
    required = [
        p["name"] for p in operation.get("parameters", []) if p["in"] == "query" and p["required"]
    ]
    query = "&".join(f"{name}={'/nowhere.fits' if name == 'path' else 1}" for name in required)
    path = re.sub(r"\{[^}]+\}", "1", path)
    return f"{path}?{query}" if query else path


def _routes(app: FastAPI, methods: set[str]) -> list[tuple[str, str]]:
    """(method, url) of every published operation in ``methods``; the published
    schema is the list of routes (plus /metrics, which is text, not in it)."""
    found = [("GET", "/metrics")] if "GET" in methods else []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            if method.upper() in methods:
                found.append((method.upper(), _url(path, operation)))
    return found


def read_routes(app: FastAPI) -> list[tuple[str, str]]:
    """Every GET route but /health."""
    return [(m, url) for m, url in _routes(app, {"GET"}) if url != "/health"]


def mutating_routes(app: FastAPI) -> list[tuple[str, str]]:
    return _routes(app, MUTATING)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_forbidden(response: httpx.Response, reason: str) -> dict[str, Any]:
    assert response.status_code == 403, (response.request.url, response.text)
    body: dict[str, Any] = response.json()
    assert body["error"] == "forbidden", body
    assert body["details"]["reason"] == reason, body
    return body


@pytest.fixture
def make_client(database: Database) -> Callable[[Settings], Any]:
    """``async with make_client(settings) as (app, http)``."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = _app(database, settings)
        async with asgi_client(app) as http:
            yield app, http

    return make


async def test_routes_are_enumerated(make_client: Callable[[Settings], Any]) -> None:
    async with make_client(_settings()) as (app, _):
        reads = {url.split("?")[0] for _, url in read_routes(app)}
        assert {"/summary", "/jobs", "/jobs/1", "/files", "/metrics"} <= reads
        assert ("POST", TEST_ONLY_PATH) in mutating_routes(app)


@pytest.mark.parametrize("protect_reads", [False, True])
async def test_the_schema_says_which_operations_ask_for_the_token(
    make_client: Callable[[Settings], Any], protect_reads: bool
) -> None:
    # What a client (or schemathesis) is told: reads ask for the bearer token
    # exactly when it is required of them; actions always do.
    async with make_client(_settings(TOKEN, protect_reads=protect_reads)) as (app, _):
        paths = app.openapi()["paths"]
        for path, operations in paths.items():
            for method, operation in operations.items():
                asks = {"HTTPBearer": []} in operation.get("security", [])
                if method.upper() in MUTATING:
                    assert asks, (method, path)
                elif path != "/health":
                    assert asks is protect_reads, (method, path)
        assert "security" not in paths["/health"]["get"]


async def test_no_token_reads_open_and_actions_disabled(
    make_client: Callable[[Settings], Any],
) -> None:
    async with make_client(_settings()) as (app, http):
        for method, url in read_routes(app):
            response = await http.request(method, url)
            assert response.status_code != 403, (url, response.text)
        assert (await http.get("/summary")).status_code == 200
        for method, url in mutating_routes(app):
            # Even with a token in the request: nothing can enable a disabled action.
            for headers in ({}, bearer(TOKEN)):
                response = await http.request(method, url, headers=headers)
                body = assert_forbidden(response, "disabled")
                assert "api.token" in body["message"] and "disabled" in body["message"]
                assert body["details"]["settings"] == ["api.token"]


async def test_token_guards_actions_but_not_reads(make_client: Callable[[Settings], Any]) -> None:
    async with make_client(_settings(TOKEN)) as (app, http):
        for method, url in read_routes(app):
            assert (await http.request(method, url)).status_code != 403, url
        for method, url in mutating_routes(app):
            assert_forbidden(await http.request(method, url), "missing_token")
            assert_forbidden(await http.request(method, url, headers=bearer(WRONG)), "wrong_token")
        answer = await http.post(TEST_ONLY_PATH, headers=bearer(TOKEN))
        assert answer.status_code == 200 and answer.json() == {"poked": True}


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing_token"),
        (bearer(WRONG), "wrong_token"),
        (bearer(TOKEN[:-1]), "wrong_token"),  # a prefix
        (bearer(TOKEN + "0"), "wrong_token"),  # longer
        ({"Authorization": f"Bearer ä{TOKEN[1:]}".encode()}, "wrong_token"),  # not ASCII
        ({"Authorization": f"Basic {TOKEN}"}, "missing_token"),  # not a bearer token
        ({"Authorization": TOKEN}, "missing_token"),  # no scheme
    ],
)
async def test_protected_reads_refuse_without_the_right_token(
    make_client: Callable[[Settings], Any], headers: dict[str, str | bytes], reason: str
) -> None:
    async with make_client(_settings(TOKEN, protect_reads=True)) as (app, http):
        for method, url in read_routes(app):
            assert_forbidden(await http.request(method, url, headers=headers), reason)


async def test_protected_reads_answer_the_right_token_and_health_stays_open(
    make_client: Callable[[Settings], Any],
) -> None:
    async with make_client(_settings(TOKEN, protect_reads=True)) as (app, http):
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/openapi.json")).status_code == 200
        for method, url in read_routes(app):
            response = await http.request(method, url, headers=bearer(TOKEN))
            assert response.status_code != 403, (url, response.text)
        assert (await http.get("/summary", headers=bearer(TOKEN))).status_code == 200
        metrics = await http.get("/metrics", headers=bearer(TOKEN))
        assert metrics.status_code == 200 and "fitsflow_" in metrics.text
        lowercase = {"Authorization": f"bearer {TOKEN}"}  # the scheme is case-insensitive
        assert (await http.get("/summary", headers=lowercase)).status_code == 200
        answer = await http.post(TEST_ONLY_PATH, headers=bearer(TOKEN))
        assert answer.status_code == 200


async def test_tokens_are_compared_in_constant_time(
    make_client: Callable[[Settings], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every comparison goes through hmac.compare_digest, whose time does not
    depend on where the strings differ (timing is not measured: see DESIGN)."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        calls.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(auth_module.hmac, "compare_digest", spy)
    async with make_client(_settings(TOKEN, protect_reads=True)) as (_, http):
        assert (await http.get("/summary", headers=bearer(WRONG))).status_code == 403
        assert (await http.get("/summary", headers=bearer(TOKEN))).status_code == 200
        assert (await http.get("/summary")).status_code == 403
        assert (await http.post(TEST_ONLY_PATH, headers=bearer(TOKEN))).status_code == 200
    expected = TOKEN.encode()
    assert calls[:3] == [(WRONG.encode(), expected), (expected, expected), (b"", expected)]
    assert calls[3:] == [(expected, expected)]  # the operator's guard
