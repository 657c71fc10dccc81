"""The feedback loop against a real Label Studio: gold checks, feedback on the task, flags, duplicates."""

import json
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from ls_context.cli import main
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.store import Check

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
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


@pytest.fixture
def wired(ls, make_project, label_studio, feedback_backend, tmp_path, monkeypatch):
    project = make_project(CONFIG)
    ls.webhooks.create(
        url=f"{feedback_backend.url}/webhook", project=project.id, send_payload=True, send_for_all_actions=False,
        actions=["ANNOTATION_CREATED", "ANNOTATION_UPDATED"], headers={SECRET_HEADER: feedback_backend.secret},
    )
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    (tmp_path / "gold.json").write_text(json.dumps(GOLD))
    store_args = ["--db", feedback_backend.backend.settings.store_url()]
    result = CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json"), *store_args])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json"), *store_args])
    assert "0 gold task(s) imported" in again.output and "2 already there" in again.output
    return project, store_args


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


def test_a_wrong_answer_on_gold_gets_feedback_on_the_task_within_seconds(ls, wired):
    project, _ = wired
    task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])
    assert "ls_feedback" not in task.data and not task.annotations  # gold answers stay invisible

    ls.annotations.create(id=task.id, result=[choice("Frustrated but salvageable")])
    feedback, seconds = wait_for(lambda: ls.tasks.get(id=task.id).data.get("ls_feedback"), 5, "feedback")

    assert seconds < 5
    assert feedback.startswith("Gold check FAILED.")
    assert "Expected: Urgent intervention; you gave: Frustrated but salvageable." in feedback
    assert "Why: These go to the on-call lead" in feedback
    assert "This task: A business deadline with money attached. Why:" in feedback  # the task first, then the guideline
    assert [a.result for a in ls.annotations.list(id=task.id)] == [[choice("Frustrated but salvageable")]]  # untouched


def test_a_flagged_annotation_is_listed_and_marks_the_task(ls, wired):
    project, store_args = wired
    [task_id] = ls.projects.import_tasks(id=project.id, request=[{"text": "Hola, necesito ayuda"}], return_task_ids=True).task_ids
    ls.annotations.create(id=task_id, result=[
        choice("Routine question"),
        {"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Not in English"]}},
        {"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": ["Spanish"]}},
    ])

    wait_for(lambda: (ls.tasks.get(id=task_id).meta or {}).get("ls_flag") == "Not in English", 5, "the flag in task meta")
    result = CliRunner().invoke(main, ["flags", "--project", str(project.id), *store_args])

    assert result.exit_code == 0, result.output
    assert f"1  Not in English  [Routine question]  tasks: {task_id}" in result.output
    assert "Spanish" in result.output


def test_a_repeated_delivery_has_one_effect(ls, wired, feedback_backend):
    project, _ = wired
    task = task_by_text(ls, project.id, GOLD[1]["data"]["text"])
    annotation = ls.annotations.create(id=task.id, result=[choice("Routine question")])
    wait_for(lambda: ls.tasks.get(id=task.id).data.get("ls_feedback"), 5, "feedback")
    store = feedback_backend.backend.store
    payload = {"action": "ANNOTATION_CREATED", "task": {"id": task.id, "project": project.id, "data": task.data},
               "annotation": {"id": annotation.id, "result": [choice("Urgent intervention")],
                              "updated_at": ls.annotations.get(id=annotation.id).updated_at.isoformat().replace("+00:00", "Z")},
               "project": {"id": project.id}}
    headers = {SECRET_HEADER: feedback_backend.secret}

    # Label Studio's own delivery of this annotation version was recorded; replays of it change nothing.
    answers = [requests.post(f"{feedback_backend.url}/webhook", json=payload, headers=headers, timeout=5).json() for _ in range(2)]
    feedback_backend.backend.worker.run_once()

    assert [answer["event"] for answer in answers] == ["duplicate", "duplicate"]
    with store.session() as session:
        checks = session.scalar(select(func.count()).select_from(Check).where(Check.annotation_id == annotation.id))
    assert checks == 1
    assert ls.tasks.get(id=task.id).data["ls_feedback"].startswith("Gold check PASSED")


