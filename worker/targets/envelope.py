"""Azure Scheduler's XML ``StorageQueueMessage`` envelope (reference §7.2). Pure.

Element order and names follow the observed envelope. Differences, by design: the declaration
says utf-8 (the queue message is UTF-8 text; Azure's said utf-16 from .NET's XmlSerializer) and
an ``InvocationId`` element (an extension) carries the occurrence's deterministic id, so
consumers can deduplicate. ExecutionTag and ClientRequestId are derived from the attempt, so a
replayed attempt sends the same values.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from xml.sax.saxutils import escape

from worker.contract import Invocation

NS = 'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'


def storage_queue_envelope(inv: Invocation, message: str) -> str:
    attempt = f"{inv.id}:{inv.phase}:{inv.attempt}"
    fields = [
        ("ExecutionTag", hashlib.sha256(attempt.encode()).hexdigest()[:32]),
        ("ClientRequestId", str(uuid.uuid5(uuid.NAMESPACE_URL, attempt))),
        ("ExpectedExecutionTime", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(inv.expected))),
        ("SchedulerJobId", inv.name),
        ("SchedulerJobCollectionId", inv.collection),
        ("Region", inv.region),
        ("Message", message),
        ("InvocationId", inv.id),
    ]
    body = "".join(f"\n  <{k}>{escape(v)}</{k}>" for k, v in fields)
    return f'<?xml version="1.0" encoding="utf-8"?>\n<StorageQueueMessage {NS}>{body}\n</StorageQueueMessage>'
