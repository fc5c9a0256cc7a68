"""Service Bus queue and topic actions: one brokered message per attempt, real azure-servicebus SDK.

Authentication is a secret reference: ``authentication.sasKey`` (with ``sasKeyName`` and
``namespace``: ``<namespace>.servicebus.windows.net``) or a full ``connectionString``. The
message id is the idempotency key (the invocation id; ``<id>-error`` for the error action),
so the broker's duplicate detection drops a replayed
occurrence (``brokeredMessageProperties.messageId`` is therefore ignored). Custom properties
become application properties, plus the scheduler's ``x-ms-scheduler-*`` metadata. The SDK's own
retries are off: retrying is the job's retry policy. One open sender per entity and credentials
per process (dropped after a failure); sends run on the process's thread pool.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage

from worker.attempts import idempotency_key
from worker.contract import Invocation, parse_duration
from worker.targets.base import Outcome, SecretResolver, TargetContext
from worker.targets.clients import client_key
from worker.targets.errors import classify
from worker.targets.http import scheduler_headers


def _client(msg: Mapping[str, Any], secrets: SecretResolver, field: str) -> ServiceBusClient:
    if msg.get("connectionString") is not None:
        return ServiceBusClient.from_connection_string(
            secrets(msg["connectionString"], f"{field}.connectionString"), retry_total=0
        )
    auth = msg.get("authentication") or {}
    key = secrets(auth.get("sasKey"), f"{field}.authentication.sasKey")
    return ServiceBusClient(
        f"{msg.get('namespace')}.servicebus.windows.net",
        AzureNamedKeyCredential(str(auth.get("sasKeyName", "")), key),
        retry_total=0,
    )


def build_message(msg: Mapping[str, Any], inv: Invocation) -> ServiceBusMessage:
    props = msg.get("brokeredMessageProperties") or {}
    app = {k: v for k, v in scheduler_headers(inv).items() if k.startswith("x-ms-")}
    app.update({str(k): str(v) for k, v in (msg.get("customMessageProperties") or {}).items()})
    ttl = props.get("timeToLive")
    enqueue_at = props.get("scheduledEnqueueTimeUtc")
    return ServiceBusMessage(
        str(msg.get("message", "")),
        message_id=idempotency_key(inv),
        application_properties=app,  # type: ignore[arg-type]
        content_type=props.get("contentType"),
        correlation_id=props.get("correlationId"),
        subject=props.get("label"),
        partition_key=props.get("partitionKey"),
        reply_to=props.get("replyTo"),
        reply_to_session_id=props.get("replyToSessionId"),
        session_id=props.get("sessionId"),
        to=props.get("to"),
        time_to_live=parse_duration(ttl) if ttl else None,
        scheduled_enqueue_time_utc=datetime.fromisoformat(enqueue_at.replace("Z", "+00:00")) if enqueue_at else None,
    )


class _Sender:
    """One open client and sender per entity and credentials; the SDK's sender is not
    thread-safe, so sends to one entity take turns."""

    def __init__(self, msg: Mapping[str, Any], secrets: SecretResolver, field: str, topic: bool, entity: str):
        self.client = _client(msg, secrets, field)
        self.sender = self.client.get_topic_sender(entity) if topic else self.client.get_queue_sender(entity)
        self.lock = threading.Lock()

    def send(self, message: ServiceBusMessage, timeout: float) -> None:
        with self.lock:
            self.sender.send_messages(message, timeout=timeout)

    def close(self) -> None:
        for part in (self.sender, self.client):
            try:
                part.close()
            except Exception:  # closing a broken link must not hide the send's error
                pass


async def send_service_bus(action: Mapping[str, Any], invocation: Invocation, ctx: TargetContext) -> Outcome:
    topic = action.get("type") == "serviceBusTopic"
    field = "serviceBusTopicMessage" if topic else "serviceBusQueueMessage"
    msg = action.get(field) or {}
    entity = str(msg.get("topicPath") if topic else msg.get("queueName"))
    message = build_message(msg, invocation)
    key = client_key(f"{action.get('type')}:{entity}", msg, ctx.secrets, ("connectionString",), field, sas=True)
    what = f"Service Bus {'topic' if topic else 'queue'} {entity!r}"
    try:
        sender = ctx.client(key, lambda: _Sender(msg, ctx.secrets, field, topic, entity))
        await ctx.run_sync(lambda: sender.send(message, ctx.settings.http_timeout))
    except Exception as e:
        ctx.drop_client(key)
        raise classify(e, what, ctx.settings.http_timeout) from None
    return Outcome(True, f"message {invocation.id} sent to {'topic' if topic else 'queue'} {entity}")
