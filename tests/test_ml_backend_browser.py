"""A labeler opens a task and sees the model's pre-annotation and, beside it, why.

Two kinds, as a labeler meets them: before the project has labeled tasks the model is not sure of
anything and gives context alone (no choice checked); once the labeled tasks show that its
suggestions of this kind are right at least 85% of the time, it pre-selects them and says so.
"""

import re
from pathlib import Path

import pytest

from harness.browser import open_task, side_by_side
from harness.config import WEBHOOK_SECRET
from ls_context.demo.scenarios import SCENARIOS
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.quality.export import data_key

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
MESSAGE = "Someone placed orders on my account that I did not make. 2,300 EUR gone."
LATER = "These card payments are unauthorized: we did not make them. Please stop them today."
TRIAGE = ["Urgent intervention", "Frustrated but salvageable", "Routine question", "General feedback"]
LABELED = 40  # tasks a labeler answers before the second look: enough for the model to vouch for rules like this one

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]


def checked_choices(view) -> list[str]:
    """The triage labels whose box is checked, as the labeler sees them."""
    checked = []
    for label in TRIAGE:
        choice = view.locator(".ant-checkbox-wrapper, label").filter(has_text=re.compile(f"^{re.escape(label)}"))
        if choice.locator("input[type=checkbox]").first.is_checked():
            checked.append(label)
    return checked


def test_labeler_sees_context_first_and_a_suggestion_once_the_project_vouches_for_it(
        ls, make_project, context_backend, page, browser, label_studio, screenshot):
    scenario = SCENARIOS["support-triage"]
    answers = scenario.answers()
    labeled = scenario.tasks()[:LABELED]
    project = make_project(CONFIG, title="Support triage", show_collab_predictions=True)
    ls.webhooks.create(url=f"{context_backend.url}/webhook", project=project.id, send_payload=True, send_for_all_actions=False,
                       actions=["ANNOTATION_CREATED"], headers={SECRET_HEADER: WEBHOOK_SECRET})
    ls.projects.import_tasks(id=project.id, request=[{"text": MESSAGE}, {"text": LATER}, *labeled])
    ls.ml.create(url=context_backend.url, project=project.id, title="ls-context")
    tasks = {task.data["text"]: task for task in ls.tasks.list(project=project.id, fields="all")}

    # Opening a task without a prediction makes Label Studio ask the backend for one.
    page.set_viewport_size({"width": 1000, "height": 660})
    open_task(page, label_studio.url, project.id, tasks[MESSAGE].id)
    view = page.locator(".lsf-main-view")
    view.get_by_text(re.compile(r"^Not sure: Urgent intervention or ")).wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(300)
    before = screenshot(page, "context-only", full_page=False)

    assert view.get_by_text("Rule 'fraud' points to Urgent intervention", exact=False).is_visible()
    assert view.get_by_text("Urgent intervention: The customer faces harm", exact=False).is_visible()
    assert checked_choices(view) == []  # context, and the labeler decides

    for data in labeled:
        ls.annotations.create(id=tasks[data["text"]].id, result=[
            {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [answers[data_key(data)]]}}])
    assert context_backend.backend.settle(60)

    open_task(page, label_studio.url, project.id, tasks[LATER].id)
    suggested = view.get_by_text(re.compile(r"^Suggested: Urgent intervention \((8[5-9]|9\d|100)%\)\. Rule 'fraud'"))
    suggested.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(300)
    after = screenshot(page, "suggested", full_page=False)

    assert view.get_by_text("Closest guideline example:", exact=False).is_visible()
    assert checked_choices(view) == ["Urgent intervention"]
    side_by_side(browser, before, after, before.with_name("two-kinds.png"),
                 ("Before any labeled task: context, nothing pre-selected", f"After {LABELED} labeled tasks: a calibrated suggestion"))
