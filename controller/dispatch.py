"""The dispatch loop: due occurrences → RQ, exactly once, by the lease holder only.

It sleeps on the due index (BLPOP on the poke list, bounded by the earliest due time), so an
idle controller costs one Redis call per ``max_sleep`` whatever the number of jobs; it never
reads manifests. Per due job: ``controller.core.decisions.decide`` → enqueue each occurrence to
run (deterministic id) → advance the cursor atomically.

Prepared ahead: while it waits, the loop loads the jobs due within ``PREPARE_AHEAD`` seconds and
decides them *as of their due instant*, building their RQ payloads, so that at the due second a
herd costs one commit per batch. A decision taken at the due instant ``t`` of a job's cursor is
the decision ``decide`` takes at any ``now`` in ``[t, next occurrence)`` within the starting
deadline (one occurrence due, none late), so a prepared dispatch is used only inside that window
and only for ``concurrencyPolicy: allow`` (the others must look at the running marker at
dispatch time). A sync write withdraws what it touched: the change log (``desired-rev``) names
the jobs written since the preparation and their prepared dispatches are dropped; the commit
WATCHes the revision, and checks each cursor's generation and next instant, so a write that
lands after that check aborts the commit before anything is enqueued.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from rq.command import send_stop_job_command

from controller.core.decisions import Decision, decide
from controller.core.invocation import build_invocation
from controller.core.model import ConcurrencyPolicy, JobKey, JobSpec
from controller.core.recurrence import Occurrence, Schedule
from controller.lease import Lease
from controller.reconnect import OUTAGE, Outage
from controller.settings import ControllerSettings
from controller.state.changelog import changes_since
from controller.state.overrides import OverrideStore, RunRequest, Suspension
from controller.state.schedule import Dispatch, DueJob, LeaseLost, ScheduleStore
from worker.contract import MAIN_ACTION, HistoryEntry, HistoryStatus, Invocation, invocation_id
from worker.records import D_MISSED_COUNT, D_SKIPPED_COUNT, K_SPEC

log = logging.getLogger("cronplane.dispatch")
MAX_MISSED_ENTRIES = 100  # per job and pass; the rest are counted in missedCount only
PREPARE_AHEAD = 10.0  # seconds: jobs due this soon are decided and their payloads built in advance
MAX_PREPARED = 50_000  # prepared dispatches held in memory at most
LIMIT_TTL = 5.0  # seconds a collection's maxConcurrentCalls is cached


def iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Dispatcher:
    def __init__(self, store: ScheduleStore, settings: ControllerSettings, lease: Lease | None = None):
        self.store, self.settings, self.lease = store, settings, lease
        self.prepared: dict[str, tuple[Dispatch, float]] = {}  # name → (dispatch, valid until epoch)
        self._rev: tuple[int, str] | None = None  # the change-log position the prepared ones are valid at
        self._limits: dict[str, tuple[int | None, float]] = {}  # collection → (maxConcurrentCalls, until)

    def run_pass(self, now: datetime) -> int:
        """Dispatch everything due at ``now``; returns how many invocations were enqueued."""
        try:
            return self._run_pass(now)
        except LeaseLost:
            if self.lease is not None:
                self.lease.lost()
            self.prepared.clear()
            log.warning("dispatch: the lease is another controller's; nothing more is dispatched")
            return 0

    def _run_pass(self, now: datetime) -> int:
        enqueued = self._run_now()  # operator overrides first (see _run_now)
        while True:
            if self.lease is not None and not self.lease.held():
                return enqueued  # lost the lease: stop at once
            names = self.store.due_names(now.timestamp(), self.settings.max_dispatch_batch)
            if not names:
                return enqueued
            suspended = OverrideStore(self.store.r, self.store.keys).suspensions(names)  # override: suspend
            for name in suspended:  # a suspended job is decided now (its occurrences are skipped)
                self.prepared.pop(name, None)
            done, names_left = self._commit_prepared(names, now)
            enqueued += done
            loaded = self.store.load(names_left)
            batch = [d for item in loaded if (d := self._decide(item, now, suspended)) is not None]
            enqueued += self._commit(batch)
            if len(names) < self.settings.max_dispatch_batch:
                return enqueued

    def _commit(self, batch: list[Dispatch]) -> int:
        if not batch:
            return 0
        # Crash window: enqueue, markers and cursors go in one MULTI (commit); in the one-job
        # fallback the enqueue comes first, and a crash before advance() leaves the cursor
        # here, so the next pass tries the same ids again and the fired marker absorbs them.
        committed = self.store.commit(batch)
        done, rest = committed if committed is not None else (0, batch)
        for d in rest:
            done += sum(self.store.enqueue(inv) for inv in d.invocations)
            self.store.advance(d)
        return done

    def _commit_prepared(self, names: list[str], now: datetime) -> tuple[int, list[str]]:
        """Commit the prepared dispatches among ``names``; the names still to load and decide."""
        if not self.prepared:
            return 0, names
        self._withdraw()
        ts = now.timestamp()
        ready = []
        for name in names:
            hit = self.prepared.pop(name, None)
            if hit is not None and ts < hit[1]:
                ready.append(hit[0])
        if not ready or self._rev is None:
            return 0, names
        committed = self.store.commit(ready, self._rev[0])
        if committed is None:  # a sync write since the preparation: decide them again
            return 0, names
        done, stale = committed
        taken = {d.due.name for d in ready} - {d.due.name for d in stale}
        return done, [n for n in names if n not in taken]

    def _withdraw(self) -> None:
        """Drop the prepared dispatches of every job a sync pass wrote since they were prepared."""
        rev = self.store.desired_rev()
        if self._rev is not None and rev == self._rev[0]:
            return
        changed = changes_since(self.store.r, self.store.keys, *self._rev) if self._rev is not None else None
        if changed is None:
            self.prepared.clear()
            self._rev = None
            return
        self._rev = (changed.rev, changed.last_id)
        for name in changed.names:
            self.prepared.pop(name, None)

    def prepare(self, now: datetime, stop_at: float) -> int:
        """Decide the jobs due within ``PREPARE_AHEAD`` as of their due instants (stops at ``stop_at``)."""
        self._withdraw()
        if self._rev is None:
            self._rev = self.store.changelog_head()
        room = MAX_PREPARED - len(self.prepared)
        ts = now.timestamp()
        names = self.store.due_between(ts, ts + PREPARE_AHEAD, MAX_PREPARED)
        todo = [n for n in names if n not in self.prepared][: max(0, room)]
        step, made = self.settings.max_dispatch_batch, 0
        for i in range(0, len(todo), step):
            if time.time() >= stop_at:
                break
            for item in self.store.load(todo[i : i + step]):
                made += self._prepare_one(item)
        return made

    def _prepare_one(self, item: DueJob | str) -> int:
        if isinstance(item, str) or not item.record.active or item.cursor.next_at is None:
            return 0
        if JobSpec.from_dict(item.record.spec).concurrency_policy is not ConcurrencyPolicy.ALLOW:
            return 0
        at = datetime.fromtimestamp(item.cursor.next_at, UTC)
        d = self._decide(item, at)
        if d is None or len(d.invocations) != 1 or d.history or d.counters:
            return 0
        d.data = [self.store._data(inv) for inv in d.invocations]
        deadline = JobSpec.from_dict(item.record.spec).starting_deadline.total_seconds()
        until = min(float(d.next_at) if d.next_at is not None else float("inf"), item.cursor.next_at + deadline)
        self.prepared[item.name] = (d, until)
        return 1

    def _decide(
        self, item: DueJob | str, now: datetime, suspended: dict[str, Suspension] | None = None
    ) -> Dispatch | None:
        if isinstance(item, str) or not item.record.active or item.cursor.next_at is None:
            self.store.drop(item if isinstance(item, str) else item.name)
            return None
        record = item.record
        spec = JobSpec.from_dict(record.spec)
        schedule = Schedule(spec.timing, item.created_at)
        cursor = Occurrence(datetime.fromtimestamp(item.cursor.next_at, UTC), item.cursor.number)
        running = self.store.running(item.name) if spec.concurrency_policy is not ConcurrencyPolicy.ALLOW else None
        d = decide(spec, schedule, cursor, now, running=running is not None, max_catch_up=self.settings.max_catch_up)
        suspension = (suspended or {}).get(item.name)
        if suspension is not None:
            d = _suspend(d)
        if d.stop_running and running:
            send_stop_job_command(self.store.r, running)
        key = JobKey.parse(item.name)
        invs = [
            build_invocation(
                key,
                record.spec,
                occ,
                generation=record.generation,
                git_sha=record.git_sha or None,
                final=d.last_is_final and i == len(d.run) - 1,
                region=self.settings.region,
                collection_max=self._collection_limit(record.spec, key.collection),
            )
            for i, occ in enumerate(d.run)
        ]
        history = [self._entry(key, o, "missed", now, item) for o in d.missed[-MAX_MISSED_ENTRIES:]]
        why = f"skipped: {suspension.describe()}" if suspension else None
        history += [self._entry(key, o, "skipped", now, item, why) for o in d.skipped]
        return Dispatch(
            item,
            invs,
            d.next.epoch if d.next else None,
            d.next.number if d.next else 0,
            self._next_runs(d, schedule),
            iso(d.run[-1].at) if d.run else None,
            self._counters(d),
            history,
        )

    def _next_runs(self, d: Decision, schedule: Schedule) -> list[int]:
        if d.next is None:
            return []
        return [d.next.epoch, *(o.epoch for o in schedule.upcoming(self.settings.next_runs_shown - 1, after=d.next))]

    @staticmethod
    def _counters(d: Decision) -> dict[str, int]:
        counters = {}
        if d.missed or d.uncounted_missed:
            counters[D_MISSED_COUNT] = len(d.missed) + d.uncounted_missed
        if d.skipped:
            counters[D_SKIPPED_COUNT] = len(d.skipped)
        return counters

    def _entry(
        self, key: JobKey, occ: Occurrence, status: HistoryStatus, now: datetime, due: DueJob, why: str | None = None
    ) -> HistoryEntry:
        why = why or (
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
            git_sha=due.record.git_sha or None,
            generation=due.record.generation,
        )

    # --- operator overrides (controller.state.overrides): run-now ------------------------------
    # A run-now is one extra invocation through the normal path (RQ, worker, history) that does
    # not move the schedule, its cursor or count (reference §7.4). Crash window: enqueue first
    # (deterministic id, RQ unique), then drop the request; a crash in between re-enqueues the
    # same id on the next pass, which RQ absorbs.
    def _run_now(self) -> int:
        if self.lease is not None and not self.lease.held():
            return 0
        overrides = OverrideStore(self.store.r, self.store.keys)
        enqueued = 0
        for req in overrides.pending_runs():
            inv = self._manual_invocation(req)
            if inv is not None and self.store.enqueue(inv):
                enqueued += 1
                log.info("run-now: enqueued %s (asked by %s: %s)", inv.id, req.by, req.reason)
            overrides.done_run(req.id)
        return enqueued

    def _manual_invocation(self, req: RunRequest) -> Invocation | None:
        job = self.store.job_for_run_now(req.job)
        if job is None:
            log.warning("run-now: %s no longer exists; request %s dropped", req.job, req.id)
            return None
        at = datetime.fromisoformat(req.at.replace("Z", "+00:00"))
        inv = build_invocation(
            JobKey.parse(req.job),
            job.spec,
            Occurrence(at, 0),  # repeatCount 0: outside the schedule's count
            generation=job.generation,
            git_sha=job.git_sha or None,
            final=False,
            region=self.settings.region,
            collection_max=self._collection_limit(job.spec, JobKey.parse(req.job).collection),
        )
        trigger = {"kind": "manual", "reason": req.reason, "by": req.by, "requestedAt": req.at}
        return replace(inv, id=f"{inv.id}-{req.invocation_suffix}", trigger=trigger)

    def _collection_limit(self, spec: Mapping[str, Any], collection: str) -> int | None:
        """The collection's maxConcurrentCalls for a job without its own, read from the collection's
        record at most every ``LIMIT_TTL`` s (a change reaches invocations dispatched after that)."""
        if spec.get("maxConcurrentCalls"):
            return None
        now = time.monotonic()
        hit = self._limits.get(collection)
        if hit is not None and now < hit[1]:
            return hit[0]
        raw = self.store.r.hget(self.store.keys.collection(collection), K_SPEC)
        try:
            value = json.loads(raw).get("maxConcurrentCalls") if raw else None
        except (ValueError, AttributeError):
            value = None
        limit = int(value) if isinstance(value, int) and value >= 1 else None
        self._limits[collection] = (limit, now + LIMIT_TTL)
        return limit

    def _leader(self) -> bool:
        return self.lease is None or self.lease.held()

    def run_forever(self, stop: threading.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        """Until ``stop``: pass, prepare, sleep on the poke. A Redis outage is waited out with
        backoff (one line when it starts, one when it ends); the cursors then catch up per the
        missed-run policy."""
        outage = Outage("dispatch", log)
        while not stop.is_set():
            if self.lease is not None and not self.lease.held():
                self.prepared.clear()  # a new term starts from what Redis says
                self._rev = None
                stop.wait(self._probe(outage) if outage.down else 0.2)  # standing by: still see an outage end
                continue
            try:
                now = clock()
                n = self.run_pass(now)
                outage.ok()
                if n:
                    log.info("dispatch: enqueued %d invocation(s)", n)
                earliest = self.store.earliest()
                if earliest is not None and earliest - now.timestamp() > 0.05 and self._leader():
                    self.prepare(now, stop_at=earliest - 0.01)
                    now = clock()
                wait = self.settings.max_sleep if earliest is None else earliest - now.timestamp()
                self.store.wait_for_poke(min(self.settings.max_sleep, max(0.0, wait)))
            except OUTAGE as e:
                self.prepared.clear()
                self._rev = None
                stop.wait(outage.failed(e))
            except Exception:
                log.exception("dispatch pass failed")
                stop.wait(1.0)

    def _probe(self, outage: Outage) -> float:
        """Ping Redis during an outage; the seconds to wait before looking again."""
        try:
            self.store.r.ping()
        except OUTAGE as e:
            return outage.failed(e)
        outage.ok()
        return 0.2


def _suspend(d: Decision) -> Decision:
    """Override: suspend. What would run is recorded as skipped; the cursor advances as usual."""
    return replace(d, skipped=d.skipped + d.run, run=[], stop_running=False)
