"""What the dispatch loop does with one due job at ``now`` (design §4, after Kubernetes CronJob). Pure.

Order: occurrences later than ``startingDeadline`` are *missed* and handled per
``missedRunPolicy`` (skip: record all; latest: run the newest, record the rest; all: run up to
``max_catch_up`` of them, newest last, record the rest) · occurrences within the deadline run ·
``concurrencyPolicy`` forbid skips everything while the previous invocation still runs, replace
stops it first · the cursor advances to the first occurrence after ``now`` (None = Completed).
Enumeration of a long outage is bounded by ``MAX_ENUMERATED``; beyond it the schedule jumps to the
start of the deadline window (those occurrences are still handled one by one) and the ones
skipped over are counted as one lump of missed runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

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
    due, occ = _due_until(schedule, cursor, now)
    if occ is not None and occ.at <= now:  # a very long outage: jump to the deadline window
        horizon = max(now - spec.starting_deadline, due[-1].at + timedelta(seconds=1))
        jumped = schedule.first_at_or_after(horizon, prev=occ)
        d.uncounted_missed = (jumped.number - occ.number) if jumped else 0
        recent, occ = _due_until(schedule, jumped, now) if jumped else ([], None)
        due += recent
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


def _due_until(schedule: Schedule, occ: Occurrence | None, now: datetime) -> tuple[list[Occurrence], Occurrence | None]:
    """Occurrences from ``occ`` up to ``now`` (at most MAX_ENUMERATED) and the one after them."""
    due: list[Occurrence] = []
    while occ is not None and occ.at <= now and len(due) < MAX_ENUMERATED:
        due.append(occ)
        occ = schedule.after(occ)
    return due, occ


def _missed_policy(
    policy: MissedRunPolicy, late: list[Occurrence], fresh: list[Occurrence], cap: int
) -> tuple[list[Occurrence], list[Occurrence]]:
    if not late or policy is MissedRunPolicy.SKIP:
        return fresh, late
    if policy is MissedRunPolicy.LATEST:
        return ([late[-1]] if not fresh else []) + fresh, late[:-1] if not fresh else late
    return late[-cap:] + fresh, late[:-cap]
