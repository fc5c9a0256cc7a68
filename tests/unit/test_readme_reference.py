"""The README's manifest reference is generated from the schemas and must be current."""

from __future__ import annotations

from pathlib import Path

from controller.docs import BEGIN, END, render, update

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_reference_is_up_to_date() -> None:
    assert update(README, check=True) == 0, "run `make docs` after changing schemas/"


def test_reference_lists_every_spec_field(tmp_path: Path) -> None:
    text = render()
    for field in (
        "startTime",
        "recurrence",
        "cron",
        "rrule",
        "dst",
        "missedRunPolicy",
        "monthlyOccurrences",
        "retryInterval",
        "sasToken",
        "topicPath",
        "minRetryInterval",
        "valueFrom",
    ):
        assert f"`{field}`" in text, field
    stale = tmp_path / "README.md"
    stale.write_text(f"intro\n{BEGIN}\nold\n{END}\nrest\n")
    assert update(stale, check=True) == 1
    assert update(stale, check=False) == 0 and update(stale, check=True) == 0
