"""Storage Queue actions through a real RQ worker against Azurite, with the real Azure SDK."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from azure.storage.queue import QueueSasPermissions, QueueServiceClient, generate_queue_sas

from tests.integration.test_worker_http import (
    assert_no_secret_in_redis,
    assert_retried_then_error_action,
    enqueue,
    history,
    invocation,
)
from tests.peers.azurite import ACCOUNT, KEY, Azurite
from tests.peers.rq_worker import burst, running_worker, wait_until
from worker.contract import RetryPolicy


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    server = Azurite(tmp_path_factory.mktemp("azurite")).start()
    yield server
    server.stop()


@pytest.fixture
def queues(azurite: Azurite) -> QueueServiceClient:
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    for name in ("jobs", "failures"):
        try:
            service.delete_queue(name)
        except Exception:
            pass
        service.create_queue(name)
    return service


def receive(service: QueueServiceClient, queue: str) -> list[str]:
    return [m.content for m in service.get_queue_client(queue).receive_messages(max_messages=32)]


def sq(queue: str, ref: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "storageQueue", "queueMessage": {"queueName": queue, "message": "hello <&>", **ref, **extra}}


CONN = {"connectionString": {"valueFrom": {"env": "CP_STORAGE"}}}


def test_envelope_message(
    redis_url: str, redis_client: redis.Redis, azurite: Azurite, queues: QueueServiceClient
) -> None:
    inv = invocation(sq("jobs", CONN), expected=1451606400)
    enqueue(redis_url, inv)
    logs = burst(redis_url, {"CP_STORAGE": azurite.connection_string})
    [content] = receive(queues, "jobs")
    root = ET.fromstring(content)
    assert root.tag == "StorageQueueMessage"
    fields = {child.tag: child.text for child in root}
    assert fields["Message"] == "hello <&>" and fields["SchedulerJobId"] == "j"
    assert fields["SchedulerJobCollectionId"] == "c1" and fields["ExpectedExecutionTime"] == "2016-01-01T00:00:00"
    assert fields["Region"] == "local" and len(fields["ExecutionTag"] or "") == 32 and fields["ClientRequestId"]
    assert fields["InvocationId"] == "c1_j-1451606400"
    [entry] = history(redis_client)
    assert entry.status == "completed" and "sent to queue jobs" in entry.message
    assert KEY not in logs
    assert_no_secret_in_redis(redis_client, KEY)


def test_raw_message_with_a_sas_connection_string(
    redis_url: str, redis_client: redis.Redis, azurite: Azurite, queues: QueueServiceClient
) -> None:
    sas = generate_queue_sas(
        ACCOUNT, "jobs", KEY, permission=QueueSasPermissions(add=True), expiry=datetime.now(UTC) + timedelta(hours=1)
    )
    conn = f"QueueEndpoint={azurite.endpoint};SharedAccessSignature={sas}"
    enqueue(redis_url, invocation(sq("jobs", CONN, rawMessage=True)))
    burst(redis_url, {"CP_STORAGE": conn})
    assert receive(queues, "jobs") == ["hello <&>"]
    assert_no_secret_in_redis(redis_client, sas.split("sig=")[1][:20])


def test_missing_queue_fails_then_error_action(
    redis_url: str, redis_client: redis.Redis, azurite: Azurite, queues: QueueServiceClient, tmp_path: Path
) -> None:
    action = sq("no-such-queue", CONN)
    action["errorAction"] = sq("failures", CONN, rawMessage=True, message="it failed")
    enqueue(redis_url, invocation(action, retry=RetryPolicy("none", 1, 0)))
    burst(redis_url, {"CP_STORAGE": azurite.connection_string})
    entries = sorted(history(redis_client), key=lambda e: e.start_time)
    assert [(e.action_name, e.status) for e in entries] == [("MainAction", "failed"), ("ErrorAction", "completed")]
    assert "does not exist" in entries[0].message
    assert receive(queues, "failures") == ["it failed"]


def test_retries_at_their_interval_before_the_error_action(
    redis_url: str, redis_client: redis.Redis, azurite: Azurite, queues: QueueServiceClient
) -> None:
    action = sq("no-such-queue", CONN)
    action["errorAction"] = sq("failures", CONN, rawMessage=True, message="gave up")
    enqueue(redis_url, invocation(action, name="r", retry=RetryPolicy("fixed", 1.0, 2)))
    with running_worker(redis_url, {"CP_STORAGE": azurite.connection_string}):
        wait_until(lambda: len(history(redis_client, "c1/r")) >= 4, timeout=60)
    assert_retried_then_error_action(history(redis_client, "c1/r"), retries=2, interval=1.0)
    assert receive(queues, "failures") == ["gave up"]
