"""``worker.priority = idle`` and the database pool: one connection where the
PostgreSQL server shares the host (its backends do not inherit the policy)."""

from __future__ import annotations

import pytest

from pipeline.priority import CpuPriority, database_at, server_is_local
from pipeline.settings import DatabaseSettings


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("postgresql://postgres@127.0.0.1:5432/fitsflow", True),
        ("postgresql://postgres@127.0.0.53/fitsflow", True),  # all of 127/8 is loopback
        ("postgres://ingest:secret@localhost/fitsflow", True),
        ("postgresql://LocalHost/fitsflow", True),
        ("postgresql://[::1]:5432/fitsflow", True),
        ("postgresql:///fitsflow", True),  # no host: the default Unix socket
        ("postgresql:///fitsflow?host=/var/run/postgresql", True),
        ("postgresql://localhost,127.0.0.2/fitsflow", True),
        ("postgresql://db.example.org/fitsflow", False),
        ("postgresql://10.1.2.3:5432/fitsflow", False),
        ("postgresql://[2001:db8::5]/fitsflow", False),
        ("postgresql://localhost,db.example.org/fitsflow", False),  # may fail over off the host
        ("postgresql:///fitsflow?host=db.example.org", False),
        ("sqlite:///fitsflow.db", False),  # no server at all
    ],
)
def test_a_server_is_local_when_reached_over_loopback_or_a_unix_socket(
    url: str, local: bool
) -> None:
    assert server_is_local(url) is local


def test_idle_holds_a_local_postgresql_to_one_connection() -> None:
    database = DatabaseSettings(url="postgresql://127.0.0.1/fitsflow", pool_min_size=2)
    held = database_at(CpuPriority.IDLE, database)
    assert (held.pool_min_size, held.pool_max_size) == (1, 1)
    assert held.model_copy(update={"pool_min_size": 2, "pool_max_size": 10}) == database


def test_idle_keeps_a_pool_that_opens_nothing_until_asked() -> None:
    database = DatabaseSettings(url="postgresql:///fitsflow", pool_min_size=0)
    held = database_at(CpuPriority.IDLE, database)
    assert (held.pool_min_size, held.pool_max_size) == (0, 1)


@pytest.mark.parametrize(
    ("priority", "url"),
    [
        (CpuPriority.NORMAL, "postgresql://127.0.0.1/fitsflow"),
        (CpuPriority.IDLE, "postgresql://db.example.org/fitsflow"),  # another host's CPU
        (CpuPriority.IDLE, "sqlite:///fitsflow.db"),  # the process's own threads
    ],
)
def test_otherwise_the_pool_is_as_configured(priority: CpuPriority, url: str) -> None:
    database = DatabaseSettings(url=url)
    assert database_at(priority, database) is database
