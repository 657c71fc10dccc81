"""`guidelines diff`: what changed between two versions, in words, from two files or from the store."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.guidelines import parse
from ls_context.guidelines.diff import changes

ROOT = Path(__file__).resolve().parent.parent
OLD = (ROOT / "examples" / "support-triage" / "guidelines.yaml").read_text()


def edited() -> str:
    """The edits a lead makes after a pilot: a sharper definition, a new edge case, a rule widened, one dropped."""
    text = OLD.replace('version: "1.1.0"', 'version: "1.2.0"')
    text = text.replace("    rationale: A threat to leave or to take legal action goes to the lead today.",
                        "    rationale: A threat to leave, to take legal action or to go to the press goes to the lead today.")
    text = text.replace('"switch to another", "lawyer"]', '"switch to another", "lawyer", "journalist"]')
    start = text.index("  - id: praise")
    end = text.index("flag_reasons:")
    text = text[:start] + text[end:]
    return text


def test_the_changes_are_told_in_words():
    lines = changes(parse(OLD), parse(edited()))
    assert ("Rule 'churn-threat' now looks for the text has \"cancel the whole account\" or \"cancel our account\" or "
            "\"cancel my subscription\" or \"switch to another\" or \"lawyer\" or \"journalist\"") in lines[0]
    assert lines[0].endswith("now says: A threat to leave, to take legal action or to go to the press goes to the lead today.")
    assert lines[1].startswith("Rule 'praise' is gone (it gave General feedback for ")
    assert len(lines) == 2


def test_labels_examples_edge_cases_flag_reasons_and_gate():
    new = OLD.replace("  min_accuracy: 0.85", "  min_accuracy: 0.9").replace("  - Unsure\n", "  - Unsure\n  - Looks like spam\n")
    start = new.index("        edge_cases:")
    new = new[:start] + ("        edge_cases:\n          - situation: A deadline tomorrow in a how-to question.\n"
                         "            label: Urgent intervention\n            why: The deadline decides.\n") + new[start + len("        edge_cases:\n"):]
    lines = changes(parse(OLD), parse(new))
    assert ("New edge case under 'Urgent intervention': A deadline tomorrow in a how-to question. -> Urgent intervention "
            "(The deadline decides.)") in lines
    assert "New flag reason: Looks like spam." in lines and "Gate: min_accuracy 0.85 -> 0.9." in lines


def test_the_command_compares_two_files_or_two_stored_versions(tmp_path, monkeypatch):
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(edited())
    files = CliRunner().invoke(main, ["guidelines", "diff", str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")])
    assert files.exit_code == 0 and files.output.splitlines()[0].endswith(": 2 change(s)"), files.output

    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    for name in ("old.yaml", "new.yaml"):
        assert CliRunner().invoke(main, ["guidelines", "push", "--project", "4", str(tmp_path / name)]).exit_code == 0
    stored = CliRunner().invoke(main, ["guidelines", "diff", "--project", "4"])
    assert stored.exit_code == 0, stored.output
    assert stored.output.splitlines()[0] == "version 1 (1.1.0) -> version 2 (1.2.0): 2 change(s)"
    assert stored.output.splitlines()[2].startswith("- Rule 'praise' is gone")
    wrong = CliRunner().invoke(main, ["guidelines", "diff", "--project", "4", "1", "7"])
    assert wrong.exit_code == 1 and "'7' is not a stored version number (stored: 1, 2)" in wrong.output
    none = CliRunner().invoke(main, ["guidelines", "diff", "a.yaml"])
    assert none.exit_code == 1 and "give two guidelines files" in none.output


@pytest.fixture
def told(tmp_path):
    """Labeler 7 answered under version 1 and again after version 2 was pushed; labeler 8 only after."""
    from harness.config import WEBHOOK_SECRET, config_for
    from ls_context.checks.personal import Links
    from ls_context.intake.webhook import SECRET_HEADER
    from ls_context.store import Notice
    from ml_backend import create_app

    app = create_app(config_for(tmp_path))
    services = app.extensions["ls_context"].services
    client = app.test_client()

    def annotate(annotation_id: int, labeler: int) -> None:
        body = {"action": "ANNOTATION_CREATED", "project": {"id": 4},
                "task": {"id": 100 + annotation_id, "project": 4, "data": {"text": "hello"}},
                "annotation": {"id": annotation_id, "updated_at": "2026-11-29T10:00:00Z", "completed_by": labeler,
                               "result": [{"from_name": "triage", "to_name": "text", "type": "choices",
                                           "value": {"choices": ["Routine question"]}}]}}
        assert client.post("/webhook", json=body, headers={SECRET_HEADER: WEBHOOK_SECRET}).status_code == 201
        services.processor.run_pending()

    try:
        services.guidelines.push(4, OLD)
        annotate(1, labeler=7)
        services.guidelines.push(4, edited())
        annotate(2, labeler=7)
        annotate(3, labeler=7)
        annotate(4, labeler=8)
        with services.store.reading() as session:
            notices = session.query(Notice).all()
        pages = {labeler: client.get("/feedback/" + Links.of(services.store).labeler_token(labeler)).get_data(as_text=True)
                 for labeler in (7, 8)}
    finally:
        app.extensions["ls_context"].close()
    return notices, pages


def test_a_labeler_who_worked_under_the_old_version_is_told_once_on_their_page(told):
    notices, pages = told
    assert [(n.labeler_id, n.guidelines_number) for n in notices] == [(7, 2)]
    assert "What changed in the guidelines 1.2.0:" in pages[7] and "Rule &#39;praise&#39; is gone" in pages[7]
    assert "What changed" not in pages[8]


@pytest.mark.browser
def test_the_what_changed_note_as_the_labeler_sees_it(told, browser, tmp_path, screenshot):
    _, pages = told
    path = tmp_path / "page.html"
    path.write_text(pages[7])
    page = browser.new_page(viewport={"width": 760, "height": 520})
    page.goto(path.as_uri())
    note = page.locator(".notice")
    assert note.locator(".title").inner_text() == "What changed in the guidelines 1.2.0:"
    assert note.is_visible() and "Rule 'churn-threat' now looks for" in note.inner_text()
    screenshot(page, "what-changed-note", full_page=False)
    page.close()
