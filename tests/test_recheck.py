"""`ls-context recheck`: after a new guidelines version, the finished answers its rules contradict, marked in Label Studio."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.checks.processor import Processor
from ls_context.cli import main
from ls_context.services import build
from harness.config import config_for

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
GUIDELINES = (ROOT / "label_configs" / "text-classification.yaml").read_text()
TEXTS = {
    "Please put me through to a journalist, I am done with you": "Frustrated but salvageable",  # the new rule says Urgent
    "Love the new dark mode": "General feedback",                                                 # no rule fires
    "How do I change the billing email?": "Routine question",                                     # no rule fires
}


def with_press_rule(text: str) -> str:
    """Version 2: a threat to go to the press is urgent too."""
    return text.replace('"switch to another", "lawyer"]', '"switch to another", "lawyer", "journalist"]')


pytestmark = pytest.mark.labelstudio


def test_recheck_lists_and_marks_what_the_new_rule_contradicts(ls, make_project, label_studio, tmp_path, monkeypatch):
    project = make_project(CONFIG)
    texts = list(TEXTS)
    ids = ls.projects.import_tasks(id=project.id, request=[{"text": t} for t in texts], return_task_ids=True).task_ids
    config = config_for(tmp_path, label_studio_url=label_studio.url, label_studio_api_key=label_studio.account.token)
    services = build(config)
    processor = Processor(services.store)
    for number, (task_id, text) in enumerate(zip(ids, texts), start=1):  # the rows the webhook intake writes
        result = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [TEXTS[text]]}}]
        with services.store.session() as session:
            processor.annotation({"task": {"id": task_id, "project": project.id, "data": {"text": text}},
                                  "annotation": {"id": number, "result": result, "completed_by": {"id": 7, "email": "ana@example.com"},
                                                 "updated_at": "2026-11-29T10:00:00Z"}}, project.id, session)
    services.close()
    (tmp_path / "v1.yaml").write_text(GUIDELINES)
    (tmp_path / "v2.yaml").write_text(with_press_rule(GUIDELINES))
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", label_studio.account.token)
    runner = CliRunner()
    assert runner.invoke(main, ["guidelines", "push", "--project", str(project.id), str(tmp_path / "v1.yaml")]).exit_code == 0
    before = runner.invoke(main, ["recheck", "--project", str(project.id)])
    assert before.exit_code == 0 and before.output.startswith("0 answer(s) on 0 task(s)"), before.output

    assert runner.invoke(main, ["guidelines", "push", "--project", str(project.id), str(tmp_path / "v2.yaml")]).exit_code == 0
    after = runner.invoke(main, ["recheck", "--project", str(project.id), "--mark"])
    assert after.exit_code == 0, after.output
    lines = after.output.splitlines()
    assert lines[0].startswith("1 answer(s) on 1 task(s) contradict the rules of guidelines")
    assert lines[1] == (f"  task {ids[0]}: ana@example.com answered Frustrated but salvageable; "
                        'rule \'churn-threat\' now says Urgent intervention ("journalist")')
    assert lines[2].startswith("marked 1 task(s) with `ls_recheck`")
    metas = {task.id: task.meta for task in ls.tasks.list(project=project.id)}
    assert "rule 'churn-threat' says Urgent intervention, answered Frustrated but salvageable" in metas[ids[0]]["ls_recheck"]
    assert "ls_recheck" not in (metas[ids[1]] or {}) and "ls_recheck" not in (metas[ids[2]] or {})


def test_setup_with_a_new_version_updates_hints_and_instructions_in_label_studio(ls, make_project, label_studio, tmp_path):
    """The push path: `setup` with version 2 replaces the hints version 1 wrote and uploads the new instructions."""
    from ls_context.demo.local_studio import free_port
    from ls_context.guidelines import parse
    from ls_context.labelstudio import Gateway
    from ls_context.labelstudio.setup import Backend, setup_project
    from harness.config import WEBHOOK_SECRET
    from ml_backend.serve import start_in_thread

    old_definition = "The customer faces harm, loss or a hard deadline now, or threatens to leave, and a person must act today."
    new_definition = "Harm, loss, a deadline today, a threat to leave or to go to the press; a person acts today."
    (tmp_path / "v1.yaml").write_text(GUIDELINES)
    (tmp_path / "v2.yaml").write_text(with_press_rule(GUIDELINES).replace(old_definition, new_definition))
    plain = CONFIG
    for label in parse(GUIDELINES).controls["triage"].labels:
        plain = plain.replace(f' hint="{label.hint}"', "")
    project = make_project(plain)
    server = start_in_thread("127.0.0.1", free_port(), config_for(tmp_path, label_studio_url=label_studio.url,
                                                                 label_studio_api_key=label_studio.account.token))
    try:
        studio = Gateway(label_studio.url, label_studio.account.token)
        backend = Backend(server.url, WEBHOOK_SECRET)
        book = server.backend.services.guidelines
        setup_project(studio, book, project.id, str(tmp_path / "v1.yaml"), backend)
        assert old_definition in ls.projects.get(id=project.id).label_config
        report = setup_project(studio, book, project.id, str(tmp_path / "v2.yaml"), backend)
        updated = ls.projects.get(id=project.id)
    finally:
        server.backend.close()
        server.shutdown()
    assert new_definition in updated.label_config and old_definition not in updated.label_config
    assert new_definition in updated.expert_instruction
    assert any("stored as version 2" in step for step in report.steps)