def test_sync_recovers_every_annotation_made_while_the_service_was_down(ls, make_project, label_studio, tmp_path, monkeypatch):
    from ls_context.demo.local_studio import free_port

    project = make_project(CONFIG)
    dead = f"http://127.0.0.1:{free_port()}/webhook"  # nothing listens: the service is down
    ls.webhooks.create(url=dead, project=project.id, send_payload=True, send_for_all_actions=False, actions=["ANNOTATION_CREATED"])
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    monkeypatch.setenv("LS_CONTEXT_GUIDELINES", str(ROOT / "label_configs" / "text-classification.yaml"))
    store_args = ["--db", f"sqlite:///{tmp_path / 'store.sqlite3'}", "--model-dir", str(tmp_path)]
    (tmp_path / "gold.json").write_text(json.dumps(GOLD))
    assert CliRunner().invoke(main, ["gold", "import", "--project", str(project.id), str(tmp_path / "gold.json"), *store_args]).exit_code == 0
    gold_task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])
    others = ls.projects.import_tasks(id=project.id, request=[{"text": f"message {i}"} for i in range(3)], return_task_ids=True).task_ids
    ls.annotations.create(id=gold_task.id, result=[choice("General feedback")])
    for task_id in others:
        ls.annotations.create(id=task_id, result=[choice("Routine question")])

    first = CliRunner().invoke(main, ["sync", "--project", str(project.id), *store_args])
    second = CliRunner().invoke(main, ["sync", "--project", str(project.id), *store_args])

    assert first.exit_code == 0, first.output
    assert first.output.startswith("4 annotations read, 4 never seen before; 4 processed; 1 write-backs delivered")
    assert second.output.startswith("4 annotations read, 0 never seen before; 0 processed; 0 write-backs delivered")
    assert ls.tasks.get(id=gold_task.id).data["ls_feedback"].startswith("Gold check FAILED.")


def test_setup_wires_a_project_and_is_safe_to_run_twice(ls, make_project, label_studio, feedback_backend, tmp_path, monkeypatch):
    plain = CONFIG.split('  <View className="ls-context">')[0] + "</View>\n"
    project = make_project(plain)
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    monkeypatch.setenv("LS_CONTEXT_WEBHOOK_SECRET", feedback_backend.secret)
    args = ["setup", "--project", str(project.id), "--guidelines", str(ROOT / "label_configs" / "text-classification.yaml"),
            "--backend-url", feedback_backend.url, "--model-dir", str(tmp_path / "models")]

    first = CliRunner().invoke(main, args)
    second = CliRunner().invoke(main, args)

    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert "model server connected" in first.output and "model server already connected" in second.output
    wired = ls.projects.get(id=project.id)
    assert "ls_flag" in wired.parsed_label_config and "When in doubt, flag" in wired.expert_instruction
    hooks = [h for h in ls.webhooks.list(project=project.id) if h.url == f"{feedback_backend.url}/webhook"]
    assert len(hooks) == 1 and hooks[0].headers == {SECRET_HEADER: feedback_backend.secret}
    assert len(list(ls.ml.list(project=project.id))) == 1
    assert (tmp_path / "models" / f"project-{project.id}" / "guidelines.yaml").exists()

    [task_id] = ls.projects.import_tasks(id=project.id, request=[{"text": "Where is my invoice?"}], return_task_ids=True).task_ids
    annotation = ls.annotations.create(id=task_id, result=[choice("Routine question")])
    store = feedback_backend.backend.store

    def received():
        from ls_context.store import Annotation
        with store.session() as session:
            return session.get(Annotation, annotation.id)

    wait_for(received, 5, "the annotation to arrive through the secured webhook")


def test_write_backs_wait_while_label_studio_is_down_and_arrive_after(ls, wired, label_studio, feedback_backend):
    project, _ = wired
    task = task_by_text(ls, project.id, GOLD[1]["data"]["text"])
    payload = {"action": "ANNOTATION_CREATED", "task": {"id": task.id, "project": project.id, "data": task.data},
               "annotation": {"id": 990001, "result": [choice("General feedback")], "updated_at": "2026-11-28T12:00:00Z"},
               "project": {"id": project.id}}
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

    feedback, _ = wait_for(lambda: ls.tasks.get(id=task.id).data.get("ls_feedback"), 90, "delivery after the restart")
    assert "Expected: Routine question; you gave: General feedback." in feedback


def test_serve_recovers_lost_webhooks_on_an_interval(ls, make_project, label_studio, tmp_path):
    from ls_context.demo.local_studio import free_port
    from ml_backend.serve import start_in_thread
    from ls_context.store import Annotation

    project = make_project(CONFIG)
    [first, lost] = ls.projects.import_tasks(id=project.id, request=[{"text": "a"}, {"text": "b"}], return_task_ids=True).task_ids
    server = start_in_thread("127.0.0.1", free_port(), model_dir=tmp_path, label_studio_url=label_studio.url,
                             label_studio_api_key=label_studio.account.token, sync_every=0.5, worker_interval=0.2)
    backend = server.app.extensions["ls_context"]
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
        backend.worker.stop()
        server.shutdown()
