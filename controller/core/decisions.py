"""What the dispatch loop does with one due job at ``now`` (design §4, after Kubernetes CronJob). Pure.

Order: occurrences later than ``startingDeadline`` are *missed* and handled per
``missedRunPolicy`` (skip: record all; latest: run the newest, record the rest; all: run up to
``max_catch_up`` of them, newest last, record the rest) · occurrences within the deadline run ·
``concurrencyPolicy`` forbid skips everything while the previous invocation still runs, replace
stops it first · the cursor advances to the first occurrence after ``now`` (None = Completed).
Enumeration of a long outage is bounded by ``MAX_ENUMERATED``; beyond it the schedule is re-sought
from ``now`` and the remainder is counted as one lump of missed runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from controller.core.model import ConcurrencyPolicy, JobSpec, MissedRunPolicy
from controller.core.recurrence import Occurrence, Schedule

MAX_ENUMERATED = 10_000


@dataclass
class Decision:
    run: list[Occurrence] = field(default_factory=list)
    missed: list[Occurrence] = field(default_factory=list)
    skipped: list[Occurrence] = field(default_factory=list)
    uncounted_missed: int = 0  # missed beyond the enumeration bound (counted, not listed)
    stop_running: bool = False
    next: Occurrence | None = None
    last_is_final: bool = False


def decide(
    spec: JobSpec, schedule: Schedule, cursor: Occurrence, now: datetime, *, running: bool, max_catch_up: int = 100
) -> Decision:
    d = Decision()
    due: list[Occurrence] = []
    occ: Occurrence | None = cursor
    while occ is not None and occ.at <= now and len(due) < MAX_ENUMERATED:
        due.append(occ)
        occ = schedule.after(occ)
    if occ is not None and occ.at <= now:  # a very long outage: jump ahead
        jumped = schedule.first_at_or_after(now, prev=occ)
        d.uncounted_missed = (jumped.number - occ.number) if jumped else 0
        occ = jumped
    d.next = occ
    late = [o for o in due if now - o.at > spec.starting_deadline]
    fresh = [o for o in due if now - o.at <= spec.starting_deadline]
    run, missed = _missed_policy(spec.missed_run_policy, late, fresh, max_catch_up)
    d.missed = missed
    if run and running and spec.concurrency_policy is ConcurrencyPolicy.FORBID:
        d.skipped, run = run, []
    d.stop_running = bool(run) and running and spec.concurrency_policy is ConcurrencyPolicy.REPLACE
    d.run = run
    d.last_is_final = d.next is None
    return d


def _missed_policy(
    policy: MissedRunPolicy, late: list[Occurrence], fresh: list[Occurrence], cap: int
) -> tuple[list[Occurrence], list[Occurrence]]:
    if not late or policy is MissedRunPolicy.SKIP:
        return fresh, late
    if policy is MissedRunPolicy.LATEST:
        return ([late[-1]] if not fresh else []) + fresh, late[:-1] if not fresh else late
    return late[-cap:] + fresh, late[:-cap]
