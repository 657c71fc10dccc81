"""A labeler opens a task and sees the model's pre-annotation and, beside it, why."""

import re
from pathlib import Path

import pytest

from harness.browser import open_task

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
MESSAGE = "Someone placed orders on my account that I did not make. 2,300 EUR gone."

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]


def test_labeler_sees_pre_annotation_and_rationale(ls, make_project, context_backend, page, label_studio, screenshot):
    project = make_project(CONFIG, title="Support triage", show_collab_predictions=True)
    ls.projects.import_tasks(id=project.id, request=[{"text": MESSAGE}])
    ls.ml.create(url=context_backend.url, project=project.id, title="ls-context")
    task = next(iter(ls.tasks.list(project=project.id)))

    # Opening a task without a prediction makes Label Studio ask the backend for one.
    open_task(page, label_studio.url, project.id, task.id)
    view = page.locator(".lsf-main-view")
    rationale = view.get_by_text(re.compile(r"Urgent intervention \(\d+%\): rule 'fraud'"))
    rationale.wait_for(state="visible", timeout=30_000)
    page.wait_for_timeout(300)
    screenshot(page, full_page=False)

    assert view.get_by_text("Closest guideline example:", exact=False).is_visible()
    urgent = view.locator(".ant-checkbox-wrapper, label").filter(has_text=re.compile("^Urgent intervention"))
    assert urgent.locator("input[type=checkbox]").first.is_checked()
