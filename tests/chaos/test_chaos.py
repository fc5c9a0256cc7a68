"""The short version of every chaos scenario (``make chaos`` runs them for minutes): one or two
faults each against a real deployment; nothing missing, nothing doubled, no traceback, and the
worst occurrence completed within the scenario's bound."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.scenarios import SCENARIOS


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_short_chaos(name: str, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    result = scenario.run(tmp_path, seconds=scenario.every * 1.5 + 1)
    v = result.verdict
    assert result.faults >= 1
    assert v.due > 0
    assert (v.missing, v.duplicated, v.tracebacks) == (0, 0, 0), (v, v.missing_keys)
    assert v.worst_late < scenario.bound, v
    assert v.worst_redelivery < scenario.bound, v
