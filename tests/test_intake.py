"""Webhook intake and write-back delivery: bad input is refused and nothing wrong is stored; nothing is dropped."""

import base64
import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import respx
from sqlalchemy import func, select

from ls_context.writeback.delivery import deliver_due
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.checks.processor import Processor
from ls_context.checks.personal import Links
from ls_context.labelstudio import Gateway
from ls_context.store import Check, Event, Feedback, Flag, Gold, Writeback, now
from harness.config import config_for
from ml_backend import create_app

ROOT = Path(__file__).resolve().parent.parent
SECRET = "intake-secret"


def event(annotation_id=1, label="Routine question", updated="2026-11-28T10:00:00Z", flag=None, task_id=10):
    result = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
    if flag:
        result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [flag]}})
    return {"action": "ANNOTATION_CREATED", "project": {"id": 3, "token": "project-token"},
            "task": {"id": task_id, "project": 3, "data": {"text": "hi"}},
            "annotation": {"id": annotation_id, "result": result, "updated_at": updated, "completed_by": 4}}


@pytest.fixture
def app(tmp_path):
    return create_app(config_for(tmp_path, webhook_secret=SECRET, guidelines=ROOT / "label_configs" / "text-classification.yaml"))


def events_stored(app) -> int:
    with app.extensions["ls_context"].store.session() as session:
        return session.scalar(select(func.count()).select_from(Event))


@pytest.mark.parametrize("headers", [{}, {SECRET_HEADER: "guess"}, {SECRET_HEADER: "ïntake-sécret"}])
def test_a_wrong_or_missing_secret_is_refused_and_nothing_stored(app, headers):
    answer = app.test_client().post("/webhook", json=event(), headers=headers)

    assert answer.status_code == 401
    assert events_stored(app) == 0


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b'{"action": "ANNOTATION_CREATED", "annotation": {"id": 1', 400), (b"[]", 400),
    (json.dumps({"action": "ANNOTATION_CREATED", "annotation": {"id": "x"}, "task": {"id": 1}}).encode(), 400),
    (json.dumps({"action": 5}).encode(), 400),
])
def test_malformed_bodies_get_400_and_store_nothing(app, body, status):
    answer = app.test_client().post("/webhook", data=body, content_type="application/json", headers={SECRET_HEADER: SECRET})

    assert answer.status_code == status
    assert "error" in answer.json
    assert events_stored(app) == 0


def _annotation(**fields) -> bytes:
    payload = event()
    payload["annotation"].update(fields)
    return json.dumps(payload, allow_nan=True).encode()


