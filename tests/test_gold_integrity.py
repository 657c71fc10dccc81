"""Gold with several labelers, in the real Label Studio and a real browser: each sees only their own verdict.

Labeler A answers a gold task wrongly; B, who has not answered it, opens it (task view, Data Manager,
label stream) and finds no expected answer anywhere; A reads A's FAILED verdict with the why on A's
own page; B answers correctly and reads B's PASSED; C sees nothing of A's or B's verdicts. Each view
leaves a screenshot.
"""

import re
import uuid

import pytest
import requests

from harness import browser as chromium
from ls_context.checks.gold import import_gold
from ls_context.checks.personal import Links
from ls_context.labelstudio import Gateway
from ls_context.labelstudio.setup import Backend, setup_project
from test_feedback_label_studio import CONFIG, GOLD, GUIDELINES, choice, feedback_of, task_by_text, wait_for

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
PASSWORD = "labeler-pass-42"
REVEALING = re.compile(r"Expected|Gold check|FAILED|PASSED|gold example", re.IGNORECASE)


@pytest.fixture
def gold_project(ls, make_project, label_studio, feedback_backend):
    """A wired project with its gold imported, and three labelers who can log in."""
    project = make_project(CONFIG.split('  <View className="ls-context">')[0] + "</View>\n")
    studio = Gateway(label_studio.url, label_studio.account.token)
    setup_project(studio, feedback_backend.backend.services.guidelines, project.id, str(GUIDELINES),
                  Backend(feedback_backend.url, feedback_backend.secret))
    import_gold(studio, feedback_backend.backend.store, project.id, GOLD)
    run = uuid.uuid4().hex[:6]
    labelers = {}
    for name in "abc":
        email = f"labeler-{name}-{run}@example.com"
        labelers[name] = (email, studio.create_user(email, PASSWORD))
        label_studio.set_password(email, PASSWORD)
    return project, labelers


def task_view(page, label_studio, project_id, task_id, screenshot, name) -> str:
    """What a labeler sees on opening the task from the Data Manager; kept as a screenshot."""
    chromium.open_task(page, label_studio.url, project_id, task_id)
    page.wait_for_timeout(1500)  # the tabs of existing annotations and predictions load after the editor
    screenshot(page, name, full_page=False)
    return visible_text(page)


def visible_text(page) -> str:
    return page.locator("body").inner_text()


def test_each_labeler_sees_only_their_own_verdict_and_no_answer_before_theirs(
        ls, gold_project, feedback_backend, browser, label_studio, screenshot):
    project, labelers = gold_project
    task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])  # expected: Urgent intervention
    store = feedback_backend.backend.store
    links = Links.of(store)
    page_of = {name: links.feedback_url(feedback_backend.url, user_id) for name, (_, user_id) in labelers.items()}

    # A answers wrongly; A's verdict is recorded for A alone.
    wrong = ls.annotations.create(id=task.id, result=[choice("General feedback")], completed_by=labelers["a"][1])
    wait_for(lambda: feedback_of(store, wrong.id), 10, "A's verdict")

    # B has not answered: the task view, the Data Manager and the label stream show no expected answer.
    with chromium.logged_in(browser, label_studio.url, labelers["b"][0], PASSWORD) as b:
        assert not REVEALING.search(task_view(b, label_studio, project.id, task.id, screenshot, "b-task-view"))
        b.goto(f"{label_studio.url}/projects/{project.id}/data")
        b.get_by_text(str(task.id)).first.wait_for(state="visible", timeout=30_000)
        screenshot(b, "b-data-manager", full_page=False)
        assert not REVEALING.search(visible_text(b)) and "ls_feedback" not in visible_text(b)
        b.goto(f"{label_studio.url}/projects/{project.id}/data?labeling=1")
        b.wait_for_selector(".lsf-main-view", timeout=60_000)
        screenshot(b, "b-label-stream", full_page=False)
        assert not REVEALING.search(b.locator(".lsf-main-view").inner_text())
    fresh = ls.tasks.get(id=task.id)
    assert set(fresh.data) == {"text"} and not [k for k in (fresh.meta or {}) if k.startswith("ls_")]
    for prediction in ls.predictions.list(task=task.id):
        assert not REVEALING.search(str(prediction.result))

    # A reads A's own verdict, with the why, on A's page.
    a_page = browser.new_page(viewport={"width": 1000, "height": 600})
    a_page.goto(page_of["a"])
    a_page.get_by_text("Gold check FAILED.", exact=False).first.wait_for(state="visible", timeout=10_000)
    assert "Expected: Urgent intervention; you gave: General feedback." in visible_text(a_page)
    assert "Why: These go to the on-call lead" in visible_text(a_page)
    screenshot(a_page, "a-own-verdict", full_page=False)
    a_page.close()

    # B answers correctly and reads B's own PASSED, nothing of A's.
    right = ls.annotations.create(id=task.id, result=[choice("Urgent intervention")], completed_by=labelers["b"][1])
    wait_for(lambda: feedback_of(store, right.id), 10, "B's verdict")
    b_page = requests.get(page_of["b"], timeout=5).text
    assert "Gold check PASSED" in b_page and "FAILED" not in b_page and "General feedback" not in b_page

    # C, who answered nothing, sees no verdict of A's or B's, neither on C's page nor in Label Studio.
    c_page = requests.get(page_of["c"], timeout=5).text
    assert "No gold checks yet" in c_page
    assert not [word for word in ("Expected", "Gold check", "FAILED", "PASSED", "General feedback") if word in c_page]
    with chromium.logged_in(browser, label_studio.url, labelers["c"][0], PASSWORD) as c:
        assert not REVEALING.search(task_view(c, label_studio, project.id, task.id, screenshot, "c-task-view"))
