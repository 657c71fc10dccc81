"""The command line: every command named in the design exists and answers --help."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from ls_context import __version__
from ls_context.cli import main

COMMANDS = ["config", "guidelines", "serve", "setup", "gold", "sync", "flags", "pilot", "report", "gate", "demo"]


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
