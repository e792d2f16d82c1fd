"""Reaching the local services the suite needs, honestly.

A test that needs a service fails in CI (``CI`` set) when the service is
missing, and is skipped with a visible reason elsewhere.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_ADMIN_URL = os.environ.get(
    "FITSFLOW_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("FITSFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("FITSFLOW_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")


def service_missing(name: str, reason: str) -> None:
    """Fail in CI, skip elsewhere: never a silent pass."""
    message = f"{name} is not reachable: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI requires every service)")
    pytest.skip(message)
