"""`ls-context demo`: Label Studio and ls-context with an example scenario, on this machine only.

Everything a team would do by hand, in order: start Label Studio and `ls-context serve` (a process
of its own, configured by a config file the demo writes, as in production), create the project,
`ls-context setup`, import the tasks and the gold, retrieve pre-annotations; with `--simulate`,
three simulated labelers annotate a pilot batch and the gate and report follow. All its state lives
in one data dir (default ~/.local/share/ls-context/demo); Label Studio itself in the user cache.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from ls_context.checks.gold import import_gold
from ls_context.config import Config, default_home
from ls_context.errors import NotReady
from ls_context.labelstudio.gateway import Gateway
from ls_context.labelstudio.setup import Backend, setup_project
from ls_context.services import Services, build

from .local_studio import (
    LABEL_STUDIO_VERSION, LocalLabelStudio, find_label_studio, from_template, install_label_studio, template_cache,
    venv_dir,
)
from .scenarios import Scenario, scenario as find_scenario

# Settings of the shell the demo starts from never leak into the demo's own server.
FOREIGN_SETTINGS = ("LS_CONTEXT_", "LABEL_STUDIO_", "MODEL_DIR", "BASIC_AUTH_", "LOG_LEVEL")


TRY_CHOICES = ("Try: open a task and read the rationale under the pre-annotation, hover a choice for its\n"
               "definition, open Instructions, flag a task you are unsure of, answer a gold task.\n")
TRY_REGIONS = ("Try: open a task, hover a label for its definition, draw or mark the regions, open Instructions,\n"
               "flag a task you are unsure of, answer a gold task and read the feedback.\n")


def default_data_dir() -> Path:
    return default_home() / "demo"


@dataclass
class Demo:
    """What the demo set up: enough for the simulation, the gate and a test to carry on."""

    studio: Gateway
    project_id: int
    scenario: Scenario
    services: Services
    backend_url: str
    secret: str  # the webhook secret, which also signs the labelers' personal links


class BackendProcess:
    """`ls-context serve` in a process of its own, configured by the demo's config file and secrets."""

    def __init__(self, config_file: Path, secrets_env: dict, port: int, log_path: Path):
        self.config_file, self.secrets_env, self.port, self.log_path = config_file, secrets_env, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> "BackendProcess":
        env = {name: value for name, value in os.environ.items() if not name.startswith(FOREIGN_SETTINGS)}
        env.update(self.secrets_env, LS_CONTEXT_CONFIG=str(self.config_file))
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ls_context", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise NotReady(f"`ls-context serve` exited with code {self.process.returncode}; log: {self.log_path}\n"
                               + "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:]))
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    return self
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise NotReady(f"`ls-context serve` did not answer on {self.url} within {timeout:.0f} s; log: {self.log_path}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None


def demo_config(data: Path, studio: LocalLabelStudio, backend_port: int) -> tuple[Path, Config, dict]:
    """The demo's config file (a store and models in the data dir), its secrets, and the resolved configuration."""
    secret_file = data / "webhook-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(24))
    backend_url = f"http://127.0.0.1:{backend_port}"
    config_file = data / "ls-context.toml"
    config_file.write_text(
        "# Written by `ls-context demo`: the configuration of its server and of commands run against it.\n"
        f'model_dir = "{data / "models"}"\nlabel_studio_url = "{studio.url}"\nbackend_url = "{backend_url}"\n'
    )
    secrets_env = {"LABEL_STUDIO_API_KEY": studio.account.token, "LS_CONTEXT_WEBHOOK_SECRET": secret_file.read_text().strip()}
    config = Config.resolve(environ={"LS_CONTEXT_CONFIG": str(config_file), "HOME": str(Path.home()), **secrets_env})
    return config_file, config, secrets_env


def preflight(port: int, backend_port: int, data: Path, install: bool) -> list[str]:
    """What the demo will use and do, checked without writing anything; NotReady when it cannot start."""
    lines = [f"data dir: {data}" + ("" if data.exists() else " (created on start)")]
    try:
        lines.append(f"Label Studio {LABEL_STUDIO_VERSION}: {find_label_studio()}")
    except NotReady:
        if not install:
            raise
        lines.append(f"Label Studio {LABEL_STUDIO_VERSION}: not installed; installed now into {venv_dir()} "
                     "(about 2 minutes and 1 GB, once)")
    template = template_cache()
    lines.append(f"migrated Label Studio template: {template}" + ("" if (template / '.ready').exists() else " (built on first start, about a minute)"))
    for name, number in (("Label Studio", port), ("ls-context serve", backend_port)):
        if not _port_free(number):
            raise NotReady(f"port {number} for {name} is taken: choose another with --port / --backend-port")
        lines.append(f"{name}: http://127.0.0.1:{number}")
    return lines


def run_demo(port: int, data_dir: str | None, backend_port: int = 9090, scenario_name: str = "support-triage",
             simulate: bool = False, stay: bool = True, install: bool = True) -> None:
    scenario = find_scenario(scenario_name)
    data = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
    preflight(port, backend_port, data, install)
    started = time.monotonic()
    ensure_label_studio()
    data.mkdir(parents=True, exist_ok=True)
    server = studio_for(data, port)
    click.echo(f"Starting Label Studio {LABEL_STUDIO_VERSION} (the first run migrates its database, about a minute)...")
    config_file, config, secrets_env = demo_config(data, server, backend_port)
    backend = None
    try:
        with server:
            backend = BackendProcess(config_file, secrets_env, backend_port, data / "ls-context.log").start()
            demo = prepare(Gateway(server.url, server.account.token), scenario, build(config), backend.url,
                           secrets_env["LS_CONTEXT_WEBHOOK_SECRET"], echo=click.echo)
            if simulate:
                verdict, report_path = simulate_pilot(demo, data, echo=click.echo)
                click.echo(f"\n{verdict}\nReport: {report_path}")
            if not stay:  # --exit: everything stops below, so no address to open
                click.echo(f"\nSet up in {time.monotonic() - started:.0f} s; stopping (--exit). Its state stays in {data}: "
                           f"`ls-context demo --scenario {scenario.name} --data-dir {data}` brings it back up.")
                return
            click.echo(
                f"\nLabel Studio is at {server.url}/projects/{demo.project_id}/data  (ready in {time.monotonic() - started:.0f} s)\n"
                f"Log in as {server.account.email} / {server.account.password}\n"
                + (TRY_REGIONS if scenario.regions else TRY_CHOICES) +
                "To run ls-context commands against this demo, from any directory:\n"
                f"  export LS_CONTEXT_CONFIG={config_file} LABEL_STUDIO_API_KEY={secrets_env['LABEL_STUDIO_API_KEY']}"
                f" LS_CONTEXT_WEBHOOK_SECRET=$(cat {data / 'webhook-secret'})\n"
                f"  ls-context labelers --project {demo.project_id}   # each labeler's personal feedback page\n"
                f"  ls-context flags --project {demo.project_id}"
            )
            if stay:
                click.echo("Ctrl-C stops everything.")
                wait_for_interrupt(server)
    finally:
        if backend is not None:
            backend.stop()


def ensure_label_studio() -> None:
    """Label Studio in its own venv in the user cache, installed on first use with a progress bar."""
    try:
        find_label_studio()
        return
    except NotReady:
        pass
    click.echo(f"Installing Label Studio {LABEL_STUDIO_VERSION} into {venv_dir()} (once; about 2 minutes, 1 GB)...")
    # pip announces each of Label Studio's ~150 distributions with one "Collecting" line.
    with click.progressbar(length=150, label="installing Label Studio") as bar:
        def progress(line: str) -> None:
            if line.startswith("Collecting") and bar.pos < bar.length - 1:
                bar.update(1)

        install_label_studio(progress=progress)
        bar.update(bar.length - bar.pos)


def studio_for(data: Path, port: int) -> LocalLabelStudio:
    """Reuse the demo's data dir when it exists, so the demo keeps its work between runs."""
    studio_dir = data / "label-studio"
    if (studio_dir / "label_studio.sqlite3").exists():
        server = LocalLabelStudio(data_dir=studio_dir)
    else:
        server = from_template(template_cache(), studio_dir)
    server.port = port
    return server


def prepare(studio: Gateway, scenario: Scenario, services: Services, backend_url: str, secret: str,
            echo=lambda line: None) -> Demo:
    """The scenario's project, wired to the backend, with tasks, gold and pre-annotations; idempotent."""
    project = studio.find_project(scenario.title)
    if project is None:
        project = studio.create_project(scenario.title, scenario.label_config.read_text())
        studio.import_tasks(project.id, scenario.tasks())
        echo(f"project {project.id} created with {len(scenario.tasks())} tasks")
    imported, known = import_gold(studio, services.store, project.id, scenario.gold())
    echo(f"gold: {imported} imported, {known} already there")
    report = setup_project(studio, services.guidelines, project.id, str(scenario.guidelines), Backend(backend_url, secret))
    for line in report.steps + report.preview:
        echo(f"setup: {line}")
    for warning in report.warnings:
        echo(f"setup: warning: {warning}")
    studio.retrieve_predictions(project.id)
    echo("pre-annotations retrieved for every task")
    return Demo(studio, project.id, scenario, services, backend_url, secret)


def simulate_pilot(demo: Demo, out_dir: Path, echo=lambda line: None) -> tuple[str, Path]:
    """Three simulated labelers annotate a pilot batch; returns the gate's verdict and the report's path."""
    from ls_context.checks.processor import labeler_of
    from ls_context.quality.export import build as build_dataset
    from ls_context.quality.gate import evaluate
    from ls_context.quality.metrics import compute
    from ls_context.quality.report import render

    from .simulate import PILOT_NAME, annotate, labelers_for, pilot_batch

    batch = pilot_batch(demo.studio, demo.project_id, demo.scenario)
    done = {(task["id"], labeler_of(annotation)) for task in demo.studio.export(demo.project_id)
            for annotation in task.get("annotations") or []}
    labelers = labelers_for(demo.scenario)
    with click.progressbar(length=len(batch) * len(labelers), label=f"simulated labelers on {len(batch)} pilot tasks") as bar:
        annotate(demo.studio, batch, demo.scenario, done=done, progress=bar.update)
    wait_processed(demo.services.store, timeout=60)  # gold checks and feedback recorded before the gate reads
    gate = demo.scenario.guide().gate
    metrics = compute(build_dataset(demo.studio.export(demo.project_id), demo.scenario.gold()), gate.match)
    criteria, alerts = evaluate(metrics, gate)
    lines = [criterion.line() for criterion in criteria] + [f"ALERT {alert}" for alert in alerts]
    passed = all(criterion.passed for criterion in criteria)
    report_path = out_dir / "report.html"
    report_path.write_text(render(metrics, title=f"{demo.scenario.title}: {PILOT_NAME}"))
    return "\n".join(lines + ["gate: PASS" if passed else "gate: FAIL"]), report_path


def wait_processed(store, timeout: float = 60) -> bool:
    """Until the server has processed every recorded event (it shares the store with this process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not store.unprocessed():
            return True
        time.sleep(0.1)
    logging.getLogger(__name__).warning("%d events still unprocessed after %.0f s", store.unprocessed(), timeout)
    return False


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def wait_for_interrupt(server: LocalLabelStudio) -> None:
    """Until Ctrl-C or a termination signal (a service manager's stop): both stop everything cleanly."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell may have started us with Ctrl-C ignored
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(1)
        click.echo(f"Label Studio stopped by itself; log: {server.log_path}", err=True)
    except KeyboardInterrupt:
        click.echo("\nStopping...")

