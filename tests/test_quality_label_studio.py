"""Reports and gates on a real Label Studio project: several labelers, gold tasks and flags."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.labelstudio import Gateway
from harness.readme import command
from ls_context.cli import main

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
MESSAGES = {
    "Our store opens Thursday and the bulk order is missing": "Urgent intervention",
    "The app logs me out again, please fix it": "Frustrated but salvageable",
    "How do I change the billing email?": "Routine question",
    "Love the new dark mode": "General feedback",
    "Refund still not here after three weeks": "Frustrated but salvageable",
    "Where do I download invoices?": "Routine question",
}
SWAP = {"Frustrated but salvageable": "Routine question"}

pytestmark = pytest.mark.labelstudio


def choice(label):
    return {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


@pytest.fixture
def labeled_project(ls, make_project, label_studio, tmp_path):
    """Two careful labelers and one who labels 'Frustrated but salvageable' as 'Routine question'."""
    project = make_project(CONFIG)
    texts = list(MESSAGES)
    ids = ls.projects.import_tasks(id=project.id, request=[{"text": t} for t in texts], return_task_ids=True).task_ids
    people = {}
    for name in ("ana", "ben", "cleo"):
        email = f"{name}.{project.id}@example.com"
        people[name] = ls.users.create(username=email, email=email, password="labeler-pass-123").id
    for task_id, text in zip(ids, texts):
        truth = MESSAGES[text]
        ls.annotations.create(id=task_id, result=[choice(truth)], completed_by=people["ana"], lead_time=12.0)
        flagged = [{"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Guideline unclear"]}}] if truth in SWAP else []
        ls.annotations.create(id=task_id, result=[choice(truth)] + flagged, completed_by=people["ben"], lead_time=20.0)
        ls.annotations.create(id=task_id, result=[choice(SWAP.get(truth, truth))], completed_by=people["cleo"], lead_time=8.0)
    gold = [{"data": {"text": t}, "annotations": [{"result": [choice(MESSAGES[t])]}]} for t in texts]
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    export = Gateway(label_studio.url, label_studio.account.token).export(project.id)
    (tmp_path / "export.json").write_text(json.dumps(export))
    return project, tmp_path


def test_report_on_a_real_export(labeled_project):
    project, folder = labeled_project

    result = CliRunner().invoke(main, command("ls-context report --export", **{  # as the README has it
        "export.json": folder / "export.json", "gold.json": folder / "gold.json", "r.html": folder / "r.html", "m.json": folder / "m.json"}))

    assert result.exit_code == 0, result.output
    metrics = json.loads((folder / "m.json").read_text())
    annotators = metrics["annotators"]
    assert len(annotators) == 3
    cleo = next(a for name, a in annotators.items() if name.startswith("cleo"))
    ben = next(a for name, a in annotators.items() if name.startswith("ben"))
    assert (cleo["gold_n"], cleo["gold_accuracy"]) == (6, pytest.approx(4 / 6, abs=1e-4))
    assert ben["flag_rate"] == pytest.approx(2 / 6, abs=1e-4)
    assert any(g["kind"] == "confused_pair" and (g["expected"], g["given"]) == ("Frustrated but salvageable", "Routine question")
               for g in metrics["guideline_gaps"])
    flags = next(g for g in metrics["guideline_gaps"] if g["kind"] == "flagged_label")
    assert flags["reasons"] == {"Guideline unclear": 2}


def test_gate_reads_the_project_through_the_api(labeled_project, label_studio, monkeypatch):
    project, folder = labeled_project
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)

    result = CliRunner().invoke(main, command("ls-context gate   --project 12 --gold", **{
        "12": project.id, "gold.json": folder / "gold.json"}))  # as the README has it

    assert result.exit_code == 1, result.output
    assert "ALERT cleo" in result.output and "Frustrated but salvageable -> Routine question (2x)" in result.output


@pytest.mark.parametrize("page_size", [1, 4, 6, 100])
def test_reading_a_project_page_by_page_measures_what_its_export_does(labeled_project, label_studio, page_size):
    """--project pages through the tasks API; every page size (6 tasks: a short last page, an exact fit) reads the same."""
    import io

    from ls_context.quality.export import build
    from ls_context.quality.metrics import compute, dump

    project, folder = labeled_project
    studio = Gateway(label_studio.url, label_studio.account.token)
    gold = json.loads((folder / "gold.json").read_text())
    total, paged = studio.iter_export(project.id, page_size=page_size)
    by_pages, by_export = io.StringIO(), io.StringIO()
    dump(compute(build(paged, gold)), by_pages)
    dump(compute(build(studio.export(project.id), gold)), by_export)

    assert total == 6
    assert json.loads(by_pages.getvalue()) == json.loads(by_export.getvalue())
    assert json.loads(by_pages.getvalue())["annotators"][f"ana.{project.id}@example.com"]["trend"]  # weeks were read
