"""Controller at scale, at 1,000 / 10,000 / 100,000 jobs (``CRONPLANE_BENCH_SCALES``):

1. Sync costs what changed — in process, the very SyncLoop the sync process runs: cold apply,
   a resync of unchanged manifests (median of 3), one edited file among all of them; the cold
   apply's planning half (read, parse, validate and plan everything: what every resync cost
   before) is the baseline of the resync ratio. Redis bytes per job.
2. The real ``cronplane controller --manifests DIR`` process: RSS (controller + sync process)
   once synced; an edit of one file → the job record changed in Redis (watch + debounce + pass).
3. At the largest scale only: CPU seconds of the whole process tree over an idle minute (nothing
   due) and Redis commands in that minute; lease renewal gaps seen from this process (polling the
   key's PTTL every 10 ms) while the controller re-parses every manifest (all contents changed,
   to a schedule of every minute: the heaviest sync there is); then, once that has settled and
   the dispatcher has caught up, every job every minute, spread over the minute (about N/60
   occurrences a second): due → enqueued p50/p99 over ``CRONPLANE_BENCH_SPREAD`` seconds (30).
"""

from __future__ import annotations

import gc
import itertools
import os
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from benchmarks.proc import (
    EVERY_MINUTE,
    controller,
    cpu_seconds,
    median,
    rss_bytes,
    start_redis,
    stop,
    synced_after,
    wait,
    write_manifests,
)
from controller.settings import ControllerSettings
from controller.sources.directory import DirectorySource
from controller.state.desired import DesiredStore
from controller.sync import SyncLoop, no_collections, sync_record

FAR = datetime(2035, 1, 1, tzinfo=UTC).timestamp()  # nothing due while measuring sync and idle
NOW = datetime(2034, 12, 31, 23, 0, tzinfo=UTC)


def sync_costs(client: redis.Redis, root: Path, n: int) -> dict[str, float]:
    client.flushall()
    settings = ControllerSettings()
    before = int(client.info("memory")["used_memory"])
    sync = SyncLoop(DirectorySource(str(root)), DesiredStore(client, settings.keys, remember=True), settings)
    gc.collect()
    t = time.perf_counter()
    with no_collections():  # as run_pass does; its plan half is timed alone
        plan = sync.plan(NOW)  # read, parse, validate and plan everything: what every resync cost before
        full = time.perf_counter() - t
        written = sync.store.apply(plan)
        sync.store.record_sync(sync_record(plan, NOW))
    cold = time.perf_counter() - t
    assert len(written) == n and not plan.has_errors, plan.problems[:3]
    per_job = (int(client.info("memory")["used_memory"]) - before) / n
    del plan
    gc.freeze()  # as the sync process does after every pass (its memories are long-lived)
    resyncs = []
    for _ in range(4):
        t = time.perf_counter()
        assert sync.run_pass(NOW).written == []
        resyncs.append(time.perf_counter() - t)
        gc.freeze()
    resyncs = resyncs[1:]  # the first re-reads what the cold apply wrote (the change log names it all)
    edited = root / "job-000007.yaml"
    edited.write_text(edited.read_text().replace('body: "x"', 'body: "edited"'))
    t = time.perf_counter()
    written = sync.run_pass(NOW).written
    edit = time.perf_counter() - t
    assert written == ["bench-0/job-7"], written
    edited.write_text(edited.read_text().replace('body: "edited"', 'body: "x"'))
    sync.run_pass(NOW)
    return {"cold": cold, "full": full, "resync": median(resyncs), "edit": edit, "bytes": per_job}


def start_synced(url: str, client: redis.Redis, root: Path, tmp: Path, n: int) -> tuple[object, float]:
    client.delete("cp:sync")  # the in-process passes recorded themselves as of NOW (2034)
    started = time.time()
    proc = controller(url, root, tmp / "controller.log")
    if not wait(lambda: synced_after(client, started + 1) and client.get("cp:lease") is not None, 600, step=0.2):
        raise RuntimeError("the controller did not finish its first pass")
    return proc, time.time() - started


