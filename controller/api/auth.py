"""Bearer tokens with two roles, read-only and admin, compared in constant time.

Tokens come from environment variables or files (one token a line, optionally ``name:token``;
the name is who asked, recorded with run-now and suspends):

    CRONPLANE_API_ADMIN_TOKENS / CRONPLANE_API_ADMIN_TOKENS_FILE     may read and write
    CRONPLANE_API_READ_TOKENS  / CRONPLANE_API_READ_TOKENS_FILE      may read

Without any token the server is open (every caller is admin) and may listen on loopback only:
``check_bind`` refuses any other address. Every presented token is compared with every known
one (``hmac.compare_digest``, no early exit), so timing does not tell which prefix matched.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.errors import UsageError

ADMIN, READ = "admin", "read"
MIN_TOKEN_LENGTH = 16


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role == ADMIN


ANONYMOUS = Principal("anonymous (loopback, no tokens)", ADMIN)


@dataclass(frozen=True)
class Tokens:
    entries: tuple[tuple[bytes, Principal], ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.entries)

    def check(self, presented: str | None) -> Principal | None:
        if not self.enabled:
            return ANONYMOUS
        if not presented:
            return None
        given = presented.encode()
        found = None
        for token, principal in self.entries:
            if hmac.compare_digest(token, given) and found is None:
                found = principal
        return found

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tokens:
        env = os.environ if env is None else env
        entries: list[tuple[bytes, Principal]] = []
        for role, var in ((ADMIN, "CRONPLANE_API_ADMIN_TOKENS"), (READ, "CRONPLANE_API_READ_TOKENS")):
            lines = (env.get(var) or "").replace(",", "\n").splitlines()
            if env.get(f"{var}_FILE"):
                lines += _read(env[f"{var}_FILE"])
            for i, line in enumerate(x.strip() for x in lines):
                if line and not line.startswith("#"):
                    entries.append(_entry(line, role, i + 1, var))
        return cls(tuple(entries))


def _read(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError as e:
        raise UsageError(f"cannot read the token file {path}: {e.strerror or e}") from None


def _entry(line: str, role: str, number: int, var: str) -> tuple[bytes, Principal]:
    name, sep, token = line.partition(":")
    if not sep:
        name, token = f"{role}-token-{number}", line
    if len(token) < MIN_TOKEN_LENGTH:
        raise UsageError(f"{var}: token {name!r} is shorter than {MIN_TOKEN_LENGTH} characters")
    return token.encode(), Principal(name, role)


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, tokens: Tokens) -> None:
    """Refuse to serve beyond loopback without tokens."""
    if not tokens.enabled and not is_loopback(host):
        raise UsageError(
            f"refusing to listen on {host} without API tokens: set CRONPLANE_API_ADMIN_TOKENS "
            "(and CRONPLANE_API_READ_TOKENS) or their _FILE variants, or listen on 127.0.0.1"
        )
