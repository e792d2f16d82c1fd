"""What fitsflow can see of, and do to, a broker's queues — in broker-neutral records.

The broker adapters under ``workers/brokers/`` answer in these records for
Redis, RabbitMQ and the in-process broker alike; the status API and the
``fitsflow queues`` / ``fitsflow dlq`` commands build their documents from
them. Where a broker cannot know a figure, the figure is None and
:attr:`QueueFigures.unknown` says why, in a sentence an operator can act on.

Message options fitsflow adds to the Dramatiq messages it sends are named
here, because both sides (the middleware that writes them, the adapters that
read them) need the same names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = [
    "DEAD_AT_OPTION",
    "ENQUEUED_AT_OPTION",
    "REQUEUED_FROM_OPTION",
    "BrokerControl",
    "DeadLetter",
    "QueueFigures",
    "from_millis",
]

#: Milliseconds since the epoch when the message entered the queue it is on
#: (set again each time a delayed retry moves to its ready queue).
ENQUEUED_AT_OPTION = "fitsflow_enqueued_at"
#: Milliseconds since the epoch when a worker dead-lettered the message. Only
#: the in-process broker keeps it (it keeps the very message object); Redis and
#: RabbitMQ record the time of death themselves.
DEAD_AT_OPTION = "fitsflow_dead_at"
#: The id of the dead letter a requeued message was made from.
REQUEUED_FROM_OPTION = "fitsflow_requeued_from"


def from_millis(millis: object) -> datetime | None:
    """A Dramatiq millisecond timestamp as aware UTC; None for anything else."""
    if isinstance(millis, bool) or not isinstance(millis, (int, float)):
        return None
    return datetime.fromtimestamp(millis / 1000, UTC)


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """One queue's messages by condition; None where the broker cannot know.

    ``delayed`` counts retries (and delayed sends) waiting for their time,
    including those a worker has fetched to hold until then; ``in_flight``
    counts messages delivered to a worker and not yet acknowledged.
    """

    name: str
    ready: int | None
    delayed: int | None
    in_flight: int | None
    dead: int | None
    #: When the longest-waiting ready message became ready (None: no message
    #: waits, or the broker cannot tell; ``unknown`` says which).
    oldest_ready_at: datetime | None = None
    #: Figure name -> why it is None (or only approximate).
    unknown: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message the broker gave up on, as it lies in the dead-letter queue."""

    #: The id to requeue or purge it by (Redis: its delivery id; else the message id).
    message_id: str
    queue: str
    actor: str
    #: The ingest job it was for (the actor's first argument), when it is one.
    job_id: int | None
    path: str | None
    #: Retries Dramatiq had made before giving up.
    retries: int
    created_at: datetime | None
    #: When it was dead-lettered, where the broker keeps that.
    died_at: datetime | None
    #: Every ingest job it carries: ``job_id``'s alone, or each file of a
    #: bundle (actor ``ingest_files``, whose ``job_id`` and ``path`` are None).
    job_ids: tuple[int, ...] = ()


@runtime_checkable
class BrokerControl(Protocol):
    """The operator's hands on a broker: queue figures and the dead-letter queue.

    Implemented over the broker adapters by :class:`workers.probe.AdapterProbe`.
    Every method raises :class:`~pipeline.errors.BrokerUnavailable` when the
    broker cannot be reached.
    """

    @property
    def kind(self) -> str:
        """``redis``, ``rabbitmq`` or ``memory``."""
        ...

    async def queue_figures(self) -> list[QueueFigures]:
        """Figures of each queue fitsflow uses."""
        ...

    async def dead_letters(self, offset: int, limit: int) -> list[DeadLetter]:
        """Dead letters in the order they died, skipping ``offset``, at most ``limit``."""
        ...

    async def find_dead_letters(self, message_ids: Sequence[str] | None) -> list[DeadLetter]:
        """The dead letters with these ids that exist (None: every dead letter)."""
        ...

    async def requeue_dead_letters(self, message_ids: Sequence[str]) -> dict[str, str]:
        """Send each as a fresh message to its ready queue and drop the dead copy.

        Returns ``{dead letter id: delivery id of the new message}`` for those
        found; a dead letter is never lost (at worst, sent and still dead).
        """
        ...

    async def purge_dead_letters(self, message_ids: Sequence[str]) -> list[str]:
        """Delete these dead letters; returns the ids that were there."""
        ...