@pytest.mark.parametrize("body, field", [
    (_annotation(id=True), "annotation.id"),  # once stored as annotation 1, overwriting it
    (_annotation(id=2**63), "annotation.id"),  # beyond SQLite's and PostgreSQL's integers
    (_annotation(lead_time=float("nan")), "the body is not valid JSON"),  # PostgreSQL's JSON refuses NaN
    (_annotation(updated_at="x" * 300), "annotation.updated_at"),
    (_annotation(result=[1, "x", None]), "annotation.result[0]"),  # once broke every refit of the project
    (_annotation(result=[{"from_name": ["a"], "value": {}}]), "annotation.result[0].from_name"),
    (json.dumps({**event(), "task": {**event()["task"], "data": {"text": "\ud800"}}}).encode(), "lone surrogate"),
    (("[" * 900 + "]" * 900).encode(), "nests deeper than 32 levels"),
    (json.dumps({"action": "X", "deep": json.loads("[" * 40 + "]" * 40)}).encode(), "nests deeper than 32 levels"),
    (json.dumps({"action": "START_TRAINING", "project": {"id": -5}}).encode(), "project.id"),  # once recorded, then 400
    (json.dumps({"action": "START_TRAINING"}).encode(), "START_TRAINING needs the project's id"),
    (json.dumps({**event(), "project": None, "task": {"id": 10, "data": {}}}).encode(), "needs the project's id"),
    (json.dumps({**event(), "project": {"id": 1}}).encode(), "name different projects"),  # the task says 3
    (json.dumps({"action": "TASKS_DELETED", "tasks": [{"id": True}]}).encode(), "tasks[0].id"),
    (json.dumps({"action": "TASKS_DELETED", "tasks": "abc"}).encode(), "'tasks' must be a list"),
])
def test_what_would_fail_later_is_refused_now_naming_the_field_and_stored_nowhere(app, body, field):
    answer = app.test_client().post("/webhook", data=body, content_type="application/json", headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 400 and field in answer.json["error"]
    assert events_stored(app) == 0


def test_a_10_mb_body_gets_413(app):
    body = json.dumps({**event(), "padding": "x" * (10 * 1024 * 1024)})

    answer = app.test_client().post("/webhook", data=body, content_type="application/json", headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 413 and events_stored(app) == 0


def test_unknown_actions_are_acknowledged_and_ignored(app):
    answer = app.test_client().post("/webhook", json={"action": "SOMETHING_NEW"}, headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 200 and answer.json["event"] == "ignored"
    assert events_stored(app) == 0


def test_events_are_committed_before_the_answer_and_without_secrets(app):
    answer = app.test_client().post("/webhook", json=event(), headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 201 and answer.json["event"] == "recorded"
    with app.extensions["ls_context"].store.session() as session:
        [stored] = session.scalars(select(Event)).all()
    assert stored.key == "annotation:1:2026-11-28T10:00:00Z"
    assert "project-token" not in json.dumps(stored.payload)


def test_processing_checks_gold_and_keeps_the_labelers_feedback_in_the_store_once(store):
    from ls_context.guidelines import load

    with store.session() as session:
        session.add(Gold(task_id=10, project_id=3, result=event(label="Urgent intervention")["annotation"]["result"], explanation=""))
    processor = Processor(store, lambda _: load(ROOT / "label_configs" / "text-classification.yaml"))
    for _ in range(2):  # the same event twice, then processing twice
        store.record_event("k1", "ANNOTATION_CREATED", 3, event())
        processor.run_pending()
    processor.annotation(event(), 3)  # as `sync` would replay it

    with store.session() as session:
        checks = session.scalars(select(Check)).all()
        [feedback] = session.scalars(select(Feedback)).all()
        writebacks = session.scalars(select(Writeback)).all()
    assert [(c.control, c.passed) for c in checks] == [("triage", False)]
    assert (feedback.labeler_id, feedback.task_id, feedback.passed) == (4, 10, False)
    assert "Expected: Urgent intervention; you gave: Routine question." in feedback.text
    assert "Edge case:" in feedback.text
    assert writebacks == []  # nothing about a gold task goes to Label Studio, where every labeler could read it


def test_the_gold_check_passes_a_box_at_the_guidelines_match_threshold_as_the_report_does(store):
    """One setting, `gate.match`, decides the labeler's verdict in the feedback and in the report alike."""
    from dataclasses import replace

    from ls_context.guidelines import load
    from ls_context.quality.export import build
    from ls_context.quality.metrics import compute

    def boxes(x):
        return [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels",
                 "value": {"x": x, "y": 0, "width": 10, "height": 10, "rectanglelabels": ["Car"]}}]
    guidelines = load(ROOT / "examples" / "street-scenes" / "guidelines.yaml")
    loose = replace(guidelines, gate=replace(guidelines.gate, match={"objects": 0.5}))
    strict = replace(guidelines, gate=replace(guidelines.gate, match={"rectanglelabels": 0.7}))
    for task_id, rules in ((21, loose), (22, strict)):
        with store.session() as session:
            session.add(Gold(task_id=task_id, project_id=3, result=boxes(0), explanation=""))
        given = {**event(annotation_id=task_id, task_id=task_id), "annotation": {
            "id": task_id, "result": boxes(2), "updated_at": "2026-11-28T10:00:00Z", "completed_by": 4}}  # IoU 80 / 120
        Processor(store, lambda _, rules=rules: rules).annotation(given, 3)
        export = [{"id": task_id, "annotations": [{"completed_by": 4, "result": boxes(2)}]}]
        report = compute(build(export, [{"id": task_id, "annotations": [{"result": boxes(0)}]}]), rules.gate.match)
        with store.session() as session:
            feedback = session.scalar(select(Feedback).where(Feedback.task_id == task_id))
        assert feedback.passed is (rules is loose)
        assert report["annotators"]["4"]["gold_accuracy"] == (1.0 if rules is loose else 0.0)


def test_an_older_version_arriving_late_changes_nothing(store):
    processor = Processor(store)
    processor.annotation(event(flag="Unsure", updated="2026-11-28T11:00:00Z"), 3)
    processor.annotation(event(updated="2026-11-28T10:00:00Z"), 3)

    with store.session() as session:
        assert session.get(Flag, 1).reason == "Unsure"


def test_removing_a_flag_clears_it(store):
    processor = Processor(store)
    processor.annotation(event(flag="Unsure", updated="2026-11-28T10:00:00Z"), 3)
    processor.annotation(event(updated="2026-11-28T11:00:00Z"), 3)

    with store.session() as session:
        assert session.get(Flag, 1) is None
        payloads = [w.payload for w in session.scalars(select(Writeback).order_by(Writeback.id))]
    assert payloads == [{"ls_flag": "Unsure", "ls_flag_note": ""}, {"ls_flag": None, "ls_flag_note": None}]


def test_a_failed_write_back_is_kept_and_retried_with_backoff(store):
    # The SDK speaks httpx, so respx plays the failing Label Studio here.
    url = "http://label-studio.invalid"
    with store.session() as session:
        session.add(Writeback(project_id=3, task_id=10, kind="meta", payload={"ls_flag": "Unsure"}))
    client = Gateway(url, "key", retries=0)

    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{url}/api/tasks/10/").mock(return_value=httpx.Response(503))
        assert deliver_due(store, client) == (0, 1)
    with store.session() as session:
        [kept] = session.scalars(select(Writeback)).all()
        assert (kept.status, kept.attempts) == ("pending", 1) and kept.last_error
        assert deliver_due(store, client) == (0, 0)  # not due yet: backing off
        kept.next_attempt_at = now() - timedelta(seconds=1)

    with respx.mock() as mock:
        mock.get(f"{url}/api/tasks/10/").mock(return_value=httpx.Response(200, json={"id": 10, "data": {"text": "hi"}, "meta": {"ls_pilot": "p1"}}))
        patch = mock.patch(f"{url}/api/tasks/10/").mock(return_value=httpx.Response(200, json={"id": 10}))
        assert deliver_due(store, client) == (1, 0)
    assert json.loads(patch.calls.last.request.content)["meta"] == {"ls_pilot": "p1", "ls_flag": "Unsure"}
    with store.session() as session:
        assert session.scalars(select(Writeback)).one().status == "delivered"


def _two_gold_answers(app):
    store = app.extensions["ls_context"].store
    with store.session() as session:
        session.add(Gold(task_id=10, project_id=3, result=event(label="Urgent intervention")["annotation"]["result"], explanation=""))
        session.add(Gold(task_id=11, project_id=3, result=event(label="Routine question")["annotation"]["result"], explanation=""))
    processor = Processor(store)
    processor.annotation(event(annotation_id=1, task_id=10), 3)
    processor.annotation(event(annotation_id=2, task_id=11), 3)


def test_a_labeler_reads_their_own_feedback_through_their_personal_link_only(app):
    _two_gold_answers(app)
    client = app.test_client()
    links = Links.of(app.extensions["ls_context"].store)

    own = client.get(f"/feedback/{links.labeler_token(4)}")
    someone_else = client.get(f"/feedback/{links.labeler_token(5)}")
    forged = client.get(f"/feedback/{Links(SECRET).labeler_token(4)}")  # signed with the webhook secret: not the key

    assert own.status_code == 200
    html = own.get_data(as_text=True)
    assert "1 of 2</b> gold checks passed: 50%" in html
    assert "Expected: Urgent intervention; you gave: Routine question." in html
    assert "Content-Security-Policy" in own.headers and own.headers["Referrer-Policy"] == "no-referrer"
    assert someone_else.status_code == 200 and "No gold checks yet" in someone_else.get_data(as_text=True)
    assert forged.status_code == 403 and "Expected" not in forged.get_data(as_text=True)


def test_the_leads_view_of_a_labeler_needs_the_leads_link_not_basic_auth(app, tmp_path):
    _two_gold_answers(app)
    links = Links.of(app.extensions["ls_context"].store)
    assert app.test_client().get("/labelers/4").status_code == 403

    # Basic auth does not open it: Label Studio shows the webhook's Authorization header to all its users.
    guarded = create_app(config_for(tmp_path / "guarded", webhook_secret=SECRET, basic_auth_user="lead", basic_auth_pass="pw",
                                    db=app.extensions["ls_context"].config.store_url()))
    client = guarded.test_client()
    basic = {"Authorization": "Basic " + base64.b64encode(b"lead:pw").decode()}
    assert client.get("/labelers/4", headers=basic).status_code == 403
    assert client.get(f"/labelers/4?lead={Links(SECRET).lead_token()}", headers=basic).status_code == 403
    page = client.get(f"/labelers/4?lead={links.lead_token()}")
    assert page.status_code == 200 and "1 of 2</b> gold checks passed" in page.get_data(as_text=True)
    # A labeler's personal link needs no basic auth either: labelers never need the server's credentials.
    assert client.get(f"/feedback/{links.labeler_token(4)}").status_code == 200
    assert client.get("/health").status_code == 401  # everything else stays behind basic auth


def test_a_refused_webhook_is_said_in_the_log_without_the_secret(app, caplog):
    with caplog.at_level("WARNING", logger="ml_backend"):
        for _ in range(3):
            app.test_client().post("/webhook", json=event(), headers={SECRET_HEADER: "a guess"})

    refusals = [record.getMessage() for record in caplog.records if "webhook refused" in record.getMessage()]
    assert len(refusals) == 1 and "wrong or missing X-LS-Context-Secret header" in refusals[0]
    assert "a guess" not in caplog.text and SECRET not in caplog.text


def test_an_annotation_event_whose_project_object_has_no_id_takes_the_tasks(app):
    payload = {**event(), "project": {"title": "no id here"}}  # task.project is 3

    answer = app.test_client().post("/webhook", json=payload, headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 201
    with app.extensions["ls_context"].store.session() as session:
        assert session.scalars(select(Event.project_id)).one() == 3
