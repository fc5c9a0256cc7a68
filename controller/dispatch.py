"""The dispatch loop: due occurrences → RQ, exactly once, by the lease holder only.

It sleeps on the due index (BLPOP on the poke list, bounded by the earliest due time), so an
idle controller costs one Redis call per ``max_sleep`` whatever the number of jobs; it never
reads manifests. Per due job: ``controller.core.decisions.decide`` → enqueue each occurrence to
run (deterministic id) → advance the cursor atomically.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from rq.command import send_stop_job_command

from controller.core.decisions import Decision, decide
from controller.core.invocation import build_invocation
from controller.core.model import JobKey, JobSpec
from controller.core.recurrence import Occurrence, Schedule
from controller.lease import Lease
from controller.settings import ControllerSettings
from controller.state.schedule import DueJob, ScheduleStore
from worker.contract import MAIN_ACTION, HistoryEntry, HistoryStatus, invocation_id

log = logging.getLogger("cronplane.dispatch")
JOB_TIMEOUT = 180
HISTORY_BOUNDS = (1000, 60 * 24 * 3600)
MAX_MISSED_ENTRIES = 100  # per job and pass; the rest are counted in missedCount only


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Dispatcher:
    def __init__(self, store: ScheduleStore, settings: ControllerSettings, lease: Lease | None = None):
        self.store, self.settings, self.lease = store, settings, lease

    def run_pass(self, now: datetime) -> int:
        """Dispatch everything due at ``now``; returns how many invocations were enqueued."""
        enqueued = 0
        while True:
            names = self.store.due_names(now.timestamp(), self.settings.max_dispatch_batch)
            if not names:
                return enqueued
            for item in self.store.load(names):
                if self.lease is not None and not self.lease.held():
                    return enqueued  # lost the lease: stop at once
                enqueued += self._dispatch(item, now) if isinstance(item, DueJob) else self._vanished(item)
            if len(names) < self.settings.max_dispatch_batch:
                return enqueued

    def _vanished(self, name: str) -> int:
        self.store.drop(name)
        return 0

    def _dispatch(self, due: DueJob, now: datetime) -> int:
        if not due.active:
            self.store.drop(due.name)
            return 0
        spec = JobSpec.from_dict(due.spec)
        schedule = Schedule(spec.timing, due.created_at)
        cursor = Occurrence(datetime.fromtimestamp(due.next_at, UTC), due.number)
        running = self.store.running(due.name)
        d = decide(spec, schedule, cursor, now, running=running is not None, max_catch_up=self.settings.max_catch_up)
        if d.stop_running and running:
            send_stop_job_command(self.store.r, running)
        key = JobKey.parse(due.name)
        fired = []
        # Crash window 1: after an enqueue and before advance() the cursor still points here;
        # the next pass re-enqueues the same ids, which the fired marker / RQ dedup absorb.
        for i, occ in enumerate(d.run):
            final = d.last_is_final and i == len(d.run) - 1
            inv = build_invocation(
                key,
                due.spec,
                occ,
                generation=due.generation,
                git_sha=due.git_sha,
                final=final,
                region=self.settings.region,
            )
            self.store.enqueue(inv, JOB_TIMEOUT)
            fired.append(inv.id)
        self._advance(due, d, schedule, now, fired, key)
        return len(fired)

    def _advance(
        self, due: DueJob, d: Decision, schedule: Schedule, now: datetime, fired: list[str], key: JobKey
    ) -> None:
        status = {"lastScheduleTime": iso(d.run[-1].at)} if d.run else {}
        if d.next is not None:
            upcoming = [d.next, *schedule.upcoming(self.settings.next_runs_shown - 1, after=d.next)]
            status["nextExecutionTime"] = iso(d.next.at)
            status["nextRuns"] = "[" + ",".join(f'"{iso(o.at)}"' for o in upcoming) + "]"
        else:
            status["nextRuns"] = "[]"
        counters = {}
        if d.missed or d.uncounted_missed:
            counters["missedCount"] = len(d.missed) + d.uncounted_missed
        if d.skipped:
            counters["skippedCount"] = len(d.skipped)
        history = [self._entry(key, o, "missed", now, due) for o in d.missed[-MAX_MISSED_ENTRIES:]]
        history += [self._entry(key, o, "skipped", now, due) for o in d.skipped]
        # Crash window 2: the markers and the cursor move together (one MULTI); if the job was
        # re-applied meanwhile (new generation), nothing is written and the sync's cursor wins.
        self.store.advance(
            due,
            fired,
            d.next.epoch if d.next else None,
            d.next.number if d.next else 0,
            status,
            counters,
            history,
            HISTORY_BOUNDS,
        )

    def _entry(self, key: JobKey, occ: Occurrence, status: HistoryStatus, now: datetime, due: DueJob) -> HistoryEntry:
        why = (
            "missed: later than the starting deadline"
            if status == "missed"
            else "skipped: the previous invocation is still running (concurrencyPolicy forbid)"
        )
        return HistoryEntry(
            job=str(key),
            invocation_id=invocation_id(key.collection, key.name, occ.epoch),
            expected_execution_time=iso(occ.at),
            start_time=iso(now),
            end_time=iso(now),
            action_name=MAIN_ACTION,
            status=status,
            retry_count=0,
            repeat_count=occ.number,
            message=why,
            git_sha=due.git_sha,
            generation=due.generation,
        )

    def run_forever(self, stop: threading.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        while not stop.is_set():
            if self.lease is not None and not self.lease.held():
                stop.wait(0.2)
                continue
            try:
                n = self.run_pass(clock())
                if n:
                    log.info("dispatch: enqueued %d invocation(s)", n)
                earliest = self.store.earliest()
                wait = self.settings.max_sleep if earliest is None else earliest - time.time()
                self.store.wait_for_poke(min(self.settings.max_sleep, max(0.0, wait)))
            except Exception:
                log.exception("dispatch pass failed")
                stop.wait(1.0)
