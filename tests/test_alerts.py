"""Alerts where the team talks: a flag reaches a Slack-style receiver in seconds, bursts arrive as digests, none is lost.

The receivers are real servers on 127.0.0.1 (an HTTP server for Slack-style and JSON webhooks, aiosmtpd
for e-mail); the model server is the real app, fed through its /webhook with the secret on.
"""

import json
import time

import pytest
from sqlalchemy import select

from harness.config import WEBHOOK_SECRET, config_for
from harness.receiver import Receiver
from ls_context.alerts import AlertSettings, AlertTargetError, message, parse_targets
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.store import Alert, AlertChannel, Writeback
from ml_backend import create_app


def flagged(annotation_id: int, reason: str = "Guideline unclear", note: str = "Which rule wins when both fire?") -> dict:
    result = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Routine question"]}},
              {"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [reason]}},
              {"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": [note]}}]
    return {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 1000 + annotation_id, "project": 3, "data": {"text": "hi"}},
            "annotation": {"id": annotation_id, "result": result, "updated_at": "2026-11-29T10:00:00Z",
                           "completed_by": {"id": 4, "email": "ana@example.com"}}}


def post(app, body) -> None:
    answer = app.test_client().post("/webhook", json=body, headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert answer.status_code in (200, 201), answer.get_data(as_text=True)


def server(tmp_path, targets: str, digest: float = 2.0):
    return create_app(config_for(tmp_path, alerts=targets, alert_digest=digest, label_studio_url="http://127.0.0.1:8080"))


def test_target_urls_are_parsed_and_named_without_their_secrets():
    targets = parse_targets("slack+https://hooks.slack.com/services/T0/B0/SECRETTOKEN\n"
                            "https://alerts.example.com/in?key=SECRETKEY  smtp://u:SECRETPASS@mail.example.com:587?from=a@x.com&to=b@x.com,c@x.com")
    assert [t.kind for t in targets] == ["slack", "json", "smtp"]
    assert all("SECRET" not in t.channel and t.channel.startswith(t.kind + "-") for t in targets)
    for bad, why in (("ftp://x.com/a", "unknown kind 'ftp'"), ("smtp://SECRETPASS@mail.example.com", "needs ?from=...&to=..."),
                     ("slack+https:///hook", "no host")):
        with pytest.raises(AlertTargetError) as error:
            parse_targets(bad)
        assert why in str(error.value) and "SECRET" not in str(error.value)


def test_a_guideline_unclear_flag_reaches_a_slack_style_receiver_within_seconds(tmp_path):
    with Receiver() as slack:
        app = server(tmp_path, f"slack+{slack.url}")
        try:
            started = time.monotonic()
            post(app, flagged(1))
            [body] = slack.wait_for(lambda bodies: len(bodies) == 1, timeout=5)
            elapsed = slack.bodies[0][0] - started
            post(app, flagged(2, reason="Unsure"))  # not a reason that alerts
            time.sleep(1.5)
        finally:
            app.extensions["ls_context"].close()
    assert elapsed < 5
    assert set(body) == {"text"}  # Slack's incoming-webhook shape
    assert "Task 1001 (project 3) flagged 'Guideline unclear' by ana@example.com: Which rule wins when both fire?" in body["text"]
    assert "http://127.0.0.1:8080/projects/3/data?task=1001" in body["text"]
    assert len(slack.received()) == 1


def test_a_burst_of_100_flags_arrives_as_digests_none_lost_across_a_restart(tmp_path):
    with Receiver() as hook:
        app = server(tmp_path, f"json+{hook.url}", digest=1.5)
        for number in range(1, 51):
            post(app, flagged(number))
        hook.wait_for(lambda bodies: bodies, timeout=5)
        app.extensions["ls_context"].close()  # the server stops with alerts still waiting
        restarted = server(tmp_path, f"json+{hook.url}", digest=1.5)  # same store, same channel
        try:
            for number in range(51, 101):
                post(restarted, flagged(number))
            bodies = hook.wait_for(lambda bodies: len({a["task"] for b in bodies for a in b["alerts"]}) == 100, timeout=20)
        finally:
            restarted.extensions["ls_context"].close()
    tasks = [alert["task"] for body in bodies for alert in body["alerts"]]
    assert sorted(set(tasks)) == list(range(1001, 1101))
    assert len(bodies) <= 10, [len(b["alerts"]) for b in bodies]  # digests, not a hundred messages
    digest = next(body for body in bodies if len(body["alerts"]) > 1)
    assert digest["text"].startswith(f"{len(digest['alerts'])} alerts: {len(digest['alerts'])} flags")
    assert digest["subject"].startswith("ls-context: ")


def test_a_channel_that_fails_keeps_its_alerts_and_retries(tmp_path):
    with Receiver() as hook:
        hook.status = 503
        app = server(tmp_path, f"json+{hook.url}", digest=0.0)
        services = app.extensions["ls_context"].services
        try:
            post(app, flagged(1))
            store = services.store

            def failures():
                with store.reading() as session:
                    return session.scalar(select(AlertChannel.failures))
            deadline = time.monotonic() + 5
            while not failures() and time.monotonic() < deadline:
                time.sleep(0.1)
            with store.reading() as session:
                assert session.scalar(select(Alert.status)) == "pending" and failures() >= 1
            hook.status = 200
            [body] = hook.wait_for(lambda bodies: bodies, timeout=10)  # the next try, after a 2 s backoff
        finally:
            app.extensions["ls_context"].close()
    assert body["alerts"][0]["task"] == 1001
    with store.reading() as session:
        assert session.scalar(select(Alert.status)) == "sent"


def test_an_alert_by_e_mail_over_a_local_smtp_server(tmp_path):
    from aiosmtpd.controller import Controller

    class Inbox:
        def __init__(self):
            self.messages = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content.decode()))
            return "250 OK"

    from ls_context.demo.local_studio import free_port

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app = server(tmp_path, f"smtp://127.0.0.1:{port}?from=ls@example.com&to=lead@example.com,qa@example.com")
        try:
            post(app, flagged(1))
            deadline = time.monotonic() + 5
            while not inbox.messages and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            app.extensions["ls_context"].close()
    finally:
        controller.stop()
    [(sender, recipients, content)] = inbox.messages
    assert sender == "ls@example.com" and recipients == ["lead@example.com", "qa@example.com"]
    assert "Subject: ls-context: Task 1001 (project 3) flagged 'Guideline unclear'" in content
    assert "Which rule wins when both fire?" in content


