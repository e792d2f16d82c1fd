"""Reading Dramatiq messages as fitsflow records, and making fresh copies of dead ones.

Shared by every broker adapter, so a dead letter, a requeued message and the
"oldest waiting" figure mean the same on Redis, RabbitMQ and memory.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import dramatiq
from dramatiq.errors import DecodeError

from pipeline.queues import (
    ENQUEUED_AT_OPTION,
    REQUEUED_FROM_OPTION,
    DeadLetter,
    from_millis,
)

__all__ = [
    "OLDEST_SAMPLE",
    "dead_letter",
    "decode",
    "fresh_copy",
    "oldest_ready_at",
    "ready_since",
    "unreadable_letter",
]

#: How many messages from the head of a ready queue are read to find the
#: longest-waiting one. Queues are first in, first out, so the head holds it;
#: a message a dead worker held goes back at the tail with its old stamp,
#: which a bounded look at the head can miss.
OLDEST_SAMPLE = 100

#: The ingest actors' names (``workers.runtime.ACTOR_NAME`` and
#: ``BUNDLE_ACTOR_NAME``; not imported to keep the adapters free of the runtime).
_INGEST_ACTOR = "ingest_file"
_BUNDLE_ACTOR = "ingest_files"


def _job_id(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def decode(data: bytes | str | None) -> dramatiq.Message[Any] | None:
    """A stored message, or None for data Dramatiq cannot read."""
    if data is None:
        return None
    try:
        return dramatiq.Message.decode(data.encode() if isinstance(data, str) else data)
    except DecodeError:
        return None


def ready_since(message: dramatiq.Message[Any]) -> datetime | None:
    """When ``message`` entered its current queue.

    fitsflow's middleware stamps every enqueue (a retry moving from its delay
    queue to the ready queue is an enqueue); a message sent without it falls
    back to its creation time, which for a retried message is earlier.
    """
    stamped = from_millis(message.options.get(ENQUEUED_AT_OPTION))
    return stamped or from_millis(message.message_timestamp)


def oldest_ready_at(messages: Iterable[dramatiq.Message[Any] | None]) -> datetime | None:
    """The earliest :func:`ready_since` of ``messages`` (None when there are none)."""
    times = [t for m in messages if m is not None and (t := ready_since(m)) is not None]
    return min(times, default=None)


def dead_letter(
    message: dramatiq.Message[Any], message_id: str, died_at: datetime | None
) -> DeadLetter:
    """``message``, lying dead under ``message_id``, as a :class:`DeadLetter`."""
    job_id: int | None = None
    path: str | None = None
    job_ids: tuple[int, ...] = ()
    args = list(message.args)
    if message.actor_name == _INGEST_ACTOR and args:
        job_id = _job_id(args[0])
        path = args[1] if len(args) > 1 and isinstance(args[1], str) else None
        job_ids = (job_id,) if job_id is not None else ()
    elif message.actor_name == _BUNDLE_ACTOR and args and isinstance(args[0], list):
        # A bundle: one [job_id, path, size, mtime_ns, root] per file.
        found = (_job_id(file[0]) for file in args[0] if isinstance(file, list) and file)
        job_ids = tuple(found_id for found_id in found if found_id is not None)
    retries = message.options.get("retries", 0)
    return DeadLetter(
        message_id=message_id,
        queue=message.queue_name,
        actor=message.actor_name,
        job_id=job_id,
        path=path,
        retries=retries if isinstance(retries, int) else 0,
        created_at=from_millis(message.message_timestamp),
        died_at=died_at,
        job_ids=job_ids,
    )


def unreadable_letter(message_id: str, queue: str, died_at: datetime | None) -> DeadLetter:
    """A dead letter whose data Dramatiq cannot decode: listed so it can be purged."""
    return DeadLetter(message_id, queue, "", None, None, 0, None, died_at)


def fresh_copy(message: dramatiq.Message[Any], queue: str, dead_id: str) -> dramatiq.Message[Any]:
    """A new message for the same work: new id, no retries spent, stamped as sent now.

    Dramatiq's options (retries, eta, the failure's traceback) stay with the
    dead letter; only fitsflow's stamps travel, so Dramatiq's retry budget
    starts afresh, as for any new delivery.
    """
    return dramatiq.Message(
        queue_name=queue,
        actor_name=message.actor_name,
        args=tuple(message.args),
        kwargs=dict(message.kwargs),
        options={
            ENQUEUED_AT_OPTION: int(time.time() * 1000),
            REQUEUED_FROM_OPTION: dead_id,
        },
        message_id=str(uuid.uuid4()),
    )
