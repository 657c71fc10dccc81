"""The feedback loop against a real Label Studio: gold checks, each labeler's own feedback, flags, duplicates."""

import json
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from ls_context.checks.personal import Links
from ls_context.cli import main
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.store import Check, Feedback

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
GOLD = [
    {"data": {"text": "Our store opens Thursday and the 400-unit order has not shipped."},
     "annotations": [{"result": [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Urgent intervention"]}}]}],
     "explanation": "A business deadline with money attached."},
    {"data": {"text": "How do I add a second billing address?"},
     "annotations": [{"result": [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Routine question"]}}]}]},
]

pytestmark = pytest.mark.labelstudio


def choice(label):
    return {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def flag(reason, note=None):
    items = [{"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [reason]}}]
    if note:
        items.append({"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": [note]}})
    return items


def use_store_of(backend, monkeypatch, label_studio):
    """Commands in this test read the same configuration as the server: its store, the same Label Studio."""
    monkeypatch.setenv("MODEL_DIR", str(backend.config.model_dir))
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)


@pytest.fixture
def wired(ls, make_project, label_studio, feedback_backend, tmp_path, monkeypatch):
    project = make_project(CONFIG)
    ls.webhooks.create(
        url=f"{feedback_backend.url}/webhook", project=project.id, send_payload=True, send_for_all_actions=False,
        actions=["ANNOTATION_CREATED", "ANNOTATION_UPDATED"], headers={SECRET_HEADER: feedback_backend.secret},
    )
    use_store_of(feedback_backend.backend, monkeypatch, label_studio)
    (tmp_path / "gold.json").write_text(json.dumps(GOLD))
    result = CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json")])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json")])
    assert "0 gold task(s) imported" in again.output and "2 already there" in again.output
    return project


def task_by_text(ls, project_id, text):
    return next(t for t in ls.tasks.list(project=project_id, fields="all") if t.data["text"] == text)


def wait_for(condition, timeout_s, what):
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        value = condition()
        if value:
            return value, time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")


def feedback_of(store, annotation_id):
    with store.reading() as session:
        return session.scalar(select(Feedback).where(Feedback.annotation_id == annotation_id))


def test_a_wrong_answer_on_gold_reaches_only_its_labeler_within_seconds(ls, wired, feedback_backend):
    task = task_by_text(ls, wired.id, GOLD[0]["data"]["text"])
    assert not task.annotations and set(task.data) == {"text"}  # gold answers stay invisible

    annotation = ls.annotations.create(id=task.id, result=[choice("Frustrated but salvageable")])
    feedback, seconds = wait_for(lambda: feedback_of(feedback_backend.backend.store, annotation.id), 5, "feedback")

    assert seconds < 5
    assert feedback.text.startswith("Gold check FAILED.")
    assert "Expected: Urgent intervention; you gave: Frustrated but salvageable." in feedback.text
    assert "This task: A business deadline with money attached. Why: These go to the on-call lead" in feedback.text
    link = Links.of(feedback_backend.backend.store).feedback_url(feedback_backend.url, annotation.completed_by)
    page = requests.get(link, timeout=5).text
    assert "Expected: Urgent intervention; you gave: Frustrated but salvageable." in page
    # Nothing about the verdict went back into Label Studio, where every labeler of the task could read it.
    after = ls.tasks.get(id=task.id)
    assert set(after.data) == {"text"} and not {key for key in (after.meta or {}) if key.startswith("ls_")}
    assert [a.result for a in ls.annotations.list(id=task.id)] == [[choice("Frustrated but salvageable")]]


def test_a_flagged_annotation_is_listed_and_marks_the_task(ls, wired):
    [task_id] = ls.projects.import_tasks(id=wired.id, request=[{"text": "Hola, necesito ayuda"}], return_task_ids=True).task_ids
    ls.annotations.create(id=task_id, result=[choice("Routine question"), *flag("Not in English", "Spanish")])

    wait_for(lambda: (ls.tasks.get(id=task_id).meta or {}).get("ls_flag") == "Not in English", 5, "the flag in task meta")
    result = CliRunner().invoke(main, ["flags", "--project", str(wired.id)])

    assert result.exit_code == 0, result.output
    assert f"1  Not in English  [Routine question]  tasks: {task_id}" in result.output
    assert "Spanish" in result.output


def test_a_repeated_delivery_has_one_effect(ls, wired, feedback_backend):
    task = task_by_text(ls, wired.id, GOLD[1]["data"]["text"])
    annotation = ls.annotations.create(id=task.id, result=[choice("Routine question")])
    store = feedback_backend.backend.store
    wait_for(lambda: feedback_of(store, annotation.id), 5, "feedback")
    payload = {"action": "ANNOTATION_CREATED", "task": {"id": task.id, "project": wired.id, "data": task.data},
               "annotation": {"id": annotation.id, "result": [choice("Urgent intervention")],
                              "updated_at": ls.annotations.get(id=annotation.id).updated_at.isoformat().replace("+00:00", "Z")},
               "project": {"id": wired.id}}
    headers = {SECRET_HEADER: feedback_backend.secret}

    # Label Studio's own delivery of this annotation version was recorded; replays of it change nothing.
    answers = [requests.post(f"{feedback_backend.url}/webhook", json=payload, headers=headers, timeout=5).json() for _ in range(2)]
    feedback_backend.backend.worker.run_once()

    assert [answer["event"] for answer in answers] == ["duplicate", "duplicate"]
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Check).where(Check.annotation_id == annotation.id)) == 1
        assert session.scalar(select(func.count()).select_from(Feedback).where(Feedback.annotation_id == annotation.id)) == 1
    assert feedback_of(store, annotation.id).text.startswith("Gold check PASSED")


def test_sync_recovers_every_annotation_made_while_the_service_was_down(ls, make_project, label_studio, tmp_path, monkeypatch):
    from ls_context.demo.local_studio import free_port
    from ls_context.store import Store

    project = make_project(CONFIG)
    dead = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens: the service is down
    ls.webhooks.create(url=dead, project=project.id, send_payload=True, send_for_all_actions=False, actions=["ANNOTATION_CREATED"])
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    monkeypatch.setenv("LS_CONTEXT_GUIDELINES", str(GUIDELINES))
    monkeypatch.setenv("LS_CONTEXT_DB", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    (tmp_path / "gold.json").write_text(json.dumps(GOLD))
    assert CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json")]).exit_code == 0
    gold_task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])
    others = ls.projects.import_tasks(id=project.id, request=[{"text": f"message {i}"} for i in range(3)], return_task_ids=True).task_ids
    missed = ls.annotations.create(id=gold_task.id, result=[choice("General feedback")])
    for task_id in others:
        ls.annotations.create(id=task_id, result=[choice("Routine question"), *flag("Unsure")])

    first = CliRunner().invoke(main, ["sync", "--project", str(project.id)])
    second = CliRunner().invoke(main, ["sync", "--project", str(project.id)])

    assert first.exit_code == 0, first.output
    assert first.output.startswith("4 annotations read, 4 never seen before; 4 processed; 3 write-backs delivered")
    assert second.output.startswith("4 annotations read, 0 never seen before; 0 processed; 0 write-backs delivered")
    assert feedback_of(Store(f"sqlite:///{tmp_path / 'store.sqlite3'}"), missed.id).text.startswith("Gold check FAILED.")
    assert all((ls.tasks.get(id=task_id).meta or {}).get("ls_flag") == "Unsure" for task_id in others)


def test_write_backs_wait_while_label_studio_is_down_and_arrive_after(ls, wired, label_studio, feedback_backend):
    task = task_by_text(ls, wired.id, GOLD[1]["data"]["text"])
    payload = {"action": "ANNOTATION_CREATED", "task": {"id": task.id, "project": wired.id, "data": task.data},
               "annotation": {"id": 990001, "result": [choice("General feedback"), *flag("Guideline unclear")],
                              "updated_at": "2026-11-28T12:00:00Z"},
               "project": {"id": wired.id}}
    label_studio.stop()
    try:
        answer = requests.post(f"{feedback_backend.url}/webhook", json=payload, headers={SECRET_HEADER: feedback_backend.secret}, timeout=5)
        assert answer.status_code == 201

        def failed_at_least_once():
            from ls_context.store import Writeback
            with feedback_backend.backend.store.session() as session:
                return session.scalar(select(Writeback).where(Writeback.task_id == task.id, Writeback.attempts >= 1, Writeback.status == "pending"))

        wait_for(failed_at_least_once, 30, "a failed delivery attempt while Label Studio is down")
    finally:
        label_studio.start()

    wait_for(lambda: (ls.tasks.get(id=task.id).meta or {}).get("ls_flag") == "Guideline unclear", 90, "delivery after the restart")


def test_serve_recovers_lost_webhooks_on_an_interval(ls, make_project, label_studio, tmp_path):
    from harness.config import config_for
    from ls_context.demo.local_studio import free_port
    from ls_context.store import Annotation
    from ml_backend.serve import start_in_thread

    project = make_project(CONFIG)
    [first, lost] = ls.projects.import_tasks(id=project.id, request=[{"text": "a"}, {"text": "b"}], return_task_ids=True).task_ids
    config = config_for(tmp_path, label_studio_url=label_studio.url, label_studio_api_key=label_studio.account.token, sync_every=0.5)
    server = start_in_thread("127.0.0.1", free_port(), config)
    backend = server.backend
    try:
        known = ls.annotations.create(id=first, result=[choice("Routine question")])
        backend.worker.processor.annotation(  # the store now knows the project
            {"annotation": {"id": known.id, "result": [choice("Routine question")], "updated_at": "old"},
             "task": {"id": first, "project": project.id, "data": {"text": "a"}}}, project.id)
        missed = ls.annotations.create(id=lost, result=[choice("General feedback")])  # no webhook reaches the server

        def recovered():
            with backend.store.session() as session:
                return session.get(Annotation, missed.id)

        row, _ = wait_for(recovered, 15, "the periodic sync to recover the missed annotation")
        assert row.result == [choice("General feedback")]
    finally:
        backend.close()
        server.shutdown()
