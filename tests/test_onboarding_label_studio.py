"""The onboarding course in a real Label Studio: two labelers take it in the browser, one is certified, one fails.

The lead wires a project and builds its course with the README's commands, run from a directory of
their own, with basic auth and the webhook secret on. Ana answers the course's tasks as the
guidelines say; Ben turns every "Frustrated but salvageable" into "General feedback". Each reads
their verdicts on their own page within seconds. `labelers` names Ana certified and Ben failed on
that label; in the real project Ben's answers are kept but teach the model nothing, and the gate
names him.
"""

import re
import uuid

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import select

from harness import browser as chromium
from harness.config import WEBHOOK_SECRET, config_for
from ls_context.checks.gold import import_gold
from ls_context.checks.personal import Links
from ls_context.cli import main
from ls_context.demo.local_studio import free_port
from ls_context.labelstudio import Gateway
from ls_context.store import Course, Gold
from ml_backend.learning import lessons_from_store
from ml_backend.serve import start_in_thread
from test_feedback_label_studio import CONFIG, GOLD, GUIDELINES, choice, wait_for

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
PASSWORD = "labeler-pass-42"
AUTH = ("lead", "lead-pass-42")
FRUSTRATED, GENERAL = "Frustrated but salvageable", "General feedback"
BAR = "\nonboarding:\n  min_accuracy: 0.9\n  min_tasks: 8\n  gold_share: 0.5\n"


@pytest.fixture
def server(tmp_path, label_studio):
    """`ls-context serve` with basic auth and the webhook secret on, writing back into the test's Label Studio."""
    config = config_for(tmp_path, label_studio_url=label_studio.url, label_studio_api_key=label_studio.account.token,
                        basic_auth_user=AUTH[0], basic_auth_pass=AUTH[1])
    server = start_in_thread("127.0.0.1", free_port(), config)
    yield server
    server.backend.close()
    server.shutdown()


