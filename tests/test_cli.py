"""The command line: every command named in the design exists and answers --help."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ls_context import __version__
from ls_context.cli import main

COMMANDS = ["config", "guidelines", "serve", "worker", "setup", "gold", "sync", "flags", "pilot", "report", "gate", "demo"]


def test_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])

    assert result.exit_code == 0
    listed = {line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS + ["config inject", "guidelines check", "guidelines instructions", "gold import"])
def test_every_command_has_help(command):
    result = CliRunner().invoke(main, command.split() + ["--help"])

    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_version_is_the_package_version():
    result = subprocess.run([sys.executable, "-m", "ls_context", "--version"], capture_output=True, text=True)

    assert result.returncode == 0
    assert __version__ in result.stdout


def test_missing_label_studio_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("LS_CONTEXT_LS_VENV", str(tmp_path / "nowhere"))

    result = subprocess.run(
        [sys.executable, "-m", "ls_context", "demo", "--data-dir", str(tmp_path / "demo")],
        capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().startswith("Error: Label Studio 1.23.2 not found")
    assert "make setup" in result.stderr


def test_serve_answers_label_studio_health_checks(tmp_path):
    import requests

    from ls_context.demo.local_studio import free_port

    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "ls_context", "serve", "--port", str(port), "--model-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert f"listening on http://127.0.0.1:{port}" in process.stdout.readline()
        answer = requests.post(f"http://127.0.0.1:{port}/setup", json={"project": "3.17", "schema": "<View/>"}, timeout=5)
        assert answer.json() == {"model_version": "ls-context-r0"}
    finally:
        process.terminate()
        process.wait(10)


def test_serve_refuses_a_broken_guidelines_file_before_listening(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text("project: x\nversion: 1\ncontrols: {c: {labels: [{value: a}]}}\n")

    result = CliRunner().invoke(main, ["serve", "--guidelines", str(bad), "--model-dir", str(tmp_path)])

    assert result.exit_code == 1
    assert "missing required key 'definition'" in result.output
