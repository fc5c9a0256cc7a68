"""Storage Queue actions: one message per attempt to an Azure Storage queue (or Azurite).

Credentials are secret references: ``sasToken`` (with ``storageAccount``: the queue at
``https://<account>.queue.core.windows.net``, or ``CRONPLANE_STORAGE_QUEUE_URL`` with ``{account}``
in it) or ``connectionString`` (any endpoint, e.g.
Azurite's ``QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1``, with an account key or a
``SharedAccessSignature``). The message is Azure's XML envelope unless ``rawMessage: true``;
text is sent as is (no base64), as Azure Scheduler did. A missing queue is a failure (retried,
then the error action), as in Azure: the scheduler never creates queues. One client per queue and
credentials per process (built on first use, dropped after a failure); the SDK's calls run on the
process's thread pool.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.storage.queue import QueueClient

from worker.contract import Invocation
from worker.settings import WorkerSettings
from worker.targets.base import Outcome, PermanentTargetError, SecretResolver, TargetContext
from worker.targets.clients import client_key
from worker.targets.envelope import storage_queue_envelope
from worker.targets.errors import classify


def queue_client(msg: Mapping[str, Any], secrets: SecretResolver, settings: WorkerSettings) -> QueueClient:
    queue = str(msg.get("queueName"))
    kwargs: dict[str, Any] = {
        "connection_timeout": settings.http_timeout,
        "read_timeout": settings.http_timeout,
        "retry_total": 0,
    }  # retries are the scheduler's retry policy, not the SDK's
    try:
        if msg.get("connectionString") is not None:
            conn = secrets(msg["connectionString"], "queueMessage.connectionString")
            return QueueClient.from_connection_string(conn, queue, **kwargs)
        sas = secrets(msg.get("sasToken"), "queueMessage.sasToken").lstrip("?")
        account = settings.storage_queue_url.replace("{account}", str(msg.get("storageAccount")))
        return QueueClient(account, queue, credential=sas, **kwargs)
    except ValueError:
        raise PermanentTargetError("queueMessage: the connection string or account is not valid") from None


async def send_storage_queue(action: Mapping[str, Any], invocation: Invocation, ctx: TargetContext) -> Outcome:
    msg = action.get("queueMessage") or {}
    text = str(msg.get("message", ""))
    body = text if msg.get("rawMessage") else storage_queue_envelope(invocation, text)
    name = msg.get("queueName")
    key = client_key("storageQueue", msg, ctx.secrets, ("connectionString", "sasToken"), "queueMessage")
    client = ctx.client(key, lambda: queue_client(msg, ctx.secrets, ctx.settings))
    try:
        sent = await ctx.run_sync(lambda: client.send_message(body))
    except Exception as e:
        ctx.drop_client(key)
        raise classify(e, f"queue {name!r}", ctx.settings.http_timeout) from None
    return Outcome(True, f"message {sent.id} sent to queue {name}")