def edit_latency(client: redis.Redis, root: Path) -> float:
    key = "cp:job:bench-0/job-3"
    edited = root / "job-000003.yaml"
    time.sleep(1.0)
    before = client.hget(key, "spec")
    t = time.perf_counter()
    edited.write_text(edited.read_text().replace('body: "x"', 'body: "seen"'))
    wait(lambda: client.hget(key, "spec") != before, 30, step=0.002)
    latency = time.perf_counter() - t
    edited.write_text(edited.read_text().replace('body: "seen"', 'body: "x"'))
    return latency


def idle(client: redis.Redis, pid: int, seconds: float) -> tuple[float, int]:
    time.sleep(3)
    cpu0, cmds0 = cpu_seconds(pid), int(client.info("stats")["total_commands_processed"])
    time.sleep(seconds)
    cpu1, cmds1 = cpu_seconds(pid), int(client.info("stats")["total_commands_processed"])
    return cpu1 - cpu0, cmds1 - cmds0 - 1  # less this process's own INFO


def heavy_rewrite(client: redis.Redis, root: Path, n: int) -> tuple[float, float, float]:
    """The heaviest sync there is, with the lease's PTTL polled every 10 ms: every manifest
    rewritten (all contents change: a full re-parse, N timing updates and cursor resets), to the
    spread schedule (every job every minute, start times spread over the minute). Returns (worst
    gap between renewals, the sync's duration, the lease TTL)."""
    key = "cp:lease"
    ttl = float(client.pttl(key)) / 1000
    renewals: list[float] = []
    done = threading.Event()

    def poll() -> None:
        last = client.pttl(key)
        renewals.append(time.monotonic())
        while not done.is_set():
            now_ttl = client.pttl(key)
            if now_ttl > last:
                renewals.append(time.monotonic())
            last = now_ttl
            time.sleep(0.01)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(1)
    started = time.time()
    base = float(int(started) + 5)
    write_manifests(root, n, lambda i: base + (i % 60), EVERY_MINUTE, body="rewritten")
    written = time.time()
    # settled: a pass that started after the last file was written has recorded itself (the
    # watcher pokes a pass for the last events; the periodic full pass would catch any it lost)
    wait(lambda: _all_recurring(client, n) and synced_after(client, written), 900, step=0.2)
    took = time.time() - started
    time.sleep(1)
    done.set()
    poller.join()
    gaps = [b - a for a, b in itertools.pairwise(renewals)]
    return max(gaps) if gaps else float("nan"), took, max(ttl, 10.0)


def _all_recurring(client: redis.Redis, n: int) -> bool:
    last = f"cp:job:bench-{(n - 1) // 1000}/job-{n - 1}"
    return all(b"recurrence" in (client.hget(k, "spec") or b"") for k in ("cp:job:bench-0/job-999", last))


