"""Prometheus metrics and health probes for every long-running process (serve, controller, worker).

Two kinds of metrics:

- **From Redis at scrape time** (``RedisCollector``), the same for whichever process is scraped:
  invocations by job and outcome, missed and skipped occurrences, retries, a per-job
  last-success timestamp (alert on a run that did not happen), queue depth, leader presence, the
  last sync pass, and the due → started lateness histogram the workers keep in Redis (a forking
  worker's work horse cannot keep an in-memory metric).
- **In-process** (the controller): due → enqueued lateness, sync pass duration and errors,
  whether this process holds the lease. ``instrument`` wraps the controller's loops' entry
  points on the instances, so the loops themselves stay free of metric code.

``/healthz`` answers while the process runs; ``/readyz`` runs the process's checks (Redis
reachable, the controller's loops alive). ``serve_probes`` serves all three on a port for the
controller and the workers; ``cronplane serve`` has them on its API port.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from controller.state.keys import ControllerKeys
from controller.state.reader import StatusReader
from worker.contract import LATENESS_BUCKETS
from worker.records import (
    D_MISSED_COUNT,
    D_SKIPPED_COUNT,
    W_EXECUTION_COUNT,
    W_FAILURE_COUNT,
    W_FAULTED_COUNT,
    W_LAST_SUCCESS_TIME,
    W_RETRY_COUNT,
)

DISPATCH_LATENESS = Histogram(
    "cronplane_due_to_enqueued_seconds",
    "Seconds from an occurrence's due time to its enqueue",
    buckets=LATENESS_BUCKETS,
)
SYNC_SECONDS = Histogram("cronplane_sync_pass_seconds", "Duration of a sync pass")
SYNC_ERRORS = Counter("cronplane_sync_errors_total", "Sync passes that failed (unreadable source, crash)")
LEADER = Gauge("cronplane_lease_held", "1 while this controller holds the dispatch lease")


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RedisCollector(Collector):
    """Metrics derived from the shared Redis records at scrape time (bounded by the job count)."""

    def __init__(self, client: redis.Redis, keys: ControllerKeys, queue: str):
        self.r, self.keys, self.queue = client, keys, queue

    def collect(self) -> Iterator[Any]:
        try:
            yield from self._collect()
        except redis.RedisError:
            up = GaugeMetricFamily("cronplane_redis_up", "1 when Redis answered the scrape")
            up.add_metric([], 0)
            yield up

    def _collect(self) -> Iterator[Any]:
        reader = StatusReader(self.r, self.keys)
        statuses = reader.statuses(reader.job_names())
        invocations = CounterMetricFamily(
            "cronplane_invocations", "Attempts by job and outcome", labels=["job", "outcome"]
        )
        missed = CounterMetricFamily(
            "cronplane_missed_occurrences", "Occurrences missed (later than the deadline)", labels=["job"]
        )
        skipped = CounterMetricFamily(
            "cronplane_skipped_occurrences", "Occurrences skipped (forbid, suspend)", labels=["job"]
        )
        retries = CounterMetricFamily("cronplane_retries", "Retry attempts", labels=["job"])
        success = GaugeMetricFamily(
            "cronplane_last_success_timestamp_seconds", "When the job last succeeded (epoch s)", labels=["job"]
        )
        for st in statuses:
            job, total, failed = st.name, st.counter(W_EXECUTION_COUNT), st.counter(W_FAILURE_COUNT)
            invocations.add_metric([job, "completed"], total - failed)
            invocations.add_metric([job, "failed"], failed)
            invocations.add_metric([job, "faulted"], st.counter(W_FAULTED_COUNT))
            missed.add_metric([job], st.counter(D_MISSED_COUNT))
            skipped.add_metric([job], st.counter(D_SKIPPED_COUNT))
            retries.add_metric([job], st.counter(W_RETRY_COUNT))
            when = _epoch(st.fields.get(W_LAST_SUCCESS_TIME))
            if when is not None:
                success.add_metric([job], when)
        yield from (invocations, missed, skipped, retries, success)
        yield from self._cluster()

    def _cluster(self) -> Iterator[Any]:
        depth = GaugeMetricFamily("cronplane_queue_depth", "Invocations waiting in the RQ queue", labels=["queue"])
        depth.add_metric([self.queue], int(self.r.llen(f"rq:queue:{self.queue}")))
        leader = GaugeMetricFamily("cronplane_leader_present", "1 when some controller holds the dispatch lease")
        leader.add_metric([], 1 if self.r.exists(self.keys.lease()) else 0)
        sync = StatusReader(self.r, self.keys).last_sync()
        last = GaugeMetricFamily("cronplane_sync_last_pass_ok", "1 when the last sync pass read its source")
        last.add_metric([], 1 if sync is not None and sync.result != "error" else 0)
        up = GaugeMetricFamily("cronplane_redis_up", "1 when Redis answered the scrape")
        up.add_metric([], 1)
        yield from (depth, leader, last, up, self._lateness())

    def _lateness(self) -> HistogramMetricFamily:
        raw = {_s(k): float(v) for k, v in self.r.hgetall(self.keys.lateness()).items()}
        buckets = [(str(b), raw.get(f"le:{b}", 0.0)) for b in LATENESS_BUCKETS] + [("+Inf", raw.get("count", 0.0))]
        h = HistogramMetricFamily("cronplane_due_to_started_seconds", "Seconds from due time to a worker starting it")
        h.add_metric([], buckets, sum_value=raw.get("sum", 0.0))
        return h


def register_redis(
    client: redis.Redis, keys: ControllerKeys, queue: str, registry: CollectorRegistry = REGISTRY
) -> None:
    registry.register(RedisCollector(client, keys, queue))


def metrics_response() -> Any:
    from fastapi.responses import Response

    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


class Probes:
    """Named readiness checks; each returns True when healthy."""

    def __init__(self, checks: Mapping[str, Callable[[], bool]]):
        self.checks = dict(checks)

    def results(self) -> dict[str, str]:
        out = {}
        for name, check in self.checks.items():
            try:
                out[name] = "ok" if check() else "failing"
            except Exception as e:  # a probe answers, whatever the check raised
                out[name] = f"failing: {e.__class__.__name__}"
        return out

    def ready(self) -> tuple[int, bytes]:
        results = self.results()
        ok = all(v == "ok" for v in results.values())
        return (200 if ok else 503), json.dumps({"status": "ok" if ok else "failing", "checks": results}).encode()

    def ready_response(self) -> Any:
        from fastapi.responses import Response

        status, body = self.ready()
        return Response(body, status_code=status, media_type="application/json")


def serve_probes(host: str, port: int, probes: Probes) -> ThreadingHTTPServer:
    """/metrics, /healthz and /readyz on a daemon thread (controller, worker)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                status, body, kind = 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
            elif self.path == "/healthz":
                status, body, kind = 200, b'{"status": "ok"}', "application/json"
            elif self.path == "/readyz":
                (status, body), kind = probes.ready(), "application/json"
            else:
                status, body, kind = (
                    404,
                    b'{"error": {"code": "ResourceNotFound", "message": "no such path"}}',
                    "application/json",
                )
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True, name="probes").start()
    return server


