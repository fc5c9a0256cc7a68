"""An invalid manifest never changes or deletes a running job, fuzzed on a real redis-server.

The example manifests are applied; then one file is broken by the text fuzzer of
``tests/unit/test_fuzz_manifests.py`` and ``cronplane apply --prune`` runs again. The oracle is the
loader itself: every job applied before either

- is valid in the broken files → its record holds the new valid spec (an edit is an edit);
- has a problem, or sits in a file that cannot be read as a whole → its record keeps its spec,
  generation and cursor, byte for byte, and ``cronplane status`` says Stalled with file:line;
- is gone from valid files (a rename, a document cut away) → it may be pruned, within the cap.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import redis
from hypothesis import HealthCheck, given, settings

from controller.cli import main
from controller.core.quota import load_documents
from tests.integration.test_controller import status
from tests.unit.test_fuzz_manifests import MANIFESTS, mutated_file

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-01-01T00:05:00Z"
LATER = "2026-01-01T00:06:00Z"
EXAMPLES = max(8, int(os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "60")) // 5)


def snapshot(r: redis.Redis) -> dict[str, tuple[bytes | None, bytes | None, dict[bytes, bytes]]]:
    names = sorted(m.decode() for m in r.smembers("cp:jobs"))
    return {
        n: (r.hget(f"cp:job:{n}", "spec"), r.hget(f"cp:job:{n}", "generation"), r.hgetall(f"cp:sched:{n}"))
        for n in names
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(broken=mutated_file())
def test_a_broken_file_never_changes_or_deletes_the_jobs_it_held(redis_url: str, broken: tuple[str, str]) -> None:
    target, text = broken
    r = redis.Redis.from_url(redis_url)
    r.flushall()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name in MANIFESTS:
            shutil.copy(ROOT / "manifests" / name, root / name)
        assert main(["apply", str(root), "--redis-url", redis_url, "--now", NOW, "-o", "json"]) == 0
        before = snapshot(r)
        assert len(before) > 10
        (root / target).write_bytes(text.encode("utf-8", "surrogatepass"))
        files = {str(root / n): (root / n).read_bytes() for n in sorted(MANIFESTS)}
        expected = load_documents(files, datetime(2026, 1, 1, 0, 6, tzinfo=UTC))
        main(["apply", str(root), "--redis-url", redis_url, "--prune", "--now", LATER, "-o", "json"])
        after = snapshot(r)

    valid = {str(j.key) for j in expected.jobs}
    invalid = {str(k) for k in expected.invalid_jobs()}
    unreadable = {p.path for p in expected.problems if p.job is None and p.collection is None}
    for name, (spec, generation, cursor) in before.items():
        if name in valid:
            assert name in after, name  # still desired: never deleted
            continue
        source = status(r, name).get("source", "") if name in after else ""
        held = name in invalid or any(source.startswith(path) for path in unreadable)
        if name in invalid:
            assert name in after, f"{name} had a problem and was deleted"
        if held and name in after:
            assert after[name] == (spec, generation, cursor), f"{name} changed while its manifest was invalid"
            st = status(r, name)
            if name in invalid:
                assert st["condition"] == "Stalled", (name, st)
                assert any(f"{p.path}:{p.line}:" in st["reason"] for p in expected.problems if str(p.job) == name), (
                    name,
                    st["reason"],
                )
