"""``make chaos``: every chaos scenario at length, then the table the README shows.

``python -m tests.chaos [--seconds N] [--only TEXT] [--seed N]``; exit 1 if any scenario lost or
doubled an occurrence or logged a traceback.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from tests.chaos.scenarios import SCENARIOS, Result


def table(results: list[Result]) -> str:
    lines = [
        "| scenario | faults | due | delivered | duplicated | missing | redelivered (same key) "
        "| worst call → its redelivery | worst due → completed | tracebacks |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        v = r.verdict
        lines.append(
            f"| {r.scenario} | {r.faults} | {v.due} | {v.delivered} | {v.duplicated} | {v.missing} | "
            f"{v.redelivered} | {v.worst_redelivery:.1f} s | {v.worst_late:.1f} s | {v.tracebacks} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--seconds", type=float, default=180.0, help="faults are injected for this long per scenario")
    parser.add_argument("--only", help="run the scenarios whose name contains this text")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    chosen = [s for name, s in SCENARIOS.items() if not args.only or args.only.lower() in name.lower()]
    if not chosen:
        print(f"no scenario matches {args.only!r}; scenarios: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="cronplane-chaos-") as tmp:
        for i, scenario in enumerate(chosen):
            began = time.monotonic()
            print(f"chaos: {scenario.name} for {args.seconds:.0f} s ...", flush=True)
            result = scenario.run(Path(tmp) / f"s{i}", args.seconds, seed=args.seed + i)
            results.append(result)
            v = result.verdict
            print(
                f"chaos: {scenario.name}: {result.faults} faults, {v.due} due, {v.missing} missing, "
                f"{v.duplicated} duplicated ({time.monotonic() - began:.0f} s)",
                flush=True,
            )
    print()
    print(table(results))
    bad = [r for r in results if r.verdict.missing or r.verdict.duplicated or r.verdict.tracebacks]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
