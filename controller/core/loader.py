"""``load_documents`` with a memory: the loader of a long-running sync loop. Pure (no I/O, no clock).

``Loader().load(files, now)`` *is* ``quota.load_documents(files, now)``, and a long-lived loader
returns an equal result for every sequence of inputs (a property test replays random edit
sequences against the plain function) while doing only the work an edit can change (design §3):

- a file whose bytes are those of its last parse (the same object, or equal content) is not
  parsed or validated again; its ``ParsedFile`` is kept without its position tables, which are
  rebuilt from the bytes only when a cross-file problem needs a line:column;
- the cross-file checks are kept per collection. Every rule but "duplicate collection name" is a
  rule over one collection's jobs (a job key names its collection: duplicates, the job count,
  quotas), so a collection is checked again only when an edit touches it — a file that holds or
  held one of its jobs changed, or its definition or usability changed (``_Coll``). When the
  edited files hold the same job names in the same order as before and no name repeats in the
  collection, every other job keeps its number in the collection, and only the edited jobs are
  checked again. An edit among 100,000 files touches that file's entries only;
- a job's quota findings are kept in a memo while its job and collection objects and its "over
  the count" position are the same; findings whose period is sampled from ``now`` (a
  ``schedule``, cron, rrule) are kept for the window of ``now`` in which the samples are the same
  (``quota.period_valid_until``: up to the first sampled occurrence, when the schedule's anchor
  does not move with ``now``), and a collection is checked again once ``now`` leaves the window
  of one of its jobs;
- the result's lists are concatenations of per-file pieces, and the valid jobs by key are an
  index kept up to date for the files whose valid jobs changed (``LoadResult.index``);
- when no file changed and nothing read ``now``, the last ``LoadResult`` itself is returned (so
  the planner can tell at a glance).

``parses`` counts the files parsed, ``checked`` the jobs whose quota findings were computed
(tests use both).
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
from collections.abc import Collection as Paths
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from controller.core import yamlpos
from controller.core.manifest import ParsedFile, Problem, parse_manifest
from controller.core.model import Collection, Job, JobKey, SourceRef
from controller.core.normalize import Path
from controller.core.quota import (
    Delta,
    LoadResult,
    Locate,
    QuotaCheck,
    _duplicate_collections,
    _job_quota,
    _period_uses_now,
    _start,
    check_collection,
    check_job,
    defined_collections,
    period_valid_until,
)

Key = tuple[str, int]  # a job's place in the load: (file path, index among the file's jobs)
Status = tuple[Collection | None, bool]  # a collection's definition and whether it is unusable
# job → (job, collection, "over the count" position, findings, the ``now`` window they hold for)
_QuotaMemo = dict[JobKey, tuple[Job, Collection, int, list[Problem], "Window | None"]]
Window = tuple[datetime, datetime]
T = TypeVar("T")
REORDER_INSERTS = 1000  # more new or removed files than this: sort the paths again


@dataclass
class _Coll:
    """One collection name's jobs in load order, with the findings computed for them."""

    keys: list[Key] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    found: list[list[Problem]] = field(default_factory=list)
    flagged: dict[Key, list[Problem]] = field(default_factory=dict)  # the jobs with findings
    status: Status | None = None  # what ``found`` was computed with
    repeats: bool = False  # a job key appears twice (positions are not index + 1)
    window: Window | None = None  # the ``now`` the findings hold for (None: any)
    memo: _QuotaMemo = field(default_factory=dict)

    def expired(self, now: datetime) -> bool:
        return self.window is not None and not self.window[0] <= now <= self.window[1]

    def narrow(self, window: Window | None) -> None:
        if window is not None:
            old = self.window or window
            self.window = (max(old[0], window[0]), min(old[1], window[1]))

    def splice(self, path: str, jobs: list[tuple[int, Job]]) -> tuple[int, bool]:
        """Replace the jobs of ``path`` with ``jobs``; returns where they start and whether their
        names are the ones that were there, in the same order."""
        lo = bisect.bisect_left(self.keys, (path, -1))
        hi = bisect.bisect_left(self.keys, (path, 1 << 62), lo)
        same = [j.key for j in self.jobs[lo:hi]] == [j.key for _, j in jobs]
        for key in self.keys[lo:hi]:
            self.flagged.pop(key, None)
        self.keys[lo:hi] = [(path, i) for i, _ in jobs]
        self.jobs[lo:hi] = [j for _, j in jobs]
        self.found[lo:hi] = [[] for _ in jobs]
        return lo, same

    def set_found(self, i: int, found: list[Problem]) -> None:
        self.found[i] = found
        if found:
            self.flagged[self.keys[i]] = found
        else:
            self.flagged.pop(self.keys[i], None)


