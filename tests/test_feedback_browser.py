"""The labeler's view of the feedback on a gold task they got wrong."""

import pytest

from harness.browser import open_task
from test_feedback_label_studio import GOLD, choice, task_by_text, wait_for, wired  # noqa: F401 (wired is a fixture)

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]


def test_labeler_sees_feedback_on_the_gold_task_they_missed(ls, wired, page, label_studio, screenshot):  # noqa: F811
    project, _ = wired
    task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])
    ls.annotations.create(id=task.id, result=[choice("General feedback")])
    wait_for(lambda: ls.tasks.get(id=task.id).data.get("ls_feedback"), 5, "feedback")

    open_task(page, label_studio.url, project.id, task.id)
    view = page.locator(".lsf-main-view")
    feedback = view.get_by_text("Gold check FAILED.", exact=False)
    feedback.wait_for(state="visible", timeout=15_000)
    page.wait_for_timeout(300)
    screenshot(page, full_page=False)

    text = feedback.inner_text()
    assert "Expected: Urgent intervention; you gave: General feedback." in text
    assert "Why:" in text
