"""Arguments and checks that several commands share (one spelling, one message each), and what
the operator commands (get, describe, run-now, suspend, resume, delete) share: job names, the
Redis read layer, output formats, durations."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from controller.api.reads import Reads
from controller.core.durations import suspend_length
from controller.core.model import JobKey
from controller.errors import PermanentError, UsageError
from controller.runtime import connect
from controller.settings import ControllerSettings
from controller.sources.directory import manifest_files


def redis_url_arg(parser: Any) -> None:
    parser.add_argument(
        "--redis-url", default=None, help="Redis URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)"
    )


def redis_url(args: Any) -> str | None:
    return args.redis_url or os.environ.get("REDIS_URL")


def tcp_port(text: str) -> int:
    """argparse type for every port flag: 1-65535, one message."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port (1-65535)") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a TCP port (1-65535)")
    return port


def cannot_listen(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` (the port is taken, the host is unknown or
    not an address of this machine), or None. Binds as the servers do (``SO_REUSEADDR``), so a
    port in TIME_WAIT is not reported busy."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(address)
    except OSError as e:
        return (e.strerror or str(e)).lower()
    return None


def require_listen(host: str, port: int, flag: str) -> None:
    """A server flag whose address cannot be listened on: one line, before anything starts."""
    problem = cannot_listen(host, port)
    if problem:
        raise PermanentError(f"{flag} {port}: cannot listen on {host}:{port} ({problem})")


def require_manifests(path: str) -> None:
    """A one-shot command on a path with nothing to read is a mistake, not "no jobs"."""
    root = Path(path)
    if not root.exists():
        raise PermanentError(f"{path}: no such file or directory")
    if not (root.is_file() or root.is_dir()):
        raise PermanentError(f"{path}: not a regular file or directory")
    if root.is_dir() and not manifest_files(root):
        raise PermanentError(f"{path}: no manifests here (*.yaml or *.yml files)")


NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def add_output(p: Any) -> None:
    p.add_argument("-o", "--output", choices=("text", "json", "yaml"), default="text")


def reads(args: argparse.Namespace) -> Reads:
    settings = ControllerSettings.from_env(redis_url=redis_url(args))
    return Reads(connect(settings), settings)


def job_key(text: str) -> str:
    """``collection/name`` or a bare name in the default collection, validated."""
    key = JobKey.parse(text)
    for part in (key.collection, key.name):
        if not NAME.match(part):
            raise UsageError(f"{text!r} is not a job name (collection/name or name: a-z, 0-9 and '-')")
    return str(key)


def collection_name(text: str) -> str:
    if not NAME.match(text):
        raise UsageError(f"{text!r} is not a collection name (a-z, 0-9 and '-')")
    return text


def existing_job(r: Reads, text: str) -> str:
    key = job_key(text)
    if r.job(key) is None:
        raise PermanentError(f"no job {key} (cronplane get jobs lists them)")
    return key


def existing_collection(r: Reads, text: str) -> str:
    name = collection_name(text)
    if name not in r.collections():
        raise PermanentError(f"no collection {name} (cronplane get collections lists them)")
    return name


def who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} (cli)"


def duration(text: str) -> timedelta:
    try:
        return suspend_length(text)
    except ValueError as e:
        raise UsageError(f"--for: {e}") from None


def emit(data: Any, output: str) -> bool:
    """Print ``data`` as JSON or YAML; False for text (the caller prints its own)."""
    if output == "json":
        print(json.dumps(data, indent=2, default=str))
    elif output == "yaml":
        sys.stdout.write(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return output != "text"
