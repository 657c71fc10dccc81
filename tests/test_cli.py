"""The command line: every command named in the design exists, answers --help, and fails in one clear line."""

import os
import subprocess
import sys

import pytest
import requests
from click.testing import CliRunner

from ls_context import __version__
from ls_context.cli import main
from ls_context.demo.local_studio import free_port

COMMANDS = ["config", "guidelines", "db", "serve", "worker", "setup", "gold", "sync", "flags", "pilot", "labelers",
            "report", "gate", "demo", "status", "recheck", "review", "onboard"]
SUBCOMMANDS = ["config inject", "config show", "config templates", "guidelines check", "guidelines instructions",
               "guidelines push", "guidelines versions", "guidelines diff", "db upgrade", "gold import"]


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS + SUBCOMMANDS)
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, command.split() + ["--help"])

    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_version_is_the_package_version():
    result = subprocess.run([sys.executable, "-m", "ls_context", "--version"], capture_output=True, text=True)

    assert result.returncode == 0
    assert __version__ in result.stdout


def test_missing_label_studio_is_one_clear_line(tmp_path):
    env = dict(os.environ, LS_CONTEXT_LS_VENV=str(tmp_path / "nowhere"))

    result = subprocess.run(
        [sys.executable, "-m", "ls_context", "demo", "--no-install", "--data-dir", str(tmp_path / "demo"),
         "--port", str(free_port()), "--backend-port", str(free_port())],
        capture_output=True, text=True, timeout=60, env=env,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Error: Label Studio 1.23.2 not found")
    assert "`ls-context demo` installs it" in result.stderr
    assert not (tmp_path / "demo").exists()  # nothing written before it could start


def serve(tmp_path, *args, **env):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ls_context", "serve", "--port", str(port), *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, MODEL_DIR=str(tmp_path / "models"), **env),
    )
    return process, port


def wait_listening(process, port) -> str:
    """The server's output up to its "listening" line (log lines about the store come first)."""
    seen = ""
    for line in process.stdout:
        seen += line
        if f"listening on http://127.0.0.1:{port}" in line:
            return seen
    raise AssertionError(f"the server stopped before listening:\n{seen}")


def test_serve_answers_label_studio_health_checks(tmp_path):
    process, port = serve(tmp_path, LS_CONTEXT_WEBHOOK_SECRET="s3cret-value")
    try:
        started = wait_listening(process, port)
        answer = requests.post(f"http://127.0.0.1:{port}/setup", json={"project": "3.17", "schema": "<View/>"}, timeout=5)
        assert answer.json() == {"model_version": "ls-context-r0"}
    finally:
        process.terminate()
        output = started + process.communicate(timeout=10)[0]
    assert "the X-LS-Context-Secret header is required" in output
    assert "s3cret-value" not in output  # secrets never reach the log


def test_serve_refuses_to_start_without_a_webhook_secret(tmp_path):
    process, port = serve(tmp_path)
    output = process.communicate(timeout=30)[0]

    assert process.returncode == 1
    assert output.startswith("Error: no webhook secret: set LS_CONTEXT_WEBHOOK_SECRET")
    assert "--insecure" in output and "Traceback" not in output


def test_serve_insecure_says_so_in_its_log(tmp_path):
    process, port = serve(tmp_path, "--insecure")
    try:
        output = wait_listening(process, port)
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert "NO secret (insecure mode): anyone who can reach this server can post events" in output


def test_serve_refuses_a_broken_guidelines_file_before_listening(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("project: x\nversion: 1\ncontrols: {c: {labels: [{value: a}]}}\n")

    process, _ = serve(tmp_path, "--insecure", LS_CONTEXT_GUIDELINES=str(bad))
    output = process.communicate(timeout=30)[0]

    assert process.returncode == 1
    assert "missing required key 'definition'" in output and "Traceback" not in output


def test_gunicorn_without_a_secret_stops_with_one_line_and_no_traceback(tmp_path):
    env = dict(os.environ, MODEL_DIR=str(tmp_path / "models"))
    env.pop("LS_CONTEXT_WEBHOOK_SECRET", None)

    done = subprocess.run([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{free_port()}", "ml_backend.wsgi:app"],
                          env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)

    assert done.returncode != 0
    assert "Error: no webhook secret: set LS_CONTEXT_WEBHOOK_SECRET" in done.stderr
    assert "Traceback" not in done.stderr and "Worker failed to boot" in done.stderr
