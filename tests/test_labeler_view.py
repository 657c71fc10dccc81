"""What a labeler sees in an extended project, in the real Label Studio and a real browser."""

import re
from pathlib import Path

import pytest

from harness.browser import open_task
from ls_context.guidelines import load
from ls_context.guidelines.instructions import render

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "label_configs" / "text-classification.xml"
GUIDELINES = load(ROOT / "label_configs" / "text-classification.yaml")
MESSAGE = "Hola, ¿dónde está mi pedido 4471? Lo necesito para el viernes."

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]


@pytest.fixture
def triage_task(ls, make_project):
    project = make_project(
        CONFIG.read_text(), title="Support triage", expert_instruction=render(GUIDELINES), show_instruction=True,
    )
    ls.projects.import_tasks(id=project.id, request=[{"text": MESSAGE}])
    task = next(iter(ls.tasks.list(project=project.id)))
    return project, task


def test_labeler_sees_flag_hint_and_instructions(page, label_studio, triage_task, screenshot):
    project, task = triage_task
    open_task(page, label_studio.url, project.id, task.id)
    view = page.locator(".lsf-main-view")

    assert view.get_by_text("Not sure? Flag it instead of guessing:").is_visible()
    for reason in GUIDELINES.flag_reasons:
        assert view.get_by_text(re.compile(f"^{re.escape(reason.value)}")).first.is_visible()

    view.get_by_text(re.compile("^Routine question")).first.hover()
    hint = GUIDELINES.controls["triage"].label("Routine question").hint
    page.get_by_text(hint).wait_for(state="visible", timeout=5_000)
    page.wait_for_timeout(500)  # the tooltip fades in
    screenshot(page, "hint", full_page=False)

    page.goto(f"{label_studio.url}/projects/{project.id}/data?labeling=1")
    page.get_by_text("When in doubt, flag").wait_for(state="visible", timeout=30_000)
    assert page.get_by_text("Why it matters:").first.is_visible()
    assert page.get_by_text("Don't label as Urgent intervention").is_visible()
    assert page.locator("img[alt=example]").count() == 0  # no image examples in this file
    screenshot(page, "instructions")


def test_a_flag_submitted_in_the_browser_reaches_label_studio(ls, page, label_studio, triage_task, screenshot):
    project, task = triage_task
    open_task(page, label_studio.url, project.id, task.id)
    view = page.locator(".lsf-main-view")

    view.get_by_text(re.compile("^Routine question")).first.click()
    view.get_by_text(re.compile("^Not in English")).first.click()
    view.get_by_placeholder("What is unclear? (optional)").fill("Spanish, and it has a deadline")
    view.get_by_placeholder("What is unclear? (optional)").press("Shift+Enter")
    screenshot(page, "flagged")
    page.get_by_role("button", name="Submit").click()

    annotations = wait_for_annotations(ls, task.id)
    results = {result["from_name"]: result["value"] for result in annotations[0].result}
    assert results["triage"] == {"choices": ["Routine question"]}
    assert results["ls_flag"] == {"choices": ["Not in English"]}
    assert results["ls_flag_note"] == {"text": ["Spanish, and it has a deadline"]}


def wait_for_annotations(ls, task_id, timeout_s=15):
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        annotations = ls.annotations.list(id=task_id)
        if annotations:
            return annotations
        time.sleep(0.3)
    raise AssertionError(f"no annotation arrived on task {task_id} within {timeout_s} s")