def test_a_dead_write_back_is_an_alert(tmp_path):
    from ls_context.services import build
    from ls_context.writeback.delivery import claim_due, deliver, new_owner

    class Refusing:
        def merge_into_task(self, task_id, kind, payload):
            error = RuntimeError("403 Forbidden")
            error.status = 403
            raise error

    services = build(config_for(tmp_path, alerts="json+http://127.0.0.1:9/none"))
    with services.store.session() as session:
        session.add(Writeback(project_id=3, task_id=7, kind="meta", payload={"ls_flag": "Unsure"}))
    owner = new_owner()
    [claimed] = claim_due(services.store, owner, 5)
    assert deliver(services.store, Refusing(), claimed, owner, services.alerts) == "dead"
    with services.store.reading() as session:
        [alert] = session.scalars(select(Alert)).all()
    services.close()
    assert alert.kind == "dead_writeback" and "task 7 (project 3) is dead after 1 attempt(s): RuntimeError: 403 Forbidden" in alert.text


def test_the_gate_tells_the_channels_its_verdict(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from ls_context.cli import main
    from ls_context.services import build

    export = [{"id": t, "project": 3, "annotations": [{"completed_by": "ana", "result": [
        {"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["b"]}}]}]} for t in range(6)]
    gold = [{"id": t, "annotations": [{"result": [{"from_name": "c", "to_name": "t", "type": "choices", "value": {"choices": ["a"]}}]}]}
            for t in range(6)]
    (tmp_path / "export.json").write_text(json.dumps(export))
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    build(config_for(tmp_path)).close()  # the store exists, as on a server
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LS_CONTEXT_ALERTS", "slack+http://127.0.0.1:9/hook")
    result = CliRunner().invoke(main, ["gate", "--export", str(tmp_path / "export.json"), "--gold", str(tmp_path / "gold.json"),
                                       "--min-accuracy", "0.8"])
    assert result.exit_code == 1, result.output
    services = build(config_for(tmp_path))
    with services.store.reading() as session:
        [alert] = session.scalars(select(Alert)).all()
    services.close()
    assert alert.kind == "gate" and alert.project_id == 3
    assert alert.text.startswith("Pilot gate FAILED for project 3: gold accuracy per labeler: measured 0, threshold 0.8")
    assert "ana: gold accuracy 0% on 6 gold answers" in alert.text


def test_a_digest_counts_by_kind_and_spells_out_the_first_twenty():
    alerts = [Alert(id=n, kind="flag", text=f"flag {n}", link=None) for n in range(25)] + [Alert(id=99, kind="gate", text="gate", link="L")]
    subject, text = message(alerts)
    assert subject == "ls-context: 26 alerts (25 flags, 1 pilot gate)"
    lines = text.splitlines()
    assert lines[0] == "26 alerts: 25 flags, 1 pilot gate" and lines[1] == "- flag 0" and len(lines) == 22
    assert lines[-1] == "... and 6 more"
    assert message(alerts[-1:]) == ("ls-context: gate", "gate L")
    assert AlertSettings().task_link(3, 4) is None


def test_the_readme_alerts_setting_gives_the_line_it_shows(tmp_path, monkeypatch):
    import shlex

    from click.testing import CliRunner

    from harness.readme import README, bash_lines
    from ls_context.cli import main

    [export] = [line for line in bash_lines() if line.startswith("export LS_CONTEXT_ALERTS=")]
    [shown] = [line for line in README.read_text().splitlines() if line.startswith("ls-context config show | grep alerts")]
    value = shlex.split(export.removeprefix("export "))[0].split("=", 1)[1]
    monkeypatch.setenv("LS_CONTEXT_ALERTS", value)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    output = CliRunner().invoke(main, ["config", "show"]).output
    assert [line for line in output.splitlines() if "alerts" in line and "ok" in line] == [shown.split("# ", 1)[1]]
    assert "PASSWORD" not in output and "XXXX" not in output


def test_a_labeler_confidently_below_the_bar_is_told_once_per_label(tmp_path):
    """Ben answers every Urgent gold task as Routine: told once for that label and once for his pooled accuracy, from 5 on."""
    from pathlib import Path

    from ls_context.store import Gold

    root = Path(__file__).resolve().parent.parent
    with Receiver() as hook:
        app = server(tmp_path, f"json+{hook.url}", digest=0.0)
        services = app.extensions["ls_context"].services
        try:
            services.guidelines.push(3, (root / "examples" / "support-triage" / "guidelines.yaml").read_text())
            truths = ["Urgent intervention"] * 8 + ["Routine question"] * 4
            with services.store.session() as session:
                for t, truth in enumerate(truths):
                    session.add(Gold(task_id=1000 + t, project_id=3, explanation="",
                                     result=[{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [truth]}}]))
            for t, truth in enumerate(truths):
                body = flagged(t + 1)
                body["task"]["id"] = 1000 + t
                body["annotation"]["result"] = [{"from_name": "triage", "to_name": "text", "type": "choices",
                                                 "value": {"choices": ["Routine question"]}}]
                body["annotation"]["completed_by"] = {"id": 5, "email": "ben@example.com"}
                post(app, body)
            bodies = hook.wait_for(lambda found: len([a for b in found for a in b["alerts"] if a["kind"] == "labeler"]) >= 2, timeout=10)
            time.sleep(1)
            bodies = hook.received()
        finally:
            app.extensions["ls_context"].close()
    texts = [a["text"] for b in bodies for a in b["alerts"] if a["kind"] == "labeler"]
    assert "ben@example.com misses Urgent intervention: 0 of 5 gold right (0%, bar 85%) (project 3)" in texts
    assert "ben@example.com is below the bar on gold: 0 of 5 right (0%, bar 85%) (project 3)" in texts
    assert len(texts) == len(set(t.split(":")[0] for t in texts)) == 2  # each told once, however many answers follow