class Loader:
    """``load_documents`` with a memory (module docstring)."""

    def __init__(self) -> None:
        self._reset()
        self.parses = self.checked = 0

    def _reset(self) -> None:
        self._files: dict[str, tuple[bytes, ParsedFile]] = {}
        self._order: list[str] = []  # the paths, sorted (the load order)
        self._colls: dict[str, _Coll] = {}
        self._defs: dict[str, list[Collection]] = {}  # files that define collections
        self._parse_problems: dict[str, list[Problem]] = {}
        self._warnings: dict[str, list[Problem]] = {}
        self._good: dict[str, list[Job]] = {}  # each file's valid jobs
        self._jobs: list[Job] = []  # every valid job, in load order
        self._job_paths: list[str] = []  # the file of each (sorted: the lists are spliced by bisect)
        self._index: dict[str, Job] = {}
        self._bad: set[JobKey] = set()
        self._last: LoadResult | None = None
        self._version = 0
        self._changed: set[str] = set()  # index keys changed since the last result

    def load(self, files: Mapping[str, bytes], now: datetime, hint: Paths[str] | None = None) -> LoadResult:
        """``hint``: the only paths at which ``files`` may differ from the last load's (a watcher's
        pass), so the others are not even looked at; None: any path may differ. A load that fails
        half way forgets everything (the next one starts cold) rather than keep half an update."""
        try:
            return self._load(files, now, hint)
        except BaseException:
            self._reset()
            raise

    def _load(self, files: Mapping[str, bytes], now: datetime, hint: Paths[str] | None) -> LoadResult:
        changed, removed = self._changes(files, hint)
        reads_now = any(c.expired(now) for c in self._colls.values())
        if not changed and not removed and self._last is not None and not reads_now:
            return self._last
        full: dict[str, ParsedFile] = {}  # parsed by this load, with their position tables
        edits: dict[str, tuple[ParsedFile | None, ParsedFile | None]] = {}
        for path in changed:
            before = self._files[path][1] if path in self._files else None
            after = self._parse(path, files[path], full)
            if after is not before:
                edits[path] = (before, after)
        for path in removed:
            edits[path] = (self._files.pop(path)[1], None)
        if not edits and self._last is not None and not reads_now:
            return self._last
        self._file_pieces(edits)
        locate = _locator(files, full)
        definitions = [c for p in sorted(self._defs) for c in self._defs[p]]
        collection_problems, duplicated = _duplicate_collections(definitions, locate)
        defined = defined_collections(definitions, duplicated)
        unusable = duplicated | {
            p.collection for ps in self._parse_problems.values() for p in ps if p.collection is not None
        }
        self._check(edits, defined, unusable, locate, now)
        flagged = sorted(
            itertools.chain.from_iterable(c.flagged.items() for c in self._colls.values()), key=lambda kv: kv[0]
        )
        problems = [
            *(p for path in sorted(self._parse_problems) for p in self._parse_problems[path]),
            *collection_problems,
            *(p for _, found in flagged for p in found),
        ]
        return self._result(edits, problems, definitions)

    def _changes(self, files: Mapping[str, bytes], hint: Paths[str] | None) -> tuple[list[str], list[str]]:
        """The paths whose bytes are not the last load's (new ones included), and the paths gone."""
        if hint is not None and self._last is not None:
            changed = [
                p for p in hint if p in files and ((hit := self._files.get(p)) is None or hit[0] is not files[p])
            ]
            removed = [p for p in hint if p not in files and p in self._files]
            added = sum(1 for p in changed if p not in self._files)
            if len(self._files) + added - len(removed) == len(files):
                return changed, removed
        changed = [p for p, data in files.items() if (hit := self._files.get(p)) is None or hit[0] is not data]
        added = sum(1 for p in changed if p not in self._files)
        removed = list(self._files.keys() - files.keys()) if len(self._files) + added > len(files) else []
        return changed, removed

    def _parse(self, path: str, data: bytes, full: dict[str, ParsedFile]) -> ParsedFile:
        hit = self._files.get(path)
        if hit is not None and hit[0] == data:
            self._files[path] = (data, hit[1])  # the same object next time: no comparison
            return hit[1]
        self.parses += 1
        parsed = parse_manifest(path, data)
        kept = dataclasses.replace(parsed, documents={})
        self._files[path] = (data, kept)
        full[path] = parsed
        return kept

    def _file_pieces(self, edits: Mapping[str, tuple[ParsedFile | None, ParsedFile | None]]) -> None:
        """The load order and the per-file pieces (definitions, parse problems, warnings)."""
        moved = [p for p, (before, after) in edits.items() if (before is None) != (after is None)]
        if len(moved) > REORDER_INSERTS:
            self._order = sorted(self._files)
        else:
            for path in moved:
                i = bisect.bisect_left(self._order, path)
                if path in self._files:
                    self._order.insert(i, path)
                else:
                    del self._order[i]
        for path, (_, after) in edits.items():
            _keep(self._defs, path, after.collections if after else [])
            _keep(self._parse_problems, path, after.problems if after else [])
            _keep(self._warnings, path, after.warnings if after else [])

    def _check(
        self,
        edits: Mapping[str, tuple[ParsedFile | None, ParsedFile | None]],
        defined: Mapping[str, Collection],
        unusable: set[str],
        locate: Locate,
        now: datetime,
    ) -> None:
        """Bring every collection's findings up to date; only touched collections are visited."""
        spliced: dict[str, list[tuple[int, int, bool]]] = {}  # collection → (start, count, same names)
        for path, (before, after) in edits.items():
            old = {j.key.collection for j in before.jobs} if before else set()
            new: dict[str, list[tuple[int, Job]]] = {}
            for i, j in enumerate(after.jobs if after else ()):
                new.setdefault(j.key.collection, []).append((i, j))
            for name in old | new.keys():
                c = self._colls.setdefault(name, _Coll())
                jobs = new.get(name, [])
                start, same = c.splice(path, jobs)
                spliced.setdefault(name, []).append((start, len(jobs), same))
        for name in list(self._colls.keys() | defined.keys()):
            c = self._colls.setdefault(name, _Coll())
            status = (defined.get(name), name in unusable)
            moved = spliced.get(name)
            kept = c.status is not None and c.status[0] is status[0] and c.status[1] == status[1]
            kept = kept and not c.expired(now)
            if kept and moved is None:
                continue
            if kept and not c.repeats and moved is not None and all(s for *_, s in moved):
                check = self._quota(c, c.memo, now)
                for start, count, _ in moved:
                    for i in range(start, start + count):
                        c.set_found(i, check_job(c.jobs[i], name, status[0], status[1], i + 1, locate, check))
                continue
            if not c.jobs and status[0] is None:
                del self._colls[name]
                continue
            memo: _QuotaMemo = {}
            c.window = None
            found, c.repeats = check_collection(c.jobs, name, status[0], status[1], locate, self._quota(c, memo, now))
            c.flagged.clear()
            for i, f in enumerate(found):
                c.set_found(i, f)
            c.memo, c.status = memo, status

    def _quota(self, c: _Coll, memo: _QuotaMemo, now: datetime) -> QuotaCheck:
        def check(job: Job, coll: Collection, position: int, at: Locate) -> list[Problem]:
            over = position if position > coll.quota.max_job_count else 0  # the message names it
            hit = c.memo.get(job.key)
            if hit is not None and hit[0] is job and hit[1] is coll and hit[2] == over:
                window = hit[4]
                if window is None or window[0] <= now <= window[1]:
                    memo[job.key] = hit
                    c.narrow(window)
                    return hit[3]
            self.checked += 1
            found = _job_quota(job, coll, position, now, at)
            # findings that sample the schedule from now hold while the samples are the same
            timing = job.spec.timing
            window = (now, period_valid_until(timing, now)) if _period_uses_now(timing) else None
            memo[job.key] = (job, coll, over, found, window)
            c.narrow(window)
            return found

        return check

    def _result(
        self,
        edits: Mapping[str, tuple[ParsedFile | None, ParsedFile | None]],
        problems: list[Problem],
        definitions: list[Collection],
    ) -> LoadResult:
        bad = {p.job for p in problems if p.job is not None}
        bad_colls = {p.collection for p in problems if p.collection is not None}
        self._refresh_good(set(edits) | self._paths_of(bad ^ self._bad), bad)
        self._bad = bad
        result = LoadResult(
            jobs=list(self._jobs),
            collections=[c for c in definitions if c.name not in bad_colls],
            problems=problems,
            files=list(self._order),
            warnings=[w for p in sorted(self._warnings) for w in self._warnings[p] if w.job not in bad],
            index=dict(self._index),
            delta=Delta(self, self._version + 1, frozenset(self._changed)),
        )
        self._version, self._changed = self._version + 1, set()
        self._last = result
        return result

    def _paths_of(self, keys: Iterable[JobKey]) -> set[str]:
        by_coll: dict[str, set[JobKey]] = {}
        for k in keys:
            by_coll.setdefault(k.collection, set()).add(k)
        out: set[str] = set()
        for name, wanted in by_coll.items():
            c = self._colls.get(name)
            if c is not None:
                out.update(key[0] for key, j in zip(c.keys, c.jobs, strict=True) if j.key in wanted)
        return out

    def _refresh_good(self, paths: set[str], bad: set[JobKey]) -> None:
        """The valid jobs of ``paths`` again, and the index with them."""
        fresh: dict[str, list[Job]] = {}
        for path in paths:
            for j in self._good.pop(path, ()):
                if self._index.get(name := str(j.key)) is j:
                    del self._index[name]
                    self._changed.add(name)
            if path in self._files:
                fresh[path] = [j for j in self._files[path][1].jobs if j.key not in bad]
        for path, jobs in fresh.items():
            self._good[path] = jobs
            for j in jobs:
                self._index[name := str(j.key)] = j
                self._changed.add(name)
        if len(paths) > REORDER_INSERTS:
            self._jobs = list(itertools.chain.from_iterable(self._good.get(p, ()) for p in self._order))
            self._job_paths = list(itertools.chain.from_iterable([p] * len(self._good.get(p, ())) for p in self._order))
            return
        for path in paths:
            jobs = fresh.get(path, [])
            lo = bisect.bisect_left(self._job_paths, path)
            hi = bisect.bisect_right(self._job_paths, path, lo)
            self._jobs[lo:hi] = jobs
            self._job_paths[lo:hi] = [path] * len(jobs)


def _keep(table: dict[str, list[T]], path: str, value: list[T]) -> None:
    if value:
        table[path] = value
    else:
        table.pop(path, None)


def _locator(files: Mapping[str, bytes], full: Mapping[str, ParsedFile]) -> Locate:
    """Line:column of a field: from this load's parses, or the bytes parsed again for positions."""
    documents = {(p.path, line): doc for p in full.values() for line, doc in p.documents.items()}
    again: set[str] = set()

    def locate(source: SourceRef | None, path: Path) -> tuple[int, int]:
        if source is None:
            return _start(source, path)
        if (source.path, source.line) not in documents and source.path in files and source.path not in again:
            again.add(source.path)
            for doc in yamlpos.load_documents(files[source.path])[0]:  # a kept parse: positions again
                documents[(source.path, doc.line)] = doc
        found = documents.get((source.path, source.line))
        return found.position(path) if found else _start(source, path)

    return locate
