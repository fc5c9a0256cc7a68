"""The sync loop: source → desired state → plan → apply. Level-triggered and restartable.

Interface used by the runtime and the commands:

    SyncLoop(source, store, settings).plan(now, options) -> Plan        # plan, apply --dry-run
    SyncLoop.run_pass(now, options) -> SyncReport                       # apply, every controller pass
    SyncLoop.run_forever(stop, poke, clock)                             # watch/poll driven

``plan`` and ``run_pass`` build the plan with the same function and the same inputs; a pass then
writes exactly the plan's rows (``DesiredStore.apply``) and the sync record, which lists every
problem with file:line. Problems are logged once when they appear or change, and once when they
clear, not on every pass. A source that cannot be read is a problem too and deletes nothing.

Cost follows change (design §3): a loop keeps three memories, each in front of or inside a pure
function and none deciding anything — the source's file cache (unchanged mtime/size/inode: not
read), the loader's per-file parse memo (unchanged bytes: not parsed or validated) and the
store's observation (re-read from the change log only where something was written), and the
planner's memo of rows that cannot depend on the clock. A resync of unchanged manifests is one
``stat`` per file and a walk over the keys; an edit among 100,000 files costs that one file.
A Redis outage is waited out with backoff (``controller.reconnect``: one line when it starts,
one when it ends); the store's observation is dropped, so the pass after it reads Redis anew.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from controller.core.quota import Loader, load_documents
from controller.core.reconcile.plan import RowMemo, make_plan
from controller.core.reconcile.render import headline
from controller.core.reconcile.rows import Desired, Plan, PlanOptions
from controller.reconnect import OUTAGE, Outage
from controller.settings import ControllerSettings
from controller.sources.base import Source, SourceError
from controller.state.desired import DesiredStore
from controller.state.sync_record import ERROR, OK, PROBLEMS, SyncProblem, SyncRecord

if TYPE_CHECKING:
    from controller.sources.watch import Changes

log = logging.getLogger("cronplane.sync")


@dataclass
class SyncReport:
    plan: Plan
    written: list[str] = field(default_factory=list)


def read_desired(
    source: Source, now: datetime, loader: Loader | None = None, changed: set[str] | None = None
) -> Desired:
    """The source's manifests, validated; a source that cannot be read is ``unreadable``.
    ``changed``: the paths a watcher saw change since the last read (the rest is unchanged)."""
    try:
        incremental = getattr(source, "read_changed", None)
        snapshot = incremental(changed) if changed is not None and incremental is not None else source.read()
    except SourceError as e:
        return Desired(load_documents({}, now), None, str(e))
    desired = (loader or Loader()).load(snapshot.files, now)
    if snapshot.problems:  # never mutate the loader's result: it may be handed out again
        desired = replace(desired, problems=[*snapshot.problems, *desired.problems])
    return Desired(desired, snapshot.revision)


def sync_record(plan: Plan, now: datetime) -> SyncRecord:
    problems = tuple(
        SyncProblem(str(p), p.path, p.line, str(p.job) if p.job else None, p.collection, p.rejected)
        for p in plan.problems
    )
    result = ERROR if plan.unreadable else PROBLEMS if plan.has_errors else OK
    return SyncRecord(
        at=now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        result=result,
        revision=plan.revision or "",
        error=plan.unreadable or "",
        prune=plan.prune.outcome.name.lower(),
        prune_message=plan.prune.message,
        problems=problems,
    )


class SyncLoop:
    def __init__(self, source: Source, store: DesiredStore, settings: ControllerSettings):
        self.source, self.store, self.settings = source, store, settings
        self._reported: set[str] = set()
        self.loader, self.memo = Loader(), RowMemo()
        self.after_pass: Callable[[], None] = lambda: None

    def options(self, *, prune: bool = True, allow_mass_delete: bool = False) -> PlanOptions:
        return PlanOptions(
            prune=prune,
            prune_cap=self.settings.prune_cap,
            allow_mass_delete=allow_mass_delete,
            next_runs_kept=self.settings.next_runs_shown,
        )

    def plan(self, now: datetime, options: PlanOptions | None = None, changed: set[str] | None = None) -> Plan:
        desired = read_desired(self.source, now, self.loader, changed)
        return make_plan(desired, self.store.observed(), now, options or self.options(), self.memo)

    def run_pass(
        self, now: datetime, options: PlanOptions | None = None, changed: set[str] | None = None
    ) -> SyncReport:
        plan = self.plan(now, options, changed)
        written = self.store.apply(plan)
        self.store.record_sync(sync_record(plan, now))
        return SyncReport(plan, written)

    def report(self, report: SyncReport) -> None:
        """Log what the pass wrote, and each problem once when it appears (and when it clears)."""
        plan = report.plan
        current = {str(p) for p in plan.problems}
        if plan.unreadable:
            current.add(f"source: {plan.unreadable}")
        if plan.prune.blocked:
            current.add(f"prune {plan.prune.outcome.value}: {plan.prune.message}")
        for line in sorted(current - self._reported):
            log.warning("sync: %s", line)
        for line in sorted(self._reported - current):
            log.info("sync: resolved: %s", line)
        self._reported = current
        if report.written:
            log.info("sync: %s (wrote %s)", headline(plan), _names(report.written))

    def run_forever(
        self,
        stop: threading.Event,
        poke: threading.Event,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        changes: Changes | None = None,
    ) -> None:
        """Pass on every poke (debounced) and at least every resync interval. With ``changes``
        (the watcher's), a poked pass re-reads only the paths that changed; the periodic resync
        re-reads everything (it is what catches a lost event)."""
        changed: set[str] | None = None
        outage = Outage("sync", log)
        while not stop.is_set():
            try:
                self.report(self.run_pass(clock(), changed=changed))
                outage.ok()
            except OUTAGE as e:  # Redis is unreachable: back off, then a full pass from Redis
                self.store.forget()
                changed = None
                stop.wait(outage.failed(e))
                continue
            except Exception:  # a pass must never kill the loop; the next one retries
                log.exception("sync pass failed")
                changed = None
            self.after_pass()
            poked = poke.wait(self.settings.resync_interval)
            if poked:
                time.sleep(self.settings.debounce)  # let a burst of events (atomic renames) settle
                poke.clear()
            changed = changes.take() if changes is not None and poked else None
            if changes is not None and not poked:
                changes.take()  # a full pass covers whatever was recorded


def _names(keys: list[str], shown: int = 10) -> str:
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return ", ".join(keys[:shown]) + more
