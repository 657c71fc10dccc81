"""One configuration: options over environment over file over defaults, whatever the working directory."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.config import Config, ConfigError


def environ(tmp_path, **values):
    """An environment with its own home and nothing else set, plus `values`."""
    return {"HOME": str(tmp_path / "home"), **values}


def test_the_defaults_live_in_the_users_data_dir_never_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    config = Config.resolve(environ=environ(tmp_path))

    assert config.model_dir == tmp_path / "home" / ".local" / "share" / "ls-context"
    assert config.store_url() == f"sqlite:///{config.model_dir / 'ls-context.sqlite3'}"
    assert config.file is None and config.sources["model_dir"] == "default"


def test_the_file_is_found_by_its_variable_and_its_relative_paths_are_its_own(tmp_path, monkeypatch):
    folder = tmp_path / "etc"
    folder.mkdir()
    (folder / "ls-context.toml").write_text(
        'model_dir = "data"\ndb = "sqlite:///store.sqlite3"\nguidelines = "g.yaml"\nlabel_studio_url = "http://ls:8080/"\n'
        "refit_interval = 2\n"
    )
    monkeypatch.chdir(tmp_path)  # relative paths must not follow the working directory

    config = Config.resolve(environ=environ(tmp_path, LS_CONTEXT_CONFIG=str(folder / "ls-context.toml")))

    assert config.model_dir == folder / "data" and config.guidelines == folder / "g.yaml"
    assert config.db == f"sqlite:///{folder / 'store.sqlite3'}"
    assert config.label_studio_url == "http://ls:8080" and config.refit_interval == 2.0
    assert config.sources["db"] == str(folder / "ls-context.toml")


def test_the_users_file_is_found_without_a_variable(tmp_path):
    user_file = tmp_path / "home" / ".config" / "ls-context" / "ls-context.toml"
    user_file.parent.mkdir(parents=True)
    user_file.write_text('backend_url = "http://ls-context:9090"\n')

    assert Config.resolve(environ=environ(tmp_path)).backend_url == "http://ls-context:9090"


def test_options_beat_the_environment_which_beats_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('backend_url = "http://from-file:1"\nlog_level = "warning"\n')
    env = environ(tmp_path, LS_CONTEXT_CONFIG=str(path), LS_CONTEXT_BACKEND_URL="http://from-env:2")

    assert Config.resolve(environ=env).backend_url == "http://from-env:2"
    assert Config.resolve({"backend_url": "http://from-option:3"}, environ=env).backend_url == "http://from-option:3"
    assert Config.resolve(environ=env).log_level == "WARNING"


@pytest.mark.parametrize("text, message", [
    ('db = "x"\nnope = 1\n', "unknown setting 'nope'"),
    ('webhook_secret = "s"\n', "'webhook_secret' is a secret; set it in the environment (LS_CONTEXT_WEBHOOK_SECRET)"),
    ('refit_interval = "soon"\n', "refit_interval = 'soon'"),
    ('refit_interval = -1\n', "must not be negative"),
    ('insecure = "maybe"\n', "expected true or false"),
    ('db = \n', "not valid TOML"),
    ('label_studio_url = "label-studio:8080"\n', "must start with http:// or https://"),
    ('log_level = "LOUD"\n', "use one of DEBUG, INFO, WARNING, ERROR"),
])
def test_a_bad_file_is_one_clear_error_naming_the_file(tmp_path, text, message):
    path = tmp_path / "c.toml"
    path.write_text(text)

    with pytest.raises(ConfigError) as raised:
        Config.resolve(environ=environ(tmp_path, LS_CONTEXT_CONFIG=str(path)))

    assert message in str(raised.value)


def test_a_missing_file_named_by_the_variable_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="LS_CONTEXT_CONFIG points to .*nowhere.toml, which is not a file"):
        Config.resolve(environ=environ(tmp_path, LS_CONTEXT_CONFIG=str(tmp_path / "nowhere.toml")))


def test_basic_auth_needs_both_halves(tmp_path):
    with pytest.raises(ConfigError, match="BASIC_AUTH_USER is set but BASIC_AUTH_PASS is not"):
        Config.resolve(environ=environ(tmp_path, BASIC_AUTH_USER="ls"))


def test_config_show_masks_secrets_and_passwords_in_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "key-that-must-not-show")
    monkeypatch.setenv("LS_CONTEXT_WEBHOOK_SECRET", "secret-that-must-not-show")
    monkeypatch.setenv("BASIC_AUTH_USER", "ls")
    monkeypatch.setenv("BASIC_AUTH_PASS", "password-that-must-not-show")
    monkeypatch.setenv("LS_CONTEXT_DB", "postgresql+psycopg://me:db-password@127.0.0.1:5432/test")
    monkeypatch.setenv("LS_CONTEXT_REDIS_URL", "redis://:redis-password@127.0.0.1:6379/15")

    result = CliRunner().invoke(main, ["config", "show", "--no-check"])

    assert result.exit_code == 0, result.output
    assert "must-not-show" not in result.output and "db-password" not in result.output
    assert "redis-password" not in result.output
    assert "label_studio_api_key" in result.output and "set" in result.output
    assert "[env LS_CONTEXT_DB]" in result.output


def test_config_show_checks_what_it_can_reach(tmp_path, monkeypatch):
    from ls_context.demo.local_studio import free_port

    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k")
    monkeypatch.setenv("LS_CONTEXT_BACKEND_URL", f"http://127.0.0.1:{free_port()}")

    result = CliRunner().invoke(main, ["config", "show"])

    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert any(line.startswith("warn  store: no store yet") for line in lines)
    assert any(line.startswith("FAIL  Label Studio: cannot reach Label Studio") for line in lines)
    assert any(line.startswith("FAIL  webhook secret: not set") for line in lines)
    assert any(line.startswith("FAIL  model server:") and "does not answer" in line for line in lines)
    assert "Traceback" not in result.output


def test_every_command_uses_the_same_store_from_any_directory(tmp_path, monkeypatch):
    """`flags` from a second directory reads what a first wrote, and creates no ./models."""
    from ls_context.checks.processor import Processor
    from ls_context.services import build

    config_file = tmp_path / "ls-context.toml"
    config_file.write_text(f'model_dir = "{tmp_path / "shared"}"\n')
    monkeypatch.setenv("LS_CONTEXT_CONFIG", str(config_file))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    monkeypatch.chdir(first)
    services = build(Config.resolve())
    Processor(services.store).annotation({
        "annotation": {"id": 1, "updated_at": "t", "completed_by": 2, "result": [
            {"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Unsure"]}}]},
        "task": {"id": 5, "project": 3, "data": {"text": "x"}},
    }, 3)

    monkeypatch.chdir(second)
    result = CliRunner().invoke(main, ["flags", "--project", "3"])

    assert result.exit_code == 0, result.output
    assert "1  Unsure  [no label]  tasks: 5" in result.output
    assert not (second / "models").exists() and not (first / "models").exists()
    assert sorted(p.name for p in Path(tmp_path / "shared").iterdir()) == ["ls-context.sqlite3", "ls-context.sqlite3-shm",
                                                                          "ls-context.sqlite3-wal", "ls-context.sqlite3.migrate-lock"]


def test_a_command_that_only_reads_refuses_a_store_that_was_never_made(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "nowhere"))

    result = CliRunner().invoke(main, ["flags", "--project", "2"])

    assert result.exit_code == 1
    assert "no store at sqlite:///" in result.output and "is this the server's configuration?" in result.output
    assert not (tmp_path / "nowhere").exists() and list(tmp_path.iterdir()) == []
