"""``cronplane worker``: run the workers that perform invocations (see ``worker.cli``)."""

from __future__ import annotations

import argparse
from typing import Any

from controller.commands.common import redis_url, redis_url_arg, require_listen, tcp_port
from controller.errors import CronplaneError, UsageError
from worker.cli import CliError, run_worker
from worker.contract import DEFAULT_QUEUE

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def register(sub: Any) -> None:
    p = sub.add_parser("worker", help="run workers (RQ workers) that perform invocations, many at once")
    p.add_argument("--queues", nargs="+", help="queues to listen on (default: cronplane)")
    p.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    redis_url_arg(p)
    p.add_argument("--name", help="worker name (default: random; <name>-<n> per process)")
    p.add_argument("--processes", type=int, help="worker processes (default: one per core)")
    p.add_argument(
        "--concurrency", type=int, help="invocations in flight per process (default 100; $CRONPLANE_WORKER_CONCURRENCY)"
    )
    p.add_argument(
        "--grace",
        type=float,
        help="seconds a stopping worker lets invocations finish before handing them back (default 10; "
        "$CRONPLANE_WORKER_GRACE)",
    )
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument(
        "--log-level", type=str.upper, choices=LEVELS, default="INFO", help="default INFO: a line per attempt"
    )
    verbosity.add_argument("--quiet", action="store_true", help="only failures and warnings (--log-level WARNING)")
    p.add_argument("--metrics-port", type=tcp_port, help="serve /metrics, /healthz and /readyz on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    level = "WARNING" if args.quiet else args.log_level
    if args.metrics_port:
        start_probes(args)
    try:
        return run_worker(
            redis_url(args), args.queues, args.burst, args.name, args.processes, args.concurrency, level, args.grace
        )
    except CliError as e:
        raise (UsageError if e.code == 2 else CronplaneError)(str(e)) from None


def start_probes(args: argparse.Namespace) -> None:
    """The worker's /metrics (the shared records in Redis, and the due → started lateness the
    work horses keep there), /healthz and /readyz (Redis reachable)."""
    from controller.observability import Probes, register_redis, serve_probes
    from controller.state.keys import ControllerKeys
    from worker.redis_url import redis_from_url
    from worker.settings import WorkerSettings

    require_listen(args.metrics_host, args.metrics_port, "--metrics-port")
    settings = WorkerSettings.from_env(redis_url=redis_url(args))
    client = redis_from_url(settings.redis_url)
    register_redis(client, ControllerKeys(settings.keys.prefix), (args.queues or [DEFAULT_QUEUE])[0])
    serve_probes(args.metrics_host, args.metrics_port, Probes({"redis": client.ping}))
