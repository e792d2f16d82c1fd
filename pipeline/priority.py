"""Ingest at idle CPU priority, so a backfill leaves the machine to everything else.

On a host that also serves the status endpoint (or PostgreSQL), a bulk
ingest takes every core it can get and the endpoint's answers queue behind
it: measured on 2 cores with ``fitsflow ingest`` beside ``fitsflow api``,
p95 1.8 s at normal priority against 65 ms under Linux's ``SCHED_IDLE``
(``docs/benchmarks.md``, status endpoint). ``SCHED_IDLE`` runs a process only
when no other wants the CPU, needs no privilege, and is inherited by the
threads and processes it starts later — which is why it is applied first
thing, before the reader processes or Dramatiq's worker processes exist.
Where the policy does not exist (not Linux), the process takes the lowest
``nice`` instead.

The policy does not reach the PostgreSQL backends that run the process's
statements; :func:`database_at` holds those to one at a time when the server
shares the host.
"""

from __future__ import annotations

import enum
import ipaddress
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from pipeline.settings import DatabaseSettings

__all__ = ["LOWEST_NICE", "CpuPriority", "database_at", "lower_priority", "server_is_local"]


class CpuPriority(enum.StrEnum):
    """``worker.priority``: as started, or only when nothing else wants the CPU."""

    NORMAL = "normal"
    IDLE = "idle"


#: The highest niceness (lowest priority) Unix gives.
LOWEST_NICE = 19


def lower_priority(priority: CpuPriority) -> None:
    """Run this process (and what it starts from now on) at ``priority``.

    Only lowers: a process cannot raise its priority back without privilege,
    so ``normal`` leaves it as it is.
    """
    if priority is CpuPriority.NORMAL:
        return
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(LOWEST_NICE - os.nice(0))


def database_at(priority: CpuPriority, database: DatabaseSettings) -> DatabaseSettings:
    """``database`` as a process running at ``priority`` should use it.

    ``SCHED_IDLE`` reaches this process's threads and children but not the
    PostgreSQL backends that run its statements: they work at the server's
    own priority, one per connection in use, and on a host that also serves
    the status endpoint a backfill's ten connections take the cores the
    endpoint's backend needs. So where the server shares this host,
    ``idle`` also holds the process to one connection — its database work
    then takes at most one core at a time (measured in docs/benchmarks.md,
    "Status endpoint"). SQLite runs in the process's own threads, which
    already run at its priority, and a server on another host spends that
    host's CPU: both are left as configured.
    """
    if priority is CpuPriority.NORMAL or not server_is_local(database.url):
        return database
    pool = {"pool_max_size": 1, "pool_min_size": min(database.pool_min_size, 1)}
    return database.model_copy(update=pool)


def server_is_local(url: str) -> bool:
    """Whether ``url`` is a PostgreSQL server on this host.

    A loopback address, ``localhost``, or a Unix socket (no host, or a
    directory as the host, in the URL or its ``host=`` parameter).
    """
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return False
    # As asyncpg reads it: the URL's host, else its ``host=`` parameter.
    host = parts.hostname or parse_qs(parts.query).get("host", [""])[0]
    return all(_local_host(name) for name in host.split(","))


def _local_host(host: str) -> bool:
    if not host or host.startswith("/") or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
