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
"""

from __future__ import annotations

import enum
import os

__all__ = ["LOWEST_NICE", "CpuPriority", "lower_priority"]


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
