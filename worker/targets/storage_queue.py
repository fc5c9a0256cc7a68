"""Storage Queue actions: one message per attempt to an Azure Storage queue (or Azurite).

Credentials are secret references: ``sasToken`` (with ``storageAccount``: the queue at
``https://<account>.queue.core.windows.net``) or ``connectionString`` (any endpoint, e.g.
Azurite's ``QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1``, with an account key or a
``SharedAccessSignature``). The message is Azure's XML envelope unless ``rawMessage: true``;
text is sent as is (no base64), as Azure Scheduler did. A missing queue is a failure (retried,
then the error action), as in Azure: the scheduler never creates queues.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.storage.queue import QueueClient

from worker.contract import Invocation
from worker.settings import WorkerSettings
from worker.targets.base import Outcome, PermanentTargetError, SecretResolver, TemporaryTargetError
from worker.targets.envelope import storage_queue_envelope


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
        account = f"https://{msg.get('storageAccount')}.queue.core.windows.net"
        return QueueClient(account, queue, credential=sas, **kwargs)
    except ValueError:
        raise PermanentTargetError("queueMessage: the connection string or account is not valid") from None


def send_storage_queue(
    action: Mapping[str, Any], invocation: Invocation, secrets: SecretResolver, settings: WorkerSettings
) -> Outcome:
    msg = action.get("queueMessage") or {}
    text = str(msg.get("message", ""))
    body = text if msg.get("rawMessage") else storage_queue_envelope(invocation, text)
    client = queue_client(msg, secrets, settings)
    try:
        with client:
            sent = client.send_message(body)
    except ResourceNotFoundError:
        return Outcome(False, f"queue {msg.get('queueName')!r} does not exist", retryable=True)
    except ClientAuthenticationError as e:
        return Outcome(False, f"storage authentication failed ({e.status_code})", retryable=False)
    except HttpResponseError as e:
        return Outcome(False, f"storage answered {e.status_code}: {e.reason}", retryable=(e.status_code or 500) >= 500)
    except (ServiceRequestError, ServiceResponseError) as e:
        raise TemporaryTargetError(f"storage queue unreachable: {e.__class__.__name__}") from None
    return Outcome(True, f"message {sent.id} sent to queue {msg.get('queueName')}")
