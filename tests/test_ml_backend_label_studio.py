"""The model server connected to a real Label Studio: predictions stored, annotations learned from."""

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
TEXTS = [
    "Someone placed orders on my account that I did not make.",
    "How do I change the delivery address of an open order?",
    "The toner cartridges arrived leaking all over the pallet.",
]

pytestmark = pytest.mark.labelstudio


def retrieve_predictions(ls, project_id):
    ls.actions.create(id="retrieve_tasks_predictions", project=project_id, selected_items={"all": True, "excluded": []})


def predictions_by_text(ls, project_id):
    found = {}
    for task in ls.tasks.list(project=project_id, fields="all"):
        found[task.data["text"]] = [p for p in ls.predictions.list(task=task.id)]
    return found


def wait_for(condition, timeout_s=20, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_connected_backend_stores_predictions_with_rationale_and_learns(ls, make_project, context_backend, label_studio):
    from harness.config import WEBHOOK_SECRET
    from ls_context.intake.webhook import SECRET_HEADER
    from ls_context.labelstudio import Gateway

    project = make_project(CONFIG, show_collab_predictions=True)
    ls.projects.import_tasks(id=project.id, request=[{"text": text} for text in TEXTS])
    ls.ml.create(url=context_backend.url, project=project.id, title="ls-context")
    # The webhook Label Studio adds for the model server carries no secret: `ls-context setup` adds it, as here.
    Gateway(label_studio.url, label_studio.account.token).ensure_webhook(
        project.id, f"{context_backend.url}/webhook", {SECRET_HEADER: WEBHOOK_SECRET})

    retrieve_predictions(ls, project.id)
    stored = wait_for(lambda: (p := predictions_by_text(ls, project.id)) and p[TEXTS[0]] and p[TEXTS[1]] and p, what="predictions")

    # No labeled task yet, so nothing vouches for a pre-selection: every task gets context alone.
    fraud = stored[TEXTS[0]][0]
    results = {r["from_name"]: r for r in fraud.result}
    assert "triage" not in results
    assert fraud.model_version == "ls-context-g1.0.0-r0"
    assert 0 < fraud.score <= 1
    assert results["ls_rationale"]["value"]["text"][0].startswith("Not sure: Urgent intervention or ")
    assert "Rule 'fraud' points to Urgent intervention" in results["ls_rationale"]["value"]["text"][0]
    unknown = {r["from_name"]: r for r in stored[TEXTS[2]][0].result}
    assert list(unknown) == ["ls_rationale"]  # no rule and no word the model knows yet: definitions, no guess
    assert "No rule fires and the model knows no word" in unknown["ls_rationale"]["value"]["text"][0]

    # Labelers annotate; Label Studio's own ML webhook delivers the annotations to /webhook.
    leaking = next(t for t in ls.tasks.list(project=project.id) if t.data["text"] == TEXTS[2])
    ls.annotations.create(id=leaking.id, result=[
        {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Frustrated but salvageable"]}},
    ])
    more = ls.projects.import_tasks(id=project.id, request=[{"text": "Leaking toner again, the pallet is ruined"}], return_task_ids=True)
    for number, text in enumerate(["Toner leaking from the box", "The pallet arrived with toner leaking"]):
        task_ids = ls.projects.import_tasks(id=project.id, request=[{"text": text}], return_task_ids=True).task_ids
        ls.annotations.create(id=task_ids[0], result=[
            {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Frustrated but salvageable"]}},
        ])
    wait_for(lambda: context_backend.backend.models.version(str(project.id)) != "ls-context-g1.0.0-r0", what="a refit")
    assert context_backend.backend.settle()
    new_version = context_backend.backend.models.version(str(project.id))

    retrieve_predictions(ls, project.id)
    fresh = wait_for(
        lambda: [p for p in ls.predictions.list(task=more.task_ids[0]) if p.model_version == new_version],
        what="a prediction from the refitted model",
    )[0]
    results = {r["from_name"]: r for r in fresh.result}
    rationale = results["ls_rationale"]["value"]["text"][0]
    # Three annotations teach the words but cannot vouch for a pre-selection: the labeler reads, then decides.
    assert "triage" not in results
    assert rationale.startswith("Not sure: Frustrated but salvageable or ")
    assert "toner" in rationale or "leaking" in rationale
