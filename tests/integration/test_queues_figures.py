"""Queue figures against brokers in a known state: every figure checked, on the
in-process broker, a real Redis and a real RabbitMQ — and, where a broker
cannot know a figure, None with the reason, never a guess."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import dramatiq
import pika
import pytest

from pipeline.queues import ENQUEUED_AT_OPTION
from tests.integration.test_queues_support import (
    BrokerUnderTest,
    any_broker,
    known_state,
    redis_server,
    require_rabbitmq,
    wait_for,
)
from tests.support.services import RABBITMQ_URL
from workers.brokers.letters import ready_since
from workers.brokers.rabbitmq import RabbitmqAdapter

__all__ = ["any_broker", "redis_server"]  # fixtures, imported to be found

MILLISECOND = timedelta(milliseconds=1)


def test_every_figure_of_a_known_state(any_broker: BrokerUnderTest) -> None:
    state = known_state(any_broker, ready=5, delayed=3, in_flight=2, dead=4)
    figures = any_broker.figures()
    assert (figures.name, figures.ready, figures.delayed, figures.dead) == (
        any_broker.queue, 5, 3, 4,
    )  # fmt: skip
    if any_broker.kind == "rabbitmq":
        assert figures.in_flight is None  # a consumer is attached: AMQP cannot count
        assert "unacknowledged" in figures.unknown["in_flight"]
    else:
        assert figures.in_flight == 2
        assert figures.unknown == {}
    assert figures.oldest_ready_at is not None
    assert state.ready_from - MILLISECOND <= figures.oldest_ready_at <= state.ready_until


def test_the_operator_probe_reports_the_same(any_broker: BrokerUnderTest) -> None:
    known_state(any_broker, ready=2, delayed=1, in_flight=1, dead=1)
    [through_probe] = asyncio.run(any_broker.probe.queue_figures())
    assert through_probe == any_broker.figures()
    depths = asyncio.run(any_broker.probe.queue_depths())[any_broker.queue]
    assert (depths.ready, depths.delayed, depths.dead) == (2, 1, 1)


def test_an_empty_or_undeclared_queue_is_all_zeros(any_broker: BrokerUnderTest) -> None:
    figures = any_broker.figures()
    assert (figures.ready, figures.delayed, figures.in_flight, figures.dead) == (0, 0, 0, 0)
    assert figures.oldest_ready_at is None


def test_messages_released_by_a_consumer_are_ready_again(any_broker: BrokerUnderTest) -> None:
    state = known_state(any_broker, ready=1, delayed=0, in_flight=3, dead=0)
    if any_broker.kind == "redis":
        state.holder.requeue(state.held)  # what a stopping worker does
    elif any_broker.kind == "memory":
        pytest.skip("the StubBroker has no requeue: its unacked messages die with the process")
    state.holder.close()
    any_broker.consumers.remove(state.holder)
    figures = wait_for(any_broker.figures, lambda f: f.ready == 4)
    assert figures.in_flight == 0


def test_a_retry_waits_from_when_it_became_ready() -> None:
    created = int((datetime.now(UTC) - timedelta(hours=2)).timestamp() * 1000)
    stamped = int(datetime.now(UTC).timestamp() * 1000)
    message: dramatiq.Message[Any] = dramatiq.Message(
        queue_name="q", actor_name="ingest_file", args=(1,), kwargs={},
        options={ENQUEUED_AT_OPTION: stamped}, message_timestamp=created,
    )  # fmt: skip
    assert ready_since(message) == datetime.fromtimestamp(stamped / 1000, UTC)
    unstamped = message.copy(options={ENQUEUED_AT_OPTION: None})
    assert ready_since(unstamped) == datetime.fromtimestamp(created / 1000, UTC)


# --- RabbitMQ: what AMQP cannot tell, and that looking changes nothing ------------


@pytest.fixture
def rabbit(any_broker: BrokerUnderTest) -> BrokerUnderTest:
    if any_broker.kind != "rabbitmq":
        pytest.skip("RabbitMQ only")
    return any_broker


def _drain_order(rabbit: BrokerUnderTest) -> list[int]:
    with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
        channel = connection.channel()
        order = []
        while True:
            method, _, body = channel.basic_get(rabbit.queue, auto_ack=True)
            if method is None:
                return order
            order.append(dramatiq.Message.decode(body).args[0])


@pytest.mark.parametrize("any_broker", ["rabbitmq"], indirect=True)
def test_peeking_at_the_oldest_neither_reorders_nor_loses(rabbit: BrokerUnderTest) -> None:
    for job_id in range(1, 8):
        rabbit.send(job_id)
    for _ in range(5):
        assert rabbit.figures().oldest_ready_at is not None
    assert _drain_order(rabbit) == list(range(1, 8))


@pytest.mark.parametrize("any_broker", ["rabbitmq"], indirect=True)
def test_delayed_held_by_a_worker_is_unknown(rabbit: BrokerUnderTest) -> None:
    rabbit.send(1, delay_ms=600_000)
    assert rabbit.figures().delayed == 1
    delay_consumer = rabbit.broker.consume(f"{rabbit.queue}.DQ", prefetch=10, timeout=100)
    rabbit.consumers.append(delay_consumer)
    wait_for(lambda: next(delay_consumer), lambda message: message is not None)
    figures = rabbit.figures()
    assert figures.delayed is None
    assert "unacknowledged until their time" in figures.unknown["delayed"]


@pytest.mark.rabbitmq
def test_a_quorum_queue_is_not_peeked() -> None:
    require_rabbitmq()
    adapter = RabbitmqAdapter(RABBITMQ_URL)
    queue = f"fitsflow-test-{secrets.token_hex(4)}"
    dead_letter = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": f"{queue}.XQ"}
    try:
        with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
            channel = connection.channel()
            channel.queue_declare(queue, durable=True, arguments={**dead_letter,
                                  "x-queue-type": "quorum"})  # fmt: skip
            channel.queue_declare(f"{queue}.DQ", durable=True, arguments=dead_letter)
            channel.queue_declare(f"{queue}.XQ", durable=True)
            channel.basic_publish("", queue, b"{}")
        figures = wait_for(lambda: adapter.figures(None, queue), lambda f: f.ready == 1)
    finally:
        with pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)) as connection:
            channel = connection.channel()
            for name in (queue, f"{queue}.DQ", f"{queue}.XQ"):
                channel.queue_delete(name)
    assert figures.oldest_ready_at is None
    assert "not a classic queue" in figures.unknown["oldest_ready_at"]
