"""The lead's dashboard: the gate, open flags with notes, labelers and gaps of one project, from the store, lead only."""

from pathlib import Path

from harness.config import WEBHOOK_SECRET, config_for
from ls_context.checks.personal import Links
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.store import Gold
from ml_backend import create_app

ROOT = Path(__file__).resolve().parent.parent
TRUTH = ["Urgent intervention", "Routine question", "General feedback"] * 6


def answer(label):
    return {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def test_the_dashboard_shows_the_gate_flags_and_gaps_to_the_lead_only(tmp_path):
    app = create_app(config_for(tmp_path, label_studio_url="http://127.0.0.1:8080"))
    services = app.extensions["ls_context"].services
    client = app.test_client()
    try:
        services.guidelines.push(3, (ROOT / "examples" / "support-triage" / "guidelines.yaml").read_text())
        with services.store.session() as session:
            for t, truth in enumerate(TRUTH):
                session.add(Gold(task_id=100 + t, project_id=3, result=[answer(truth)], explanation=""))
        number = 0
        for t, truth in enumerate(TRUTH):
            for labeler, email in ((4, "ana@example.com"), (5, "ben@example.com")):
                number += 1
                given = "Routine question" if (labeler == 5 and truth == "Urgent intervention") else truth
                result = [answer(given)]
                if labeler == 4 and t == 0:
                    result += [{"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Guideline unclear"]}},
                               {"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": ["deadline or not?"]}}]
                body = {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 100 + t, "project": 3, "data": {"text": f"m{t}"}},
                        "annotation": {"id": number, "result": result, "updated_at": "2026-11-27T10:00:00Z",
                                       "completed_by": {"id": labeler, "email": email}}}
                assert client.post("/webhook", json=body, headers={SECRET_HEADER: WEBHOOK_SECRET}).status_code == 201
        services.processor.run_pending()
        url = Links.of(services.store).dashboard_url("", 3)
        refused = client.get("/projects/3/dashboard?lead=guess")
        page = client.get(url)
    finally:
        app.extensions["ls_context"].close()
    assert refused.status_code == 403
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "img-src data: https: http:" in page.headers["Content-Security-Policy"]
    assert "Pilot gate: <span class='fail'>FAIL</span>" in html
    assert "ALERT ben@example.com: Urgent intervention -&gt; Routine question on 6 of 6 gold" in html
    assert "Open flags (1)" in html and "&ldquo;deadline or not?&rdquo;" in html
    assert '<a href="http://127.0.0.1:8080/projects/3/data?task=100">100</a>' in html
    assert f'<style nonce="' in html and "ana@example.com" in html


def test_behind_basic_auth_the_lead_token_alone_opens_it_and_logs_mask_the_tokens(tmp_path, monkeypatch):
    import logging

    from click.testing import CliRunner

    from ls_context import logs
    from ls_context.cli import main

    app = create_app(config_for(tmp_path, basic_auth_user="ml", basic_auth_pass="s3cret", backend_url="http://127.0.0.1:9090"))
    try:
        client = app.test_client()
        token_url = Links.of(app.extensions["ls_context"].store).dashboard_url("", 3)
        assert client.get(token_url).status_code == 200
        assert client.post("/predict", json={"tasks": []}).status_code == 401  # the model's routes still need basic auth
    finally:
        app.extensions["ls_context"].close()

    logs.configure("INFO")
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, '127.0.0.1 "GET %s HTTP/1.1" 200 -', (token_url,), None)
    logging.getLogger("werkzeug").filters[0].filter(record)
    assert record.getMessage() == '127.0.0.1 "GET /projects/3/dashboard?lead=... HTTP/1.1" 200 -'

    # Without Label Studio configured, `labelers` still gives the lead's links.
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LS_CONTEXT_BACKEND_URL", "http://127.0.0.1:9090")
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["labelers", "--project", "3"])
    assert result.exit_code == 0, result.output
    assert "http://127.0.0.1:9090" + token_url in result.output


def test_gold_nobody_answered_is_never_pinned_on_another_task():
    """Stored gold carries no data: a gold task without answers must not be matched to an answered task "by data"."""
    from ls_context.quality.export import build

    tasks = [{"id": 1, "project": 3, "annotations": [{"id": 11, "completed_by": "ana@example.com", "result": [answer("Routine question")]}]}]
    stored = [{"id": 1, "annotations": [{"result": [answer("Routine question")]}]},
              {"id": 2, "annotations": [{"result": [answer("Urgent intervention")]}]}]  # task 2: gold nobody answered

    for dataset in (build(tasks, stored), build(tasks, stored_gold=lambda projects: stored)):
        [control] = dataset.controls.values()
        assert {dataset.task_ids[t]: control.values[code] for t, code in control.gold.items()} == {1: "Routine question"}
