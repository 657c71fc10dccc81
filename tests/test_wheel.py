"""The wheel is what the README promises: installed into a fresh venv, it has its configs, examples and commands.

Builds the wheel from this checkout, installs it (dependencies from the package index) into a new
venv, and runs it from an empty directory with an empty home, the way a team would after
`pip install ls-context`.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*") if path.is_file()} if folder.exists() else set()


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with the built wheel installed; (its bin folder, its site-packages)."""
    work = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    [wheel] = (work / "dist").glob("ls_context-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(work / "venv")], check=True)
    pip = subprocess.run([str(work / "venv" / "bin" / "pip"), "install", "--quiet", str(wheel)],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    site = next((work / "venv" / "lib").glob("python3*/site-packages"))
    return work / "venv" / "bin", site


def run(installed, tmp_path, *args):
    """Run an installed command from an empty directory, with an empty home and none of the tests' settings."""
    bin_dir, _ = installed
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(exist_ok=True), cwd.mkdir(exist_ok=True)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8"}
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_the_installed_commands_answer_and_carry_the_shipped_configs(installed, tmp_path):
    help_text = run(installed, tmp_path, "ls-context", "--help")
    templates = run(installed, tmp_path, "ls-context", "config", "templates")
    injected = run(installed, tmp_path, "ls-context", "config", "inject", "text-classification")
    guidelines = next(line.split("(guidelines: ")[1].rstrip(")") for line in templates.stdout.splitlines()
                      if line.startswith("text-classification"))
    checked = run(installed, tmp_path, "ls-context", "guidelines", "check", guidelines)

    assert help_text.returncode == 0 and "serve" in help_text.stdout and "demo" in help_text.stdout, help_text.stderr
    assert templates.returncode == 0 and "site-packages/ls_context/label_configs" in templates.stdout
    assert injected.returncode == 0 and '<Choices name="ls_flag"' in injected.stdout
    assert checked.returncode == 0 and "ok (Support message triage" in checked.stdout


def test_the_examples_and_the_wsgi_entry_ship_too(installed, tmp_path):
    code = ("from ls_context.demo.scenarios import SCENARIOS; import ml_backend.app, ml_backend.pages;"
            "print(sorted((n, len(s.tasks()), len(s.gold())) for n, s in SCENARIOS.items()))")
    listed = run(installed, tmp_path, "python", "-c", code)

    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == ("[('claim-entities', 64, 20), ('claim-triage', 240, 36), ('lead-qualification', 220, 30), "
                                     "('street-scenes', 44, 16), ('support-triage', 240, 30)]")


def test_the_demos_preflight_writes_nothing_and_says_where_label_studio_will_go(installed, tmp_path):
    from ls_context.demo.local_studio import free_port

    _, site = installed
    before = files_under(site)

    checked = run(installed, tmp_path, "ls-context", "demo", "--check", "--port", str(free_port()),
                  "--backend-port", str(free_port()))

    assert checked.returncode == 0, checked.stdout + checked.stderr
    home = tmp_path / "home"
    assert f"not installed; installed now into {home}/.cache/ls-context/label-studio-1.23.2" in checked.stdout
    assert f"data dir: {home}/.local/share/ls-context/demo (created on start)" in checked.stdout
    assert files_under(site) == before  # nothing written into the installed package
    assert files_under(home) == set() and files_under(tmp_path / "cwd") == set()
    assert "Traceback" not in checked.stderr


def test_without_label_studio_the_demo_says_what_to_do_in_one_line(installed, tmp_path):
    refused = run(installed, tmp_path, "ls-context", "demo", "--no-install")

    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: Label Studio 1.23.2 not found") and "Traceback" not in refused.stderr
    assert files_under(tmp_path / "home") == set()
