"""Every Redis key the controller uses, in one place; the records' fields are in ``worker.records``.

Keys shared with workers (job, cursor, status, collection, history, running markers) come from
``worker.contract.Keys``; this class adds the controller's own. ``prefix`` isolates
installations (and tests).

Layout (``{job}`` is ``<collection>/<name>``):

    {p}:jobs                 SET   every job in the desired state
    {p}:job:{job}            HASH  JobRecord: the desired state (sync writes it)
    {p}:sched:{job}          HASH  CursorRecord: the dispatch cursor (sync resets, dispatch advances)
    {p}:status:{job}         HASH  three writer sides with disjoint fields (``worker.records``);
                                   the condition is derived when read (``JobStatus``)
    {p}:collections          SET   collection names
    {p}:collection:{name}    HASH  CollectionRecord
    {p}:due                  ZSET  job -> nextAt: the due index the dispatch loop sleeps on
    {p}:fired:{invocation}   STRING marker "an occurrence was enqueued", with a TTL longer than
                                   any replay window (lease + starting deadline + catch-up)
    {p}:staged:{owner}:{invocation}  HASH  an RQ job record written ahead of its due time by the
                                   leader ``owner`` (a prepared dispatch), moved to rq:job:{invocation}
                                   and queued at the due time in one Lua step, or withdrawn; expires
                                   by itself. Per leader, so a deposed one never touches another's
    {p}:lease                STRING dispatch lease: owner id, PX expiry
    {p}:poke                 LIST  wake-ups for the dispatch loop (BLPOP)
    {p}:sync                 HASH  SyncRecord: the last sync pass (result, problems, prune decision)
    {p}:prune-allowed        STRING set by an operator to allow one over-cap prune
    {p}:run-now              HASH  pending run-now requests: request id -> JSON {job, reason, by, at};
                                   the dispatch loop enqueues each once, then removes it
    {p}:suspend:{job}        STRING operator override "suspended": JSON {reason, by, until}, with a
                                   TTL, so it expires by itself (controller.state.overrides)
    {p}:suspend-collection:{name}  the same for a whole collection

    {p}:desired-rev          STRING change-log revision: +1 per apply batch
    {p}:desired-log          STREAM capped change log: per apply batch, its revision and the job
                                   and collection names it wrote (observing re-reads only those)
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

    def staged(self, owner: str, invocation_id: str) -> str:
        return f"{self.prefix}:staged:{owner}:{invocation_id}"

    def desired_rev(self) -> str:
        return f"{self.prefix}:desired-rev"

    def desired_log(self) -> str:
        return f"{self.prefix}:desired-log"
