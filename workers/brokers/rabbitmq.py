"""RabbitMQ (dramatiq's RabbitmqBroker, publisher confirms on).

What AMQP 0-9-1 alone can answer, and therefore what fitsflow answers (the
management HTTP API would say more, but it is a plugin fitsflow does not
assume):

- **ready** — exact: ``queue.declare`` (passive) reports the messages ready.
- **in flight** — unknown while a consumer is attached: AMQP reports no count
  of delivered-but-unacknowledged messages. With no consumer attached,
  nothing can be in flight (0).
- **delayed** — Dramatiq workers fetch the ``.DQ`` queue's messages and hold
  them unacknowledged until their time, so the queue's ready count misses
  them: exact only while no consumer is attached to ``.DQ``, unknown otherwise.
- **dead** — exact: nothing consumes ``.XQ``.
- **oldest wait** — the head of the ready queue is fetched and at once
  rejected back (``basic.nack``, requeue), read from fitsflow's enqueue stamp.
  A classic queue puts a requeued message back at its original position, the
  head, and the connection dropping in between requeues it too: nothing is
  lost or reordered. A quorum queue would count the peek against its delivery
  limit (and RabbitMQ 4 requeues at the tail), so fitsflow first checks that
  the queue is classic (an equivalent re-declaration with
  ``x-queue-type: classic`` succeeds only then) and otherwise says unknown.

Dead letters are browsed the same way (fetched, then all rejected back in
order) on a classic ``.XQ`` only. A requeue publishes the fresh message with a
publisher confirm before it acknowledges the dead copy: a failure in between
leaves a duplicate in the dead-letter queue, never a loss.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import DEAD_MESSAGE_TTL, RabbitmqBroker
from dramatiq.common import dq_name, xq_name
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Middleware

from pipeline.errors import BrokerUnavailable
from pipeline.queues import DeadLetter, QueueFigures
from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth
from workers.brokers.letters import dead_letter, decode, fresh_copy, ready_since, unreadable_letter
from workers.brokers.redis import _safe

__all__ = ["RabbitmqAdapter"]

NOT_FOUND = 404
PRECONDITION_FAILED = 406
_HELD_BY_CONSUMER = (
    "AMQP reports no count of delivered, unacknowledged messages while a consumer "
    "is attached (RabbitMQ's management API would; fitsflow does not assume it)"
)
_DELAY_HELD = (
    "Dramatiq workers hold delayed messages unacknowledged until their time, and AMQP "
    "does not count those; {waiting} wait unfetched in {queue}"
)
_NOT_CLASSIC = (
    "{queue} is not a classic queue as Dramatiq declares it: peeking (get, then reject "
    "back) could reorder it or count against a quorum queue's delivery limit"
)

#: A walker's verdict on one dead letter: keep it (rejected back at the end) or ack it.
Visit = Callable[[DeadLetter, bytes, Any], bool]


class RabbitmqAdapter(BrokerAdapter):
    """Durable queues; a dead consumer's unacked messages are redelivered by RabbitMQ."""

    kind = "rabbitmq"

    def __init__(self, url: str) -> None:
        self.url = url

    def build(self, settings: BrokerSettings, middleware: list[Middleware]) -> dramatiq.Broker:
        # Publisher confirms: a send returns only once RabbitMQ has the message,
        # so a committed job's message cannot vanish in the client's buffers.
        return RabbitmqBroker(url=self.url, middleware=middleware, confirm_delivery=True)

    def translate(self, error: BaseException) -> BaseException | None:
        if isinstance(error, (pika.exceptions.AMQPError, BrokerConnectionError, OSError)):
            return BrokerUnavailable(f"RabbitMQ at {_safe(self.url)} is unavailable: {error!r}")
        return None

    def message_exists(self, broker: dramatiq.Broker, queue: str, message_id: str) -> bool | None:
        return None  # AMQP cannot look a message up; RabbitMQ keeps durable ones itself.

    def depth(self, broker: dramatiq.Broker, queue: str) -> QueueDepth:
        counts = {}
        try:
            with pika.BlockingConnection(pika.URLParameters(self.url)) as connection:
                channel = connection.channel()
                for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                    declared = channel.queue_declare(name, passive=True, durable=True)
                    counts[name] = declared.method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return QueueDepth(0, 0, None, 0)  # not declared yet: nothing was ever sent
        except (pika.exceptions.AMQPError, OSError) as error:
            raise BrokerUnavailable(f"RabbitMQ at {_safe(self.url)}: {error!r}") from error
        return QueueDepth(counts[queue], counts[f"{queue}.DQ"], None, counts[f"{queue}.XQ"])

    def ping(self, broker: dramatiq.Broker) -> None:
        try:
            with pika.BlockingConnection(pika.URLParameters(self.url)):
                pass
        except (pika.exceptions.AMQPError, OSError) as error:
            raise BrokerUnavailable(f"RabbitMQ at {_safe(self.url)}: {error!r}") from error

    # --- figures ------------------------------------------------------------------

    @contextlib.contextmanager
    def _connection(self) -> Iterator[pika.BlockingConnection]:
        """A connection for one question; AMQP and socket errors become BrokerUnavailable."""
        try:
            with pika.BlockingConnection(pika.URLParameters(self.url)) as connection:
                yield connection
        except (pika.exceptions.AMQPError, OSError) as error:
            raise BrokerUnavailable(f"RabbitMQ at {_safe(self.url)}: {error!r}") from error

    def figures(self, broker: dramatiq.Broker, queue: str) -> QueueFigures:
        with self._connection() as connection:
            ready = _declared(connection, queue)
            delay = _declared(connection, dq_name(queue))
            dead = _declared(connection, xq_name(queue))
            if ready is None or delay is None or dead is None:
                return QueueFigures(queue, 0, 0, 0, 0)  # not declared: nothing was ever sent
            unknown: dict[str, str] = {}
            in_flight: int | None = 0
            if ready[1]:
                in_flight, unknown["in_flight"] = None, _HELD_BY_CONSUMER
            delayed: int | None = delay[0]
            if delay[1]:
                text = _DELAY_HELD.format(waiting=delay[0], queue=dq_name(queue))
                delayed, unknown["delayed"] = None, text
            oldest = None
            if ready[0]:
                oldest = self._peek_oldest(connection, queue, unknown)
        return QueueFigures(queue, ready[0], delayed, in_flight, dead[0], oldest, unknown)

    def _peek_oldest(
        self, connection: pika.BlockingConnection, queue: str, unknown: dict[str, str]
    ) -> datetime | None:
        if not _is_classic(connection, queue, _ready_arguments(queue)):
            unknown["oldest_ready_at"] = _NOT_CLASSIC.format(queue=queue)
            return None
        channel = connection.channel()
        method, _, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return None  # taken by a worker since the count: nothing left to time
        channel.basic_nack(method.delivery_tag, requeue=True)
        message = decode(body)
        return ready_since(message) if message is not None else None

    # --- dead letters ---------------------------------------------------------------

    def _walk_dead(self, queue: str, visit: Visit, most: int | None = None) -> None:
        """Fetch the dead letters of ``queue`` once each (at most ``most``); reject
        back all that ``visit`` keeps, in their order.

        Bounded by the count at the start, so letters that die meanwhile (or a
        requeued one dying again) cannot keep the walk going.
        """
        dead_queue = xq_name(queue)
        with self._connection() as connection:
            state = _declared(connection, dead_queue)
            if state is None or not state[0]:
                return
            if not _is_classic(connection, dead_queue, {"x-message-ttl": DEAD_MESSAGE_TTL}):
                raise BrokerUnavailable(_NOT_CLASSIC.format(queue=dead_queue))
            channel = connection.channel()
            channel.confirm_delivery()  # for the fresh copies a requeue publishes
            try:
                for _ in range(min(state[0], most if most is not None else state[0])):
                    method, properties, body = channel.basic_get(dead_queue, auto_ack=False)
                    if method is None:
                        break
                    if visit(_letter(queue, properties, body), body, channel):
                        channel.basic_ack(method.delivery_tag)
            finally:
                if channel.is_open:  # closing would requeue them too; this says so
                    channel.basic_nack(0, multiple=True, requeue=True)

    def _browse(self, queue: str, most: int | None = None) -> list[DeadLetter]:
        seen: list[DeadLetter] = []

        def keep(letter: DeadLetter, body: bytes, channel: Any) -> bool:
            seen.append(letter)
            return False

        self._walk_dead(queue, keep, most)
        return seen

    def dead_letters(
        self, broker: dramatiq.Broker, queue: str, offset: int, limit: int
    ) -> list[DeadLetter]:
        return self._browse(queue, most=offset + limit)[offset:]

    def find_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str] | None
    ) -> list[DeadLetter]:
        found = self._browse(queue)
        if message_ids is None:
            return found
        wanted = set(message_ids)
        return [letter for letter in found if letter.message_id in wanted]

    def requeue_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> dict[str, str]:
        wanted, moved = set(message_ids), {}

        def requeue(letter: DeadLetter, body: bytes, channel: Any) -> bool:
            message = decode(body)
            if letter.message_id not in wanted or letter.message_id in moved or message is None:
                return False
            fresh = fresh_copy(message, queue, letter.message_id)
            properties = pika.BasicProperties(delivery_mode=2)
            # Confirmed (and routed: mandatory) before the dead copy is acknowledged.
            channel.basic_publish("", queue, fresh.encode(), properties, mandatory=True)
            moved[letter.message_id] = str(fresh.message_id)
            return True

        self._walk_dead(queue, requeue)
        return moved

    def purge_dead_letters(
        self, broker: dramatiq.Broker, queue: str, message_ids: Sequence[str]
    ) -> list[str]:
        wanted, purged = set(message_ids), []

        def purge(letter: DeadLetter, body: bytes, channel: Any) -> bool:
            if letter.message_id in wanted:
                purged.append(letter.message_id)
                return True
            return False

        self._walk_dead(queue, purge)
        return purged


