"""Service Bus queue and topic actions through a real RQ worker, with the real azure-servicebus SDK
talking AMQP 1.0 to the test peer (tests/peers/sb_stub.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.integration.test_worker_http import (
    assert_no_secret_in_redis,
    assert_retried_then_error_action,
    enqueue,
    history,
    invocation,
)
from tests.peers.ports import free_port
from tests.peers.rq_worker import burst, running_worker, wait_until
from tests.peers.sb_stub import ServiceBusStub
from worker.contract import RetryPolicy

KEY = "SAS_KEY_VALUE"


@pytest.fixture(scope="module")
def stub() -> Iterator[ServiceBusStub]:
    with ServiceBusStub(topics={"events": ["audit", "billing"]}) as s:
        yield s


def sb(kind: str, entity: str, **extra: Any) -> dict[str, Any]:
    field, key = ("serviceBusTopicMessage", "topicPath") if kind == "topic" else ("serviceBusQueueMessage", "queueName")
    return {
        "type": "serviceBusTopic" if kind == "topic" else "serviceBusQueue",
        field: {key: entity, "message": "tick", "connectionString": {"valueFrom": {"env": "CP_SB"}}, **extra},
    }


def test_queue_message_with_properties(redis_url: str, redis_client: redis.Redis, stub: ServiceBusStub) -> None:
    action = sb(
        "queue",
        "orders",
        brokeredMessageProperties={
            "contentType": "text/plain",
            "correlationId": "c-1",
            "label": "tick",
            "timeToLive": "PT1H",
        },
        customMessageProperties={"appname": "FromScheduler"},
    )
    enqueue(redis_url, invocation(action))
    logs = burst(redis_url, {"CP_SB": stub.connection_string})
    [m] = stub.messages("orders")
    body = m.body if isinstance(m.body, bytes | str) else b"".join(m.body)
    assert (body.decode() if isinstance(body, bytes) else body) == "tick"
    assert m.message_id == "c1_j-1700000000" and m.correlation_id == "c-1" and m.subject == "tick"
    assert m.content_type == "text/plain" and m.ttl == 3600
    assert m.properties["appname"] == "FromScheduler" and m.properties["x-ms-scheduler-jobid"] == "j"
    assert stub.tokens, "the SDK authorised through CBS"
    [entry] = history(redis_client)
    assert entry.status == "completed" and "sent to queue orders" in entry.message
    assert KEY not in logs
    assert_no_secret_in_redis(redis_client, KEY)


def test_topic_reaches_both_subscriptions(redis_url: str, redis_client: redis.Redis, stub: ServiceBusStub) -> None:
    enqueue(redis_url, invocation(sb("topic", "events"), name="t"))
    burst(redis_url, {"CP_SB": stub.connection_string})
    for sub in ("audit", "billing"):
        [m] = stub.messages(f"events/subscriptions/{sub}")
        assert m.message_id == "c1_t-1700000000"


def test_unreachable_broker_fails_then_error_action(
    redis_url: str, redis_client: redis.Redis, stub: ServiceBusStub
) -> None:
    action = sb("queue", "orders")
    action["serviceBusQueueMessage"]["connectionString"] = {"valueFrom": {"env": "CP_SB_DOWN"}}
    action["errorAction"] = sb("queue", "dead-ticks")
    enqueue(redis_url, invocation(action, name="f", retry=RetryPolicy("none", 1, 0)))
    down = stub.connection_string.replace(f":{stub.port};", f":{free_port()};")
    burst(redis_url, {"CP_SB": stub.connection_string, "CP_SB_DOWN": down})
    entries = sorted(history(redis_client, "c1/f"), key=lambda e: e.start_time)
    assert [(e.action_name, e.status) for e in entries] == [("MainAction", "failed"), ("ErrorAction", "completed")]
    assert len(stub.messages("dead-ticks")) == 1


def test_retries_at_their_interval_then_error_action(
    redis_url: str, redis_client: redis.Redis, stub: ServiceBusStub
) -> None:
    action = sb("queue", "orders")
    action["serviceBusQueueMessage"]["connectionString"] = {"valueFrom": {"env": "CP_SB_DOWN"}}
    action["errorAction"] = sb("topic", "events")
    enqueue(redis_url, invocation(action, name="r", retry=RetryPolicy("fixed", 1.0, 2)))
    down = stub.connection_string.replace(f":{stub.port};", f":{free_port()};")
    with running_worker(redis_url, {"CP_SB": stub.connection_string, "CP_SB_DOWN": down}):
        wait_until(lambda: len(history(redis_client, "c1/r")) >= 4, timeout=90)
    assert_retried_then_error_action(history(redis_client, "c1/r"), retries=2, interval=1.0)
    # the error action is its own request: its message id (idempotency key) is <id>-error
    assert any(m.message_id == "c1_r-1700000000-error" for m in stub.messages("events/subscriptions/audit"))
