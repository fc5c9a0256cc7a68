"""Resolving secret references at call time: ``{valueFrom: {env: NAME}}`` / ``{valueFrom: {file: PATH}}``.

The only place a secret value exists is the return value of ``resolve``, inside one attempt.
Errors name the reference (variable or file), never a value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from worker.targets.base import PermanentTargetError


class EnvFileSecrets:
    """A SecretResolver reading the worker's environment and files."""

    def __init__(self, env: Mapping[str, str] | None = None):
        self.env = os.environ if env is None else env

    def __call__(self, ref: Any, field: str) -> str:
        source = ref.get("valueFrom") if isinstance(ref, Mapping) else None
        if not isinstance(source, Mapping):
            raise PermanentTargetError(f"{field}: not a secret reference (use {{valueFrom: {{env: NAME}}}})")
        if "env" in source:
            value = self.env.get(str(source["env"]))
            if value is None:
                raise PermanentTargetError(f"{field}: environment variable {source['env']} is not set on the worker")
            return value
        if "file" in source:
            try:
                return Path(str(source["file"])).read_text().strip()
            except OSError as e:
                raise PermanentTargetError(f"{field}: cannot read secret file {source['file']}: {e.strerror}") from None
        raise PermanentTargetError(f"{field}: valueFrom needs env or file")
