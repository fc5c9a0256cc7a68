"""Worker settings: built once (flags + environment) and passed down; no module-level state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from worker.contract import DEFAULT_QUEUE, Keys
from worker.records import Bounds
from worker.replication import default_replicas


class SettingsError(ValueError):
    """A setting a person must fix: one line names the variable or flag."""


def _env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum of {minimum}")
    return value


def _env_seconds(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name}={text!r} is not a number of seconds") from None
    if not 0 <= value <= 86400:
        raise SettingsError(f"{name}={text} is not between 0 and 86400 seconds")
    return value


def parse_host_limits(text: str) -> dict[str, int]:
    """``host:port=N,host2=M`` (a host without port matches every port of it)."""
    limits: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        host, sep, number = part.rpartition("=")
        if not sep or not host or not number.isdigit() or int(number) < 1:
            raise SettingsError(f"CRONPLANE_HOST_LIMITS: {part!r} is not host[:port]=N with N >= 1")
        limits[host.lower()] = int(number)
    return limits


def _bounds(env: Mapping[str, str]) -> Bounds:
    for name in ("CRONPLANE_JOB_TIMEOUT", "CRONPLANE_HISTORY_MAX_ENTRIES", "CRONPLANE_HISTORY_MAX_AGE"):
        _env_int(env, name, 1, 1)  # one clear line for a bad value
    return Bounds.from_env(env)


@dataclass(frozen=True)
class WorkerSettings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    queues: tuple[str, ...] = (DEFAULT_QUEUE,)
    keys: Keys = field(default_factory=Keys)
    http_timeout: float = 60.0  # Azure's fixed HTTP action timeout
    allow_link_local: bool = False  # 169.254.0.0/16, fe80::/10 (cloud metadata endpoints)
    oauth_authority: str = "https://login.microsoftonline.com"
    region: str = "local"
    bounds: Bounds = field(default_factory=Bounds)  # shared with the controller (timeouts, TTLs, history)
    ca_bundle: str | None = None  # extra CA certificates (PEM) trusted for https targets
    maintenance_interval: int = 60  # how often workers requeue invocations of dead workers
    concurrency: int = 100  # invocations in flight per worker process
    host_concurrency: int = 64  # calls in flight to one host:port per worker process
    host_limits: Mapping[str, int] = field(default_factory=dict)  # per host[:port] overrides
    # Where a sasToken + storageAccount queue lives ({account} is replaced): another Azure cloud,
    # or an emulator (Azurite: http://127.0.0.1:10001/{account}).
    storage_queue_url: str = "https://{account}.queue.core.windows.net"
    grace: float = 10.0  # at SIGTERM/SIGINT: seconds to let invocations in flight finish, then hand back
    replica_acks: int = 0  # replicas that must acknowledge a claim before its calls (worker.replication)

    @property
    def job_timeout(self) -> int:
        """RQ job timeout of one attempt (its retries are new RQ jobs under the same timeout)."""
        return self.bounds.job_timeout

    @property
    def history_max_entries(self) -> int:
        return self.bounds.history_max_entries

    @property
    def history_max_age_seconds(self) -> int:
        return self.bounds.history_max_age_seconds

    def limit_for(self, host_port: str) -> int:
        host = host_port.rpartition(":")[0]
        return self.host_limits.get(host_port, self.host_limits.get(host, self.host_concurrency))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> WorkerSettings:
        env = os.environ if env is None else env
        try:
            http_timeout = float(env.get("CRONPLANE_HTTP_TIMEOUT", cls.http_timeout))
        except ValueError:
            raise SettingsError(f"CRONPLANE_HTTP_TIMEOUT={env['CRONPLANE_HTTP_TIMEOUT']!r} is not a number") from None
        redis_url = str(overrides.get("redis_url") or env.get("REDIS_URL", cls.redis_url))
        base = cls(
            redis_url=redis_url,
            keys=Keys(env.get("CRONPLANE_KEY_PREFIX", "cp")),
            http_timeout=http_timeout,
            allow_link_local=_env_bool(env, "CRONPLANE_ALLOW_LINK_LOCAL"),
            oauth_authority=env.get("CRONPLANE_OAUTH_AUTHORITY", cls.oauth_authority),
            region=env.get("CRONPLANE_REGION", cls.region),
            bounds=_bounds(env),
            ca_bundle=env.get("CRONPLANE_CA_BUNDLE") or None,
            maintenance_interval=_env_int(env, "CRONPLANE_MAINTENANCE_INTERVAL", cls.maintenance_interval, 1),
            concurrency=_env_int(env, "CRONPLANE_WORKER_CONCURRENCY", cls.concurrency, 1),
            host_concurrency=_env_int(env, "CRONPLANE_HOST_CONCURRENCY", cls.host_concurrency, 1),
            host_limits=parse_host_limits(env.get("CRONPLANE_HOST_LIMITS", "")),
            storage_queue_url=env.get("CRONPLANE_STORAGE_QUEUE_URL") or cls.storage_queue_url,
            grace=_env_seconds(env, "CRONPLANE_WORKER_GRACE", cls.grace),
            replica_acks=_env_int(env, "CRONPLANE_REPLICA_ACKS", default_replicas(redis_url), 0),
        )
        values = {k: v for k, v in overrides.items() if v is not None}
        return base if not values else cls(**{**base.__dict__, **values})
