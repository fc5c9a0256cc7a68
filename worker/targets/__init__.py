"""Action type → target function. Targets are imported lazily so a worker that never calls
Service Bus does not load its SDK."""

from __future__ import annotations

import importlib

from worker.targets.base import PermanentTargetError, Target

TARGETS = {
    "http": "worker.targets.http:call_http",
    "https": "worker.targets.http:call_http",
    "storageQueue": "worker.targets.storage_queue:send_storage_queue",
    "serviceBusQueue": "worker.targets.service_bus:send_service_bus",
    "serviceBusTopic": "worker.targets.service_bus:send_service_bus",
}


def target_for(action_type: str) -> Target:
    spec = TARGETS.get(action_type)
    if spec is None:
        raise PermanentTargetError(f"unknown action type {action_type!r}")
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise PermanentTargetError(f"action type {action_type} is not available in this worker: {e}") from e
