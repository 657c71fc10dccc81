"""Guidelines in the store: every version kept, the newest used by every process, the default file as a fallback."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.guidelines import GuidelinesError
from ls_context.guidelines.book import GuidelinesBook

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "label_configs" / "text-classification.yaml").read_text()
IMAGES = ROOT / "label_configs" / "image-classification.yaml"


def test_a_push_adds_a_version_only_when_the_text_changed(store):
    book = GuidelinesBook(store)

    first = book.push(7, TEXT, source="triage.yaml")
    same = book.push(7, TEXT)
    changed = book.push(7, TEXT.replace('version: "1.0.0"', 'version: "1.1.0"'))

    assert (first.number, first.new, same.number, same.new) == (1, True, 1, False)
    assert (changed.number, changed.version, changed.new) == (2, "1.1.0", True)
    assert [v.version for v in book.versions(7)] == ["1.0.0", "1.1.0"]
    assert book.latest(7).version == "1.1.0" and book.latest("7").version == "1.1.0"
    assert book.latest(8) is None  # another project has none, and there is no default


def test_a_broken_file_is_refused_and_nothing_is_stored(store):
    book = GuidelinesBook(store)

    with pytest.raises(GuidelinesError, match="triage.yaml:1"):
        book.push(7, "project: x\nversion: 1\n", source="triage.yaml")

    assert book.versions(7) == []


def test_projects_without_their_own_use_the_default_file(store):
    book = GuidelinesBook(store, default=IMAGES)
    book.push(7, TEXT)

    assert book.latest(7).project == "Support message triage"
    assert book.latest(8).project == "Parcel condition"
    assert book.digest(7) != book.digest(8)


def test_a_push_from_another_process_is_seen_after_a_refresh(store):
    server, command = GuidelinesBook(store, ttl=60), GuidelinesBook(store)
    server.push(7, TEXT)
    assert server.latest(7).version == "1.0.0"

    command.push(7, TEXT.replace('version: "1.0.0"', 'version: "2.0.0"'))

    assert server.latest(7).version == "1.0.0"  # cached for the hot path...
    assert server.refresh(7).version == "2.0.0"  # ...until Label Studio's next /setup


def test_push_and_versions_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    guidelines = tmp_path / "triage.yaml"
    guidelines.write_text(TEXT)

    first = CliRunner().invoke(main, ["guidelines", "push", "--project", "4", str(guidelines)])
    again = CliRunner().invoke(main, ["guidelines", "push", "--project", "4", str(guidelines)])
    listed = CliRunner().invoke(main, ["guidelines", "versions", "--project", "4"])

    assert first.output.startswith("guidelines 1.0.0 stored as version 1 of project 4 (store sqlite:///")
    assert again.output.strip() == "project 4 already uses these guidelines (version 1, 1.0.0)"
    assert listed.output.split()[:2] == ["1", "1.0.0"] and str(guidelines) in listed.output


def test_the_server_says_at_setup_which_guidelines_a_project_uses_or_that_it_has_none(tmp_path, caplog):
    from harness.config import config_for
    from ml_backend import create_app

    app = create_app(config_for(tmp_path))
    client = app.test_client()
    with caplog.at_level("INFO", logger="ml_backend"):
        client.post("/setup", json={"project": "5.1", "schema": "<View/>"})
        client.post("/setup", json={"project": "5.1", "schema": "<View/>"})  # nothing changed: said once
        app.extensions["ls_context"].services.guidelines.push(5, TEXT)
        client.post("/setup", json={"project": "5.1", "schema": "<View/>"})

    said = [record for record in caplog.records if record.name == "ml_backend.protocol"]
    assert [record.levelname for record in said] == ["WARNING", "INFO"]
    assert "project 5: no guidelines (run `ls-context setup`" in said[0].getMessage()
    assert said[1].getMessage().startswith("project 5: guidelines 1.0.0 (Support message triage) in use: ")
