"""RabbitMQ (dramatiq's RabbitmqBroker, publisher confirms on)."""

from __future__ import annotations

import dramatiq
import pika
import pika.exceptions
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from dramatiq.errors import BrokerConnectionError
from dramatiq.middleware import Middleware

from pipeline.errors import BrokerUnavailable
from pipeline.settings import BrokerSettings
from workers.brokers.base import BrokerAdapter, QueueDepth
from workers.brokers.redis import _safe

__all__ = ["RabbitmqAdapter"]


class RabbitmqAdapter(BrokerAdapter):
    """Durable queues; a dead consumer's unacked messages are redelivered by RabbitMQ."""

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
