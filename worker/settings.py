"""Worker settings: built once (flags + environment) and passed down; no module-level state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from worker.contract import DEFAULT_QUEUE, Keys
from worker.records import Bounds


def _env_bool(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name)
    return default if value is None else value.strip().lower() in {"1", "true", "yes", "on"}


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> WorkerSettings:
        env = os.environ if env is None else env
        base = cls(
            redis_url=env.get("REDIS_URL", cls.redis_url),
            keys=Keys(env.get("CRONPLANE_KEY_PREFIX", "cp")),
            http_timeout=float(env.get("CRONPLANE_HTTP_TIMEOUT", cls.http_timeout)),
            allow_link_local=_env_bool(env, "CRONPLANE_ALLOW_LINK_LOCAL"),
            oauth_authority=env.get("CRONPLANE_OAUTH_AUTHORITY", cls.oauth_authority),
            region=env.get("CRONPLANE_REGION", cls.region),
            bounds=Bounds.from_env(env),
            ca_bundle=env.get("CRONPLANE_CA_BUNDLE") or None,
            maintenance_interval=int(env.get("CRONPLANE_MAINTENANCE_INTERVAL", cls.maintenance_interval)),
        )
        values = {k: v for k, v in overrides.items() if v is not None}
        return base if not values else cls(**{**base.__dict__, **values})
