"""The API fuzzed from its own OpenAPI document (schemathesis) against a real ``cronplane serve``,
with an admin token and without any token:

- with the token: no answer is a 5xx, every response matches the documented schema and status codes;
- without a token: no 5xx, and every write (PUT, PATCH, POST, DELETE) is refused with 401/403
  (``tests/api/fuzz_hooks.py``) and changes nothing: Redis (every key and value) and the API's
  manifest directory are byte for byte what they were before the run.

``CRONPLANE_FUZZ_EXAMPLES`` sets the examples per operation (default 25).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.peers.rq_worker import ROOT
from tests.peers.serve import ADMIN_TOKEN, serving

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ANONYMOUS_CHECKS = "not_a_server_error,content_type_conformance,unauthenticated_writes_are_refused"
COLLECTION = "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: ops}\nspec: {plan: standard}\n"
JOB = """apiVersion: cronplane/v1
kind: Job
metadata: {name: nightly, collection: ops}
spec:
  cron: "0 3 * * *"
  action: {type: http, request: {method: GET, uri: "http://127.0.0.1:9/x"}}
"""


def schemathesis(
    url: str, headers: list[str], checks: str, hooks: str, examples: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/openapi.json",
            "--checks",
            checks,
            *headers,
            "--max-examples",
            examples,
            "--seed",
            "12",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": hooks, "PYTHONPATH": str(ROOT)},
    )


def snapshot(url: str, api_dir: Path) -> tuple[dict[bytes, bytes | None], dict[str, bytes]]:
    r = redis.Redis.from_url(url)
    keys = {k: r.dump(k) for k in r.scan_iter(b"*")}
    files = {str(p.relative_to(api_dir)): p.read_bytes() for p in api_dir.rglob("*") if p.is_file()}
    return keys, files


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(redis_url: str, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "c.yaml").write_text(COLLECTION)
    with serving(
        redis_url, tmp_path, manifests=[str(manifests)], extra_args=["--rate", "10000", "--burst", "10000"]
    ) as s:
        headers = ["--header", f"Authorization: Bearer {ADMIN_TOKEN}"]
        out = schemathesis(s.url, headers, CHECKS, "", os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "25"))
        log = s.log.read_text()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert counts and int(counts[1]) > 500 and counts[1] == counts[2], out.stdout[-3000:]
    assert "Traceback" not in log, log[-4000:]


@pytest.mark.slow
def test_without_a_token_nothing_is_written(redis_url: str, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "c.yaml").write_text(COLLECTION + "---\n" + JOB)
    assert (
        subprocess.run(
            [sys.executable, "-m", "controller.cli", "apply", str(manifests), "--redis-url", redis_url],
            cwd=ROOT,
            capture_output=True,
        ).returncode
        == 0
    )
    with serving(
        redis_url, tmp_path, manifests=[str(manifests)], extra_args=["--rate", "10000", "--burst", "10000"]
    ) as s:
        s.api_dir.mkdir(parents=True, exist_ok=True)
        (s.api_dir / "ops").mkdir(exist_ok=True)
        before = snapshot(redis_url, s.api_dir)
        examples = str(max(5, int(os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "25")) // 2))
        out = schemathesis(s.url, [], ANONYMOUS_CHECKS, "tests.api.fuzz_hooks", examples)
        after = snapshot(redis_url, s.api_dir)
        log = s.log.read_text()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert counts and int(counts[1]) > 200 and counts[1] == counts[2], out.stdout[-3000:]
    assert before == after, "a request without a token changed Redis or the API directory"
    assert "Traceback" not in log, log[-4000:]
