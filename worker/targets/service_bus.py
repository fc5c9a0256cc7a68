"""Service Bus queue and topic actions: one brokered message per attempt, real azure-servicebus SDK.

Authentication is a secret reference: ``authentication.sasKey`` (with ``sasKeyName`` and
``namespace``: ``<namespace>.servicebus.windows.net``) or a full ``connectionString``. The
message id is the invocation id, so the broker's duplicate detection drops a replayed
occurrence (``brokeredMessageProperties.messageId`` is therefore ignored). Custom properties
become application properties, plus the scheduler's ``x-ms-scheduler-*`` metadata. The SDK's own
retries are off: retrying is the job's retry policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.credentials import AzureNamedKeyCredential
from azure.servicebus import ServiceBusClient, ServiceBusMessage
from azure.servicebus.exceptions import (
    MessagingEntityNotFoundError,
    ServiceBusAuthenticationError,
    ServiceBusAuthorizationError,
    ServiceBusError,
)

from worker.contract import Invocation, parse_duration
from worker.settings import WorkerSettings
from worker.targets.base import Outcome, SecretResolver
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
        message_id=inv.id,
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


def send_service_bus(
    action: Mapping[str, Any], invocation: Invocation, secrets: SecretResolver, settings: WorkerSettings
) -> Outcome:
    topic = action.get("type") == "serviceBusTopic"
    field = "serviceBusTopicMessage" if topic else "serviceBusQueueMessage"
    msg = action.get(field) or {}
    entity = str(msg.get("topicPath") if topic else msg.get("queueName"))
    message = build_message(msg, invocation)
    try:
        with _client(msg, secrets, field) as client:
            sender = client.get_topic_sender(entity) if topic else client.get_queue_sender(entity)
            with sender:
                sender.send_messages(message, timeout=settings.http_timeout)
    except MessagingEntityNotFoundError:
        return Outcome(False, f"Service Bus entity {entity!r} does not exist", retryable=True)
    except (ServiceBusAuthenticationError, ServiceBusAuthorizationError) as e:
        return Outcome(False, f"Service Bus refused the credentials: {e.__class__.__name__}", retryable=False)
    except ServiceBusError as e:
        return Outcome(False, f"Service Bus error: {e.__class__.__name__}: {str(e).splitlines()[0][:300]}")
    return Outcome(True, f"message {invocation.id} sent to {'topic' if topic else 'queue'} {entity}")
