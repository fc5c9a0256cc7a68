"""Coverage-guided fuzzing of the manifest loader with atheris (libFuzzer), seeded with the example
manifests. Not part of ``make test`` (it runs until stopped); run it for a while by hand:

    .venv/bin/pip install atheris
    .venv/bin/python -m tests.fuzz.atheris_manifests -max_total_time=300 -rss_limit_mb=2048 /tmp/corpus manifests

Any exception out of ``load_documents`` is a crash (libFuzzer writes the input to ``crash-*``);
add it to ``tests/unit/test_fuzz_manifests.py`` as a regression case when you fix it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import atheris

with atheris.instrument_imports():
    from controller.core.quota import load_documents

NOW = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)


def one_input(data: bytes) -> None:
    result = load_documents({"f.yaml": data}, NOW)
    for p in result.problems:
        text = str(p)
        if "\n" in text or p.line < 1 or p.column < 1:
            raise AssertionError(f"badly located problem: {text!r}")


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