def spread(client: redis.Redis, seconds: float) -> tuple[float, float, int]:
    """Every job every minute (``heavy_rewrite`` wrote them), start times spread over the minute;
    due → seen in the queue, measured clean: once the dispatcher has caught up with the
    occurrences that fell due while the rewrite was applied (nothing in the due index overdue)."""
    wait(lambda: client.zcount("cp:due", "-inf", time.time() - 2) == 0, 300, step=0.2)
    client.delete("rq:queue:cronplane")
    start = time.time() + 2
    wait(lambda: time.time() >= start, 10)
    seen = client.llen("rq:queue:cronplane")
    lateness: list[float] = []
    while time.time() < start + seconds:
        length = client.llen("rq:queue:cronplane")
        if length > seen:
            at = time.time()
            for job_id in client.lrange("rq:queue:cronplane", seen, length - 1):
                expected = int(job_id.decode().rsplit("-", 1)[1])
                if expected >= start:
                    lateness.append(at - expected)
            seen = length
        time.sleep(0.02)
    lateness.sort()
    if not lateness:
        return float("nan"), float("nan"), 0
    return lateness[len(lateness) // 2], lateness[int(len(lateness) * 0.99)], len(lateness)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    text = args[0] if args else os.environ.get("CRONPLANE_BENCH_SCALES", "1000,10000,100000")
    scales = [int(s) for s in text.split(",")]
    spread_s = float(os.environ.get("CRONPLANE_BENCH_SPREAD", "30"))
    idle_s = float(os.environ.get("CRONPLANE_BENCH_IDLE", "60"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="cronplane-scale-") as tmp_s:
        tmp = Path(tmp_s)
        proc, client, url = start_redis(tmp)
        try:
            for n in scales:
                root = tmp / f"m{n}"
                write_manifests(root, n, lambda i: FAR)
                costs = sync_costs(client, root, n)
                ctl, first = start_synced(url, client, root, tmp, n)
                try:
                    row = {"n": n, **costs, "rss": rss_bytes(ctl.pid), "first": first}  # type: ignore[attr-defined]
                    row["edit_proc"] = edit_latency(client, root)
                    if n == max(scales):
                        row["idle_cpu"], row["idle_cmds"] = idle(client, ctl.pid, idle_s)  # type: ignore[attr-defined]
                        row["gap"], row["heavy"], row["ttl"] = heavy_rewrite(client, root, n)
                        row["p50"], row["p99"], row["occ"] = spread(client, spread_s)
                finally:
                    stop(ctl)  # type: ignore[arg-type]
                rows.append(row)
                print(f"  {n} jobs done", flush=True)
        finally:
            stop(proc)
    report(rows, idle_s, spread_s)
    return 0


def report(rows: list[dict[str, float]], idle_s: float, spread_s: float) -> None:
    print("sync costs what changed (in process: the sync process's own SyncLoop); real controller process")
    head = f"{'jobs':>8}{'cold apply':>12}{'full pass':>11}{'resync':>9}{'ratio':>7}{'1 edit':>8}"
    print(head + f"{'edit->Redis':>13}{'Redis B/job':>13}{'RSS MiB':>9}")
    for r in rows:
        ratio = r["full"] / r["resync"]
        left = f"{int(r['n']):>8}{r['cold']:>11.2f}s{r['full']:>10.2f}s{r['resync']:>8.2f}s{ratio:>6.0f}x"
        right = f"{r['edit'] * 1000:>6.0f}ms{r['edit_proc'] * 1000:>11.0f}ms{r['bytes']:>13.0f}{r['rss'] / 2**20:>9.0f}"
        print(left + right)
    print("(full pass = the cold apply's read, parse, validate and plan of every manifest, what a resync cost")
    print(" before; ratio = full/resync)")
    big = rows[-1]
    if "idle_cpu" in big:
        n, share = int(big["n"]), big["idle_cpu"] / idle_s * 100
        print(
            f"idle, {n} jobs, nothing due: {big['idle_cpu']:.2f} CPU s over {idle_s:.0f} s = {share:.2f}% of one "
            f"core (target < 1%); {big['idle_cmds']:.0f} Redis commands in that window"
        )
        print(
            f"lease: worst renewal gap {big['gap']:.2f} s during a full re-parse of {n} manifests "
            f"({big['heavy']:.0f} s), TTL {big['ttl']:.0f} s (target < {big['ttl'] / 3:.2f} s)"
        )
        print(
            f"{n} jobs every minute, spread over the minute: due -> in the queue p50 {big['p50']:.3f} s, "
            f"p99 {big['p99']:.3f} s over {int(big['occ'])} occurrences in {spread_s:.0f} s (target p99 < 1 s)"
        )


if __name__ == "__main__":
    sys.exit(main())
