"""The cyclic garbage collector, tuned for a process that ingests files.

CPython starts a young-generation collection every 700 container
allocations. A worker shaping rows allocates tens of thousands of lists,
dicts and records per second while holding many long-lived objects (the
imported modules, thousands of queued messages in the embedded process),
and each collection walks the young objects anew; measured on this machine
in the embedded process (`fitsflow run`, 5,000 single images), the default
thresholds cost about a fifth of its throughput. Nearly everything the
pipeline allocates is freed by reference counting: the collector only has
to find rare cycles, so it can run less often.

``gc.freeze()`` moves what exists at start-up (modules, settings, the
broker) out of the collector's sight, so full collections do not walk it.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_collector"]

#: Allocations between young collections (CPython's default is 700).
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect less often; keep what exists now out of full collections.

    Called once by each long-running process (``fitsflow run``, ``watch``,
    the worker processes) after its start-up imports.
    """
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    gc.freeze()
