"""The sync loop: manifests → plan → desired state in Redis. Level-triggered and restartable.

Interface used by the runtime and the commands:

    SyncLoop(source, store: DesiredStore, settings).run_pass(now, prune=True) -> SyncReport
    SyncLoop.run_forever(stop: threading.Event, poke: threading.Event, clock)   # watch/poll driven

Each pass reads the whole source, plans against everything observed, and writes only what
changed, one atomic write per job. A source that cannot be read (missing directory, failed git
fetch) or that yields no valid document while jobs exist deletes nothing: invalid desired state
is not empty desired state.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from controller.core.plan import CREATED, DELETED, INVALID, REJECTED, UPDATED, Change, Plan, make_plan
from controller.core.quota import load_documents
from controller.core.recurrence import Occurrence, Schedule
from controller.settings import ControllerSettings
from controller.sources.base import Source, SourceError
from controller.state.desired import DesiredStore

log = logging.getLogger("cronplane.sync")
BATCH = 500  # job writes per MULTI round trip


@dataclass
class SyncReport:
    plan: Plan | None = None
    revision: str | None = None
    error: str | None = None
    written: list[str] = field(default_factory=list)


class SyncLoop:
    def __init__(self, source: Source, store: DesiredStore, settings: ControllerSettings):
        self.source, self.store, self.settings = source, store, settings

    def plan(self, now: datetime) -> tuple[Plan, str | None]:
        snapshot = self.source.read()
        desired = load_documents(snapshot.files, now)
        desired.problems[:0] = snapshot.problems
        observed = self.store.observed()
        plan = make_plan(desired, observed, now, prune_cap=self.settings.prune_cap)
        if observed and not desired.jobs and not snapshot.files:
            plan.prune_blocked = "the source holds no manifest; nothing was deleted"
        return plan, snapshot.revision

    def run_pass(self, now: datetime, prune: bool = True, allow_mass_delete: bool = False) -> SyncReport:
        try:
            plan, revision = self.plan(now)
        except SourceError as e:
            self.store.record_sync({"at": now.isoformat(), "result": "error", "error": str(e)})
            return SyncReport(error=str(e))
        mass_delete = plan.prune_blocked is not None and "holds no manifest" not in plan.prune_blocked
        if mass_delete and plan.of(DELETED) and (allow_mass_delete or self.store.take_prune_allowance()):
            plan.prune_blocked = None
        report = SyncReport(plan, revision)
        batch, pending = self.store.batch(), 0
        for change in plan.changes:
            if self._apply(change, now, revision, prune and not plan.prune_blocked, batch):
                report.written.append(change.key)
                pending += 1
            if pending >= BATCH:
                self.store.poke(batch)
                batch.execute()
                pending = 0
        self.store.poke(batch)
        batch.execute()
        self.store.record_sync(
            {
                "at": now.isoformat(),
                "result": "ok",
                "revision": revision or "",
                "pruneBlocked": plan.prune_blocked or "",
            }
        )
        return report

    def _apply(self, c: Change, now: datetime, revision: str | None, prune: bool, batch: Any) -> bool:
        if c.action in (INVALID, REJECTED):
            if c.observed is not None:
                reason = "; ".join(str(p) for p in c.problems[:3]) or "the manifest cannot be read"
                self.store.mark_stalled(c.key, f"{c.action}: {reason} (the last good spec keeps running)")
            return False
        if c.action == DELETED:
            if prune:
                self.store.delete_job(c.key)
            return prune
        if c.action not in (CREATED, UPDATED) or c.job is None:
            return False
        obs = c.observed
        reset = c.timing_changed or (obs is not None and c.active and not obs.active)
        created_at = now if c.timing_changed or obs is None else obs.created_at
        schedule = Schedule(c.job.spec.timing, created_at)
        cursor = schedule.first_at_or_after(now) if reset and obs is not None else schedule.first()
        if not reset:
            cursor = None
        next_runs = self._next_runs(schedule, cursor, now) if c.active else []
        self.store.put_job(
            c.job,
            generation=(obs.generation + 1) if obs else 1,
            created_at=created_at,
            active=c.active,
            git_sha=revision,
            cursor=cursor,
            reset_cursor=reset,
            next_runs=next_runs,
            batch=batch,
        )
        return True

    def _next_runs(self, schedule: Schedule, cursor: Occurrence | None, now: datetime) -> list[datetime]:
        first = cursor or schedule.first_at_or_after(now)
        if first is None:
            return []
        return [first.at, *(o.at for o in schedule.upcoming(self.settings.next_runs_shown - 1, after=first))]

    def run_forever(
        self, stop: threading.Event, poke: threading.Event, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        """Pass on every poke (debounced) and at least every resync interval."""
        while not stop.is_set():
            try:
                report = self.run_pass(clock())
                if report.error:
                    log.warning("sync: %s", report.error)
                elif report.written:
                    log.info("sync: wrote %s", ", ".join(report.written))
            except Exception:  # a pass must never kill the loop; the next one retries
                log.exception("sync pass failed")
            poke.wait(self.settings.resync_interval)
            if poke.is_set():
                time.sleep(self.settings.debounce)  # let a burst of events (atomic renames) settle
                poke.clear()
