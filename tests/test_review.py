"""`ls-context review`: the week against the week before, who needs help on which label, flags to answer, edits to consider."""

import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.errors import LSContextError
from ls_context.quality.review import period

LABELS = ("Positive", "Negative", "Neutral")


def choice(label):
    return {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def two_weeks(now: datetime):
    """60 tasks, half last week and half this week; ana improves, ben turns Neutral into Positive this week."""
    rng = random.Random(2)
    tasks, gold = [], []
    for t in range(60):
        truth = LABELS[t % 3]
        this_week = t >= 30
        when = (now - timedelta(days=2 if this_week else 9)).isoformat()
        ana = truth if rng.random() < (0.95 if this_week else 0.5) else next(l for l in LABELS if l != truth)
        ben = "Positive" if (this_week and truth == "Neutral") else truth
        cleo = [choice(truth)]
        if this_week and t % 10 == 0:
            cleo += [{"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Guideline unclear"]}},
                     {"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": [f"sarcasm in task {t}?"]}}]
        tasks.append({"id": t, "data": {"text": f"message {t}"}, "annotations": [
            {"completed_by": {"email": name}, "created_at": when, "result": result}
            for name, result in (("ana", [choice(ana)]), ("ben", [choice(ben)]), ("cleo", cleo))]})
        gold.append({"id": t, "annotations": [{"result": [choice(truth)]}]})
    return tasks, gold


def test_the_review_compares_the_weeks_and_says_who_needs_help_on_what(tmp_path):
    tasks, gold = two_weeks(datetime.now(timezone.utc))
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    result = CliRunner().invoke(main, ["review", "--export", str(tmp_path / "export.json"), "--gold", str(tmp_path / "gold.json"),
                                       "--out", str(tmp_path / "r.html"), "--markdown", str(tmp_path / "r.md")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.md").read_text()
    assert "90 annotations (the period before: 90)" in text
    ana = next(line for line in text.splitlines() if line.startswith("- ana:"))
    assert ana.startswith("- ana: 9") and "before 5" in ana and "points)" in ana and "+" in ana  # about 95% now, 50% before
    assert "- ben: Neutral -> Positive on 10 of 10 gold (recall 0%) in sentiment" in text
    assert "cleo" not in text.split("## Who needs help")[1].split("## Flags")[0]
    assert "## Flags to answer (3)" in text and "- task 30, cleo: Guideline unclear: \u201csarcasm in task 30?\u201d" in text
    edits = text.split("## Guideline edits to consider")[1].splitlines()[1]
    assert edits.startswith("- Add an edge case or a sharper definition between Neutral and Positive: 1")  # ben's 10, and ana's slips
    page = (tmp_path / "r.html").read_text()
    assert "Who needs help on which label" in page and "sarcasm in task 30?" in page


def test_the_period_is_days_hours_or_a_date():
    end = datetime(2026, 11, 29, 12, tzinfo=timezone.utc)
    assert period("7d", end) == (end - timedelta(days=7), end)
    assert period("36h", end)[0] == end - timedelta(hours=36)
    assert period("2026-11-23", end)[0] == datetime(2026, 11, 23, tzinfo=timezone.utc)
    for bad in ("0d", "last week", "2027-01-01"):
        with pytest.raises(LSContextError):
            period(bad, end)
