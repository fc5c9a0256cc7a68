"""Every Redis key the controller uses, and the fields it keeps in them, in one place.

Keys shared with workers (status, history, running markers) come from ``worker.contract.Keys``;
this class adds the controller's own. ``prefix`` isolates installations (and tests).

Layout (``{job}`` is ``<collection>/<name>``):

    {p}:jobs                 SET   every job in the desired state
    {p}:job:{job}            HASH  desired state, written by the sync loop only:
                                   spec (canonical JSON), specHash, timingHash, generation,
                                   createdAt (epoch s: the schedule's creation instant for this
                                   timing generation), active ("1" = dispatchable: job enabled,
                                   collection enabled), collection, source ("path:line"), gitSha,
                                   labels (JSON), stalled (reason, when the manifest is invalid)
    {p}:collections          SET   collection names
    {p}:collection:{name}    HASH  spec (JSON), specHash, state, source, gitSha
    {p}:sched:{job}          HASH  dispatch cursor: nextAt (epoch s), number (occurrence number of
                                   nextAt), generation (the job generation it was computed for)
    {p}:due                  ZSET  job -> nextAt: the due index the dispatch loop sleeps on
    {p}:fired:{invocation}   STRING marker "an occurrence was enqueued", with a TTL longer than
                                   any replay window (lease + starting deadline + catch-up)
    {p}:lease                STRING dispatch lease: owner id, PX expiry
    {p}:poke                 LIST  wake-ups for the dispatch loop (BLPOP)
    {p}:sync                 HASH  last sync pass: at, revision, result, pruneBlocked reason
    {p}:prune-allowed        STRING set by an operator to allow one over-cap prune
    {p}:run-now              HASH  pending run-now requests: request id -> JSON {job, reason, by, at};
                                   the dispatch loop enqueues each once, then removes it
    {p}:suspend:{job}        STRING operator override "suspended": JSON {reason, by, until}, with a
                                   TTL, so it expires by itself (controller.state.overrides)
    {p}:suspend-collection:{name}  the same for a whole collection

Status fields the controller writes into ``worker.contract.Keys.status(job)``: condition
(Ready|Stalled|Disabled|Completed|Faulted), reason, nextRuns (JSON list of ISO instants),
nextExecutionTime, lastScheduleTime, missedCount, skippedCount, observedGeneration, source, gitSha.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.contract import Keys


@dataclass(frozen=True)
class ControllerKeys(Keys):
    def jobs(self) -> str:
        return f"{self.prefix}:jobs"

    def collections(self) -> str:
        return f"{self.prefix}:collections"

    def sched(self, job: str) -> str:
        return self.cursor(job)

    def due(self) -> str:
        return f"{self.prefix}:due"

    def fired(self, invocation_id: str) -> str:
        return f"{self.prefix}:fired:{invocation_id}"

    def lease(self) -> str:
        return f"{self.prefix}:lease"

    def poke(self) -> str:
        return f"{self.prefix}:poke"

    def sync(self) -> str:
        return f"{self.prefix}:sync"

    def prune_allowed(self) -> str:
        return f"{self.prefix}:prune-allowed"

    # Operator overrides (run-now, expiring suspends): not desired state, so not in manifests.
    def run_now(self) -> str:
        return f"{self.prefix}:run-now"

    def suspend(self, job: str) -> str:
        return f"{self.prefix}:suspend:{job}"

    def suspend_collection(self, name: str) -> str:
        return f"{self.prefix}:suspend-collection:{name}"


# Conditions (Flux/Kubernetes style), written to the status hash.
READY = "Ready"
STALLED = "Stalled"
DISABLED = "Disabled"
COMPLETED = "Completed"
FAULTED = "Faulted"
