"""``maxConcurrentCalls``: validation, the payload field (job's own value, else the collection's) and
the worker's keyed semaphores (excess waits, idle keys are forgotten)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from controller.core.invocation import build_invocation
from controller.core.model import JobKey
from controller.core.quota import load_documents
from controller.core.recurrence import Occurrence
from worker.contract import Invocation
from worker.targets.limits import KeyedLimiter, Slots, host_of

NOW = datetime(2026, 1, 1, tzinfo=UTC)
JOB = "apiVersion: cronplane/v1\nkind: Job\nmetadata: {{name: j}}\nspec:\n  maxConcurrentCalls: {}\n  action: {{type: http, request: {{method: GET, uri: 'http://example.test/'}}}}\n"
COLL = "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {{name: c}}\nspec: {{maxConcurrentCalls: {}}}\n"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "m.yaml:5:23: maxConcurrentCalls: 0 is below the minimum of 1"),
        ("-3", "m.yaml:5:23: maxConcurrentCalls: -3 is below the minimum of 1"),
        ("1.5", "m.yaml:5:23: maxConcurrentCalls: must be of type integer (got number)"),
        ("true", "m.yaml:5:23: maxConcurrentCalls: must be of type integer (got boolean)"),
        ("'2'", "m.yaml:5:23: maxConcurrentCalls: must be of type integer (got string)"),
        ("99999999999999999999", "m.yaml:5:23: maxConcurrentCalls: 99999999999999999999 is above the maximum of 10000"),
    ],
)
def test_bad_values_are_one_line_each(value: str, message: str) -> None:
    problems = [str(p) for p in load_documents({"m.yaml": JOB.format(value).encode()}, NOW).problems]
    assert problems == [message]


def test_valid_values_on_jobs_and_collections() -> None:
    result = load_documents({"j.yaml": JOB.format(2).encode(), "c.yaml": COLL.format(5).encode()}, NOW)
    assert not result.problems
    [job] = result.jobs
    assert job.spec.raw["maxConcurrentCalls"] == 2
    bad = load_documents({"c.yaml": COLL.format(0).encode()}, NOW).problems
    assert [str(p) for p in bad] == ["c.yaml:4:28: maxConcurrentCalls: 0 is below the minimum of 1"]


def _inv(spec_limit: int | None, collection_max: int | None) -> Invocation:
    spec = {"action": {"type": "http", "request": {"uri": "http://t/"}}}
    if spec_limit:
        spec["maxConcurrentCalls"] = spec_limit  # type: ignore[assignment]
    occ = Occurrence(NOW, 1)
    return build_invocation(
        JobKey("c", "j"), spec, occ, generation=1, git_sha=None, final=False, region="r", collection_max=collection_max
    )


def test_payload_carries_the_jobs_own_limit_else_the_collections() -> None:
    own = _inv(2, 5)
    assert (own.max_concurrency, own.concurrency_key) == (2, "job:c/j")
    shared = _inv(None, 5)
    assert (shared.max_concurrency, shared.concurrency_key) == (5, "collection:c")
    none = _inv(None, None)
    assert (none.max_concurrency, none.concurrency_key) == (None, None)
    assert "max_concurrency" not in none.to_dict()  # older workers still read payloads without a limit
    assert Invocation.from_dict(own.to_dict()) == own and Invocation.from_dict(none.to_dict()) == none


def test_keyed_limiter_makes_excess_wait_and_forgets_idle_keys() -> None:
    async def scenario() -> tuple[int, int, int]:
        limiter, inflight, peak = KeyedLimiter(), [0], [0]

        async def call() -> None:
            async with limiter.hold("job:c/j", 2):
                inflight[0] += 1
                peak[0] = max(peak[0], inflight[0])
                await asyncio.sleep(0.01)
                inflight[0] -= 1

        await asyncio.gather(*(call() for _ in range(10)))
        return peak[0], inflight[0], len(limiter)

    assert asyncio.run(scenario()) == (2, 0, 0)


def test_slots_hold_the_invocation_limit_then_the_host_limit() -> None:
    inv = _inv(None, 1)
    action = {"type": "http", "request": {"uri": "https://Example.test/x"}}
    assert host_of(action) == "example.test:443"
    assert host_of({"type": "storageQueue"}) is None and host_of({"request": {"uri": "http://[::1/"}}) is None

    async def scenario() -> list[str]:
        slots, order = Slots(lambda host: 1), []

        async def call(n: int) -> None:
            async with slots(action, inv):
                order.append(f"in{n}")
                await asyncio.sleep(0.01)
                order.append(f"out{n}")

        await asyncio.gather(call(1), call(2))
        return order

    assert asyncio.run(scenario()) == ["in1", "out1", "in2", "out2"]
