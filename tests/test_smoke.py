"""The harness itself: a real Label Studio answers, and a real browser shows a labeler's task."""

import re

import pytest

TEXT_CLASSIFICATION = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>
"""


@pytest.mark.labelstudio
def test_label_studio_accepts_a_project_and_tasks(ls, make_project):
    project = make_project(TEXT_CLASSIFICATION)
    ls.projects.import_tasks(id=project.id, request=[{"text": "The parcel came two weeks late."}])

    tasks = list(ls.tasks.list(project=project.id))

    assert [task.data["text"] for task in tasks] == ["The parcel came two weeks late."]
    assert ls.projects.get(id=project.id).parsed_label_config["sentiment"]["labels"] == ["Positive", "Negative", "Neutral"]


@pytest.mark.labelstudio
@pytest.mark.browser
def test_labeler_sees_the_task_text_and_choices(ls, make_project, page, label_studio, screenshot):
    from harness.browser import open_task

    project = make_project(TEXT_CLASSIFICATION)
    ls.projects.import_tasks(id=project.id, request=[{"text": "Where is my refund for order 1182?"}])
    task = next(iter(ls.tasks.list(project=project.id)))

    open_task(page, label_studio.url, project.id, task.id)
    screenshot(page)

    main_view = page.locator(".lsf-main-view")
    assert main_view.get_by_text("Where is my refund for order 1182?").is_visible()
    for choice in ("Positive", "Negative", "Neutral"):
        # Each choice is drawn with its hotkey number after it ("Positive[1]").
        assert main_view.get_by_text(re.compile(rf"^{choice}")).first.is_visible()
