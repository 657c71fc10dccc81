"""Pilot batches: stratified, with gold mixed in, marked in the real Label Studio."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.readme import command
from ls_context.cli import main
from ls_context.errors import LSContextError
from ls_context.quality.pilot import _allocate, choose

ROOT = Path(__file__).resolve().parent.parent


def tasks(n, start=1, labeled=()):
    return [{"id": i, "data": {"text": f"t{i}"}, "meta": {}, "is_labeled": i in labeled} for i in range(start, start + n)]


def test_allocation_is_proportional_and_covers_rare_strata():
    assert _allocate({"common": 90, "rare": 10}, 10) == {"common": 8, "rare": 2}
    assert _allocate({"a": 50, "b": 30, "c": 1}, 5) == {"a": 2, "b": 2, "c": 1}
    assert sum(_allocate({"a": 3, "b": 3}, 100).values()) == 6


def test_choose_mixes_gold_skips_labeled_and_is_reproducible():
    pool = tasks(40, labeled={5, 6})
    strata = {t["id"]: ("rare" if t["id"] % 10 == 0 else "common") for t in pool}
    gold = {1, 2, 3, 4}

    first = choose(pool, 10, gold, 0.2, strata, seed=3)
    again = choose(pool, 10, gold, 0.2, strata, seed=3)

    ids = [t["id"] for t in first]
    assert ids == [t["id"] for t in again] and len(ids) == len(set(ids)) == 10
    assert sum(i in gold for i in ids) == 2
    assert not {5, 6} & set(ids)
    assert any(strata[i] == "rare" for i in ids if i not in gold)


def test_bad_sizes_are_clear_errors():
    with pytest.raises(LSContextError, match="at least 1"):
        choose(tasks(3), 0, set(), 0.1, {})


@pytest.mark.labelstudio
def test_pilot_marks_a_batch_stratified_by_the_models_suggestions(ls, make_project, label_studio, context_backend, tmp_path, monkeypatch):
    config = (ROOT / "label_configs" / "text-classification.xml").read_text()
    project = make_project(config)
    texts = [f"Someone placed orders I did not make, case {i}" for i in range(4)] + [f"How do I export report {i}?" for i in range(16)]
    gold = [{"data": {"text": f"Gold message {i}: where is my invoice?"}, "annotations": [{"result": [
        {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Routine question"]}}]}]} for i in range(5)]
    ls.projects.import_tasks(id=project.id, request=[{"text": t} for t in texts])
    ls.ml.create(url=context_backend.url, project=project.id, title="ls-context")  # no predictions retrieved yet
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "cli"))
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    assert CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json")]).exit_code == 0

    result = CliRunner().invoke(main, command("ls-context pilot", **{"12": project.id}))  # as the README has it

    assert result.exit_code == 0, result.output
    marked = [t for t in ls.tasks.list(project=project.id, fields="all") if (t.meta or {}).get("ls_pilot") == "pilot-A"]
    assert len(marked) == 10
    assert sum(t.data["text"].startswith("Gold") for t in marked) == 2  # the store's gold, 20% of the batch
    assert any("did not make" in t.data["text"] for t in marked)  # the rare rule's stratum is in the batch
    assert "asking the model server for predictions on 25 task(s)" in result.output  # the gold tasks too
    assert "rule fraud" in result.output and "rule how-to" in result.output