def instrument(controller: Any) -> None:
    """Time the controller's sync passes and dispatch enqueues (wraps them on the instances)."""
    sync, store, lease = controller.sync, controller.dispatcher.store, controller.lease
    run_pass, commit, enqueue, held = sync.run_pass, store.commit, store.enqueue, lease.held

    def timed_pass(*args: Any, **kwargs: Any) -> Any:
        start = time.monotonic()
        try:
            report = run_pass(*args, **kwargs)
        except Exception:
            SYNC_ERRORS.inc()
            raise
        finally:
            SYNC_SECONDS.observe(time.monotonic() - start)
        if report.plan.unreadable:
            SYNC_ERRORS.inc()
        return report

    def lateness(invs: Any) -> None:
        now = time.time()
        for inv in invs:
            DISPATCH_LATENESS.observe(max(0.0, now - inv.expected))

    def timed_commit(batch: Any, *args: Any) -> Any:
        ok = commit(batch, *args)
        if ok:
            lateness(inv for d in batch for inv in d.invocations)
        return ok

    def timed_enqueue(inv: Any) -> Any:
        done = enqueue(inv)
        if done:
            lateness([inv])
        return done

    def leader() -> bool:
        value = bool(held())
        LEADER.set(1 if value else 0)
        return value

    sync.run_pass, store.commit, store.enqueue, lease.held = timed_pass, timed_commit, timed_enqueue, leader
