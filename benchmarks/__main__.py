"""``python -m benchmarks``: run every benchmark in turn; each prints its own table and ratio."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = (
    "benchmarks.controller_bench",
    "benchmarks.scale_bench",
    "benchmarks.worker_bench",
    "benchmarks.redis_capacity",
    "benchmarks.engine_bench",
)


def main() -> int:
    failed = 0
    for name in BENCHMARKS:
        print(f"\n=== {name} ===", flush=True)
        try:
            rc = importlib.import_module(name).main()
        except Exception as e:  # a broken benchmark must not hide the others' results
            print(f"{name} failed: {e!r}", file=sys.stderr)
            rc = 1
        failed += int(bool(rc))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