@pytest.fixture
def lead(server, label_studio, tmp_path, monkeypatch):
    """The lead's shell: the settings the README lists, in a directory of their own."""
    elsewhere = tmp_path / "lead"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    for name, value in {"MODEL_DIR": str(tmp_path / "models"), "LABEL_STUDIO_URL": label_studio.url,
                        "LABEL_STUDIO_API_KEY": label_studio.account.token, "LS_CONTEXT_BACKEND_URL": server.url,
                        "LS_CONTEXT_WEBHOOK_SECRET": WEBHOOK_SECRET, "BASIC_AUTH_USER": AUTH[0], "BASIC_AUTH_PASS": AUTH[1]}.items():
        monkeypatch.setenv(name, value)

    def run(*args) -> str:
        result = CliRunner().invoke(main, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def take_course(page, label_studio, course_id: int, expected: dict, answer) -> int:
    """Answer every course task the label stream gives, as `answer(expected label)` says; how many were answered."""
    page.goto(f"{label_studio.url}/projects/{course_id}/data?labeling=1")
    _close_instructions(page)
    view = page.locator(".lsf-main-view")
    answered, shown = 0, None
    while answered < len(expected):
        view.wait_for(timeout=60_000)
        text = wait_for(lambda: next((t for t in expected if t != shown and view.get_by_text(t, exact=True).count()), None),
                        30, "the next course task")[0]
        view.get_by_text(re.compile(f"^{re.escape(answer(expected[text]))}")).first.click()
        page.get_by_test_id("bottombar-submit-button").click()
        answered, shown = answered + 1, text
    return answered


def _close_instructions(page) -> None:
    """The course shows the project's instructions when labeling starts; the labeler reads them and closes them."""
    modal = page.locator(".lsf-modal-ls_visible")
    try:
        modal.wait_for(state="visible", timeout=10_000)
    except Exception:  # noqa: BLE001 - no instructions shown: nothing to close
        return
    modal.get_by_label("Close modal").click()
    modal.wait_for(state="detached", timeout=10_000)


def test_two_labelers_take_the_course_one_is_certified_one_fails_and_is_left_out(
        ls, make_project, label_studio, server, lead, browser, tmp_path, screenshot):
    # The lead wires the project, brings gold, and builds the course.
    project = make_project(CONFIG, title="Support triage")
    (tmp_path / "guidelines.yaml").write_text(GUIDELINES.read_text() + BAR)
    lead("setup", "--project", str(project.id), "--guidelines", str(tmp_path / "guidelines.yaml"))
    studio = Gateway(label_studio.url, label_studio.account.token)
    store = server.backend.store
    import_gold(studio, store, project.id, GOLD)
    built = lead("onboard", "--project", str(project.id))
    assert re.search(r'created the course "Support triage: onboarding" \(project \d+\): \d+ task\(s\) added', built), built
    with store.reading() as session:
        course_id = session.get(Course, project.id).course_project_id
        expected = {row.data["text"]: row.result[0]["value"]["choices"][0]
                    for row in session.scalars(select(Gold).where(Gold.project_id == course_id))}
    assert FRUSTRATED in expected.values() and len(expected) >= 8
    again = lead("onboard", "--project", str(project.id))
    assert "updated the course" in again and "0 task(s) added" in again  # running it again adds nothing

    run = uuid.uuid4().hex[:6]
    ana, ben = (f"{name}-{run}@example.com" for name in ("ana", "ben"))
    ids = {}
    for email in (ana, ben):
        ids[email] = studio.create_user(email, PASSWORD)
        label_studio.set_password(email, PASSWORD)

    # Both take the course in the browser; Ben reads Frustrated as General feedback.
    links = Links.of(store)
    with chromium.logged_in(browser, label_studio.url, ana, PASSWORD) as page:
        assert take_course(page, label_studio, course_id, expected, lambda label: label) == len(expected)
    with chromium.logged_in(browser, label_studio.url, ben, PASSWORD) as page:
        take_course(page, label_studio, course_id, expected, lambda label: GENERAL if label == FRUSTRATED else label)
        page.goto(links.feedback_url(server.url, ids[ben]))
        verdict = page.get_by_text(f"Expected: {FRUSTRATED}; you gave: {GENERAL}.", exact=False).first
        verdict.wait_for(state="visible", timeout=15_000)
        assert "Why:" in verdict.inner_text()  # the guideline's why for the label he missed
        assert page.get_by_text(f"Onboarding course of project {project.id}, task", exact=False).count() >= len(expected) - 2
        screenshot(page, "ben-course-feedback", full_page=False)

    standing = wait_for(lambda: _both_settled(lead, project.id, ana, ben), 30, "both standings settled")[0]
    assert re.search(r"course: certified: (\d+) of \1 right \(100%\)", standing[ana]), standing[ana]
    assert standing[ben].startswith("course: failed:") and f"weakest {FRUSTRATED} (0 of" in standing[ben]

    # In the real project both answer; Ben's answers are kept but teach the model nothing.
    tasks = ls.projects.import_tasks(id=project.id, return_task_ids=True, request=[
        {"text": "My parcel is a week late and nobody replies to my emails."},
        {"text": "The parcel came late again; third time this month, please fix it."},
    ]).task_ids
    ls.annotations.create(id=tasks[0], result=[choice(FRUSTRATED)], completed_by=ids[ana])
    ls.annotations.create(id=tasks[1], result=[choice(GENERAL)], completed_by=ids[ben])
    wait_for(lambda: _answers_in_store(store, tasks) == 2, 15, "both answers in the store")
    guidelines = server.backend.services.guidelines.latest(project.id)
    examples, trust = lessons_from_store(store, project.id, {"triage": "text"}, guidelines)
    learned = {example.task_id for example in examples["triage"]}
    assert tasks[0] in learned and tasks[1] not in learned
    assert trust["triage"].weight(ids[ben]) == 0 and trust["triage"].weight(ids[ana]) > 0

    # The gate names the uncertified labeler; the dashboard shows each one's standing.
    gate = CliRunner().invoke(main, ["gate", "--project", str(project.id), "--min-accuracy", "0.5"])
    assert gate.exit_code == 1, gate.output
    line = next(line for line in gate.output.splitlines() if "certified by the onboarding course" in line)
    assert line.startswith("FAIL") and f"{ben} (failed)" in line and ana not in line
    assert f"ALERT {ben}: annotates without the onboarding course's certification (failed:" in gate.output
    dashboard = requests.get(links.dashboard_url(server.url, project.id), timeout=30)
    assert dashboard.status_code == 200 and "onboarding course" in dashboard.text and "left out of training and consensus" in dashboard.text


def _both_settled(lead, project_id: int, ana: str, ben: str) -> dict | None:
    """Each labeler's course line in `ls-context labelers`, once Ana is certified and Ben has failed."""
    lines = lead("labelers", "--project", str(project_id)).splitlines()
    found = {email: lines[i + 1].strip() for i, line in enumerate(lines[:-1]) for email in (ana, ben) if line.startswith(email)}
    settled = found.get(ana, "").startswith("course: certified") and found.get(ben, "").startswith("course: failed")
    return found if settled else None


def _answers_in_store(store, task_ids) -> int:
    from ls_context.store import Annotation

    with store.reading() as session:
        return len(session.scalars(select(Annotation.id).where(Annotation.task_id.in_(task_ids))).all())
