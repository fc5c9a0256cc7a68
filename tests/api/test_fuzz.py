"""The API fuzzed from its own OpenAPI document (schemathesis) against a real ``cronplane serve``:
no answer is a 5xx, every response matches the documented schema and status codes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.peers.serve import ADMIN_TOKEN, serving

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(redis_url: str, tmp_path: Path) -> None:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "c.yaml").write_text(
        "apiVersion: cronplane/v1\nkind: JobCollection\nmetadata: {name: ops}\nspec: {plan: standard}\n"
    )
    with serving(
        redis_url, tmp_path, manifests=[str(manifests)], extra_args=["--rate", "10000", "--burst", "10000"]
    ) as s:
        out = subprocess.run(
            [
                str(Path(sys.executable).with_name("schemathesis")),
                "run",
                f"{s.url}/openapi.json",
                "--checks",
                CHECKS,
                "--header",
                f"Authorization: Bearer {ADMIN_TOKEN}",
                "--max-examples",
                os.environ.get("CRONPLANE_FUZZ_EXAMPLES", "25"),
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
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
        log = s.log.read_text()
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", out.stdout)
    assert counts and int(counts[1]) > 500 and counts[1] == counts[2], out.stdout[-3000:]
    assert "Traceback" not in log, log[-4000:]