def _declared(connection: pika.BlockingConnection, name: str) -> tuple[int, int] | None:
    """``(messages ready, consumers)`` of queue ``name``; None when it does not exist."""
    channel = connection.channel()
    try:
        declared = channel.queue_declare(name, passive=True)
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == NOT_FOUND:
            return None
        raise
    channel.close()
    return int(declared.method.message_count), int(declared.method.consumer_count)


def _ready_arguments(queue: str) -> dict[str, Any]:
    """The arguments Dramatiq declares a ready (or delay) queue with (no priorities)."""
    return {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": xq_name(queue)}


def _is_classic(connection: pika.BlockingConnection, name: str, arguments: dict[str, Any]) -> bool:
    """Whether the existing queue ``name`` is a classic queue with exactly ``arguments``.

    Re-declaring an existing queue with equivalent arguments changes nothing;
    any difference (a quorum or stream queue, other arguments) is refused
    with PRECONDITION_FAILED, which only closes this channel.
    """
    channel = connection.channel()
    try:
        channel.queue_declare(
            name, durable=True, arguments={**arguments, "x-queue-type": "classic"}
        )
    except pika.exceptions.ChannelClosedByBroker as error:
        if error.reply_code == PRECONDITION_FAILED:
            return False
        raise
    channel.close()
    return True


def _letter(queue: str, properties: pika.BasicProperties, body: bytes) -> DeadLetter:
    deaths = (properties.headers or {}).get("x-death") or [{}]
    died_at = deaths[0].get("time")  # the latest death comes first
    died_at = died_at if isinstance(died_at, datetime) else None
    message = decode(body)
    if message is None:
        # Without a readable body there is no id to address it by but its position.
        digest = hashlib.sha256(body).hexdigest()[:16]
        return unreadable_letter(f"unreadable-{digest}", queue, died_at)
    return dead_letter(message, str(message.message_id), died_at)
