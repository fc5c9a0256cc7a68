"""``cronplane controller``: the long-running GitOps controller (sync + dispatch)."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

from controller.commands.common import redis_url, redis_url_arg, require_listen, tcp_port
from controller.commands.next import parse_now
from controller.core.reconcile.render import headline
from controller.core.reconcile.rows import Plan
from controller.errors import PermanentError, UsageError
from controller.runtime import LEASE_TIMEOUT, Controller, connect, utcnow
from controller.settings import ControllerSettings
from controller.sources.base import Source
from controller.sources.directory import DirectorySource
from controller.sources.git import GitSource, checkout_dir


def register(sub: Any) -> None:
    p = sub.add_parser("controller", help="run the controller: sync manifests, dispatch due occurrences")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--manifests", metavar="PATH", action="append", help="directory (or file) of manifests, watched; repeatable"
    )
    src.add_argument("--git", metavar="REPO", help="repository URL or path; the controller keeps its own checkout")
    p.add_argument("--branch", help="git branch to follow (default main)")
    p.add_argument("--path", help="manifest directory inside the repository (default: all)")
    p.add_argument("--poll", type=float, help="git fetch / full resync seconds (default 15 / 300)")
    p.add_argument("--checkout", help="where to keep the git checkout (default: a temporary directory)")
    p.add_argument("--once", action="store_true", help="one sync pass and one dispatch pass, then exit")
    p.add_argument("--now", help="with --once: act as of this ISO 8601 instant")
    redis_url_arg(p)
    p.add_argument("--lease-ttl", type=float, help="dispatch lease in seconds (default 10)")
    p.add_argument("--id", help="this controller's name in the lease (default: host-random)")
    p.add_argument("--metrics-port", type=tcp_port, help="serve /metrics, /healthz and /readyz on this port")
    p.add_argument("--metrics-host", default="127.0.0.1", help="address for --metrics-port (default 127.0.0.1)")
    p.set_defaults(run=run)


def source_of(args: argparse.Namespace, stack: ExitStack) -> Source:
    """The manifests' source; a temporary git checkout is removed when ``stack`` closes."""
    if args.manifests:
        return DirectorySource(*args.manifests)
    checkout = stack.enter_context(checkout_dir(args.checkout))
    return GitSource(args.git, args.branch or "main", checkout, args.path or ".")


def check_flags(args: argparse.Namespace) -> None:
    if args.now and not args.once:
        raise UsageError("--now is only meaningful with --once")
    if args.manifests:
        for flag, value in (("--branch", args.branch), ("--path", args.path), ("--checkout", args.checkout)):
            if value is not None:
                raise UsageError(f"{flag} is for --git mode; --manifests reads the directory as it is")
        for given in args.manifests:
            root = Path(given)
            if not root.exists():
                raise PermanentError(f"--manifests {given}: no such file or directory")
            if not (root.is_file() or root.is_dir()):
                raise PermanentError(f"--manifests {given}: not a regular file or directory")


def run(args: argparse.Namespace) -> int:
    check_flags(args)
    if args.metrics_port:
        require_listen(args.metrics_host, args.metrics_port, "--metrics-port")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = ControllerSettings.from_env(redis_url=redis_url(args))
    if args.lease_ttl:
        settings = replace(settings, lease_ttl=args.lease_ttl, lease_renew_every=max(0.2, args.lease_ttl / 4))
    if args.git:
        settings = replace(settings, resync_interval=args.poll or settings.git_poll)
    elif args.poll:  # an explicit resync interval holds with the watcher too
        settings = replace(settings, resync_interval=args.poll, watched_resync=args.poll)
    with ExitStack() as stack:
        if threading.current_thread() is threading.main_thread():
            # Until the controller's own handlers are in place, SIGTERM is an interrupt like
            # SIGINT, so that the temporary checkout is still removed.
            stack.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _interrupt))
        return _run(args, settings, source_of(args, stack))


def _run(args: argparse.Namespace, settings: ControllerSettings, source: Source) -> int:
    client = connect(settings)
    lease_client = connect(settings, timeout=LEASE_TIMEOUT, check=False)
    controller = Controller(settings, client, source, args.id or "", lease_client)
    if args.once:
        report, enqueued = controller.once(parse_now(args.now) if args.now else utcnow())
        plan = report.plan
        for line in plan_problems(plan):
            print(line)
        print(f"synced: {headline(plan)}; wrote {len(report.written)} job(s); enqueued {enqueued} invocation(s)")
        return 1 if plan.has_errors else 0
    if args.metrics_port:
        from controller.observability import Probes, instrument, register_redis, serve_probes

        instrument(controller)
        register_redis(controller.client, settings.keys, settings.queue)
        serve_probes(args.metrics_host, args.metrics_port, Probes({"redis": controller.client.ping}))
    controller.run(watch_paths=tuple(args.manifests or ()))
    return 0


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def plan_problems(plan: Plan) -> list[str]:
    lines = [str(p) for p in plan.problems]
    if plan.unreadable:
        lines.append(f"source: {plan.unreadable}")
    if plan.prune.blocked:
        lines.append(f"prune {plan.prune.outcome.value}: {plan.prune.message}")
    return lines
