"""`ls-context demo`: Label Studio and ls-context with an example scenario, on this machine only.

Everything a team would do by hand, in order: start Label Studio and `ls-context serve`, create
the project, `ls-context setup`, import the tasks and the gold, retrieve pre-annotations; with
`--simulate`, three simulated labelers annotate a pilot batch and the gate and report follow.
"""

from __future__ import annotations

import logging
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import click

from . import labelstudio
from .gold import import_gold
from .local_studio import LABEL_STUDIO_VERSION, LocalLabelStudio, from_template, template_cache
from .scenarios import Scenario, scenario as find_scenario
from .server import start_in_thread
from .setup import setup_project


@dataclass
class Demo:
    """What the demo set up: enough for the simulation, the gate and a test to carry on."""

    client: object
    project_id: int
    scenario: Scenario
    backend: object  # the running ls-context server
    store: object


def run_demo(port: int, data_dir: str, backend_port: int = 9090, scenario_name: str = "support-triage",
             simulate: bool = False, stay: bool = True) -> None:
    scenario = find_scenario(scenario_name)
    data = Path(data_dir).resolve()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the instructions
    started = time.monotonic()
    server = studio_for(data, port)
    click.echo(f"Starting Label Studio {LABEL_STUDIO_VERSION} (the first run migrates its database, about a minute)...")
    backend = start_backend(data, backend_port, server, scenario)
    try:
        with server:
            demo = prepare(labelstudio.connect(server.url, server.account.token), scenario, backend, data / "models", echo=click.echo)
            project_url = f"{server.url}/projects/{demo.project_id}/data"
            if simulate:
                verdict, report_path = simulate_pilot(demo, data, echo=click.echo)
                click.echo(f"\n{verdict}\nReport: {report_path}")
            click.echo(
                f"\nLabel Studio is at {project_url}  (ready in {time.monotonic() - started:.0f} s)\n"
                f"Log in as {server.account.email} / {server.account.password}\n"
                f"The ls-context server is at {backend.url}; a labeler's gold results: {backend.url}/labelers/<user id>\n"
                "Try: open a task and read the rationale under the pre-annotation, hover a choice for its\n"
                "definition, open Instructions, answer a gold task wrongly and reload it to see the feedback,\n"
                f"flag a task you are unsure of, then: ls-context flags --project {demo.project_id} --model-dir {data / 'models'}"
            )
            if stay:
                click.echo("Ctrl-C stops everything.")
                wait_for_interrupt(server)
    finally:
        backend.backend.close()
        backend.shutdown()


def studio_for(data: Path, port: int) -> LocalLabelStudio:
    """Reuse the demo's data dir when it exists, so the demo keeps its work between runs."""
    studio_dir = data / "label-studio"
    if (studio_dir / "label_studio.sqlite3").exists():
        server = LocalLabelStudio(data_dir=studio_dir)
    else:
        server = from_template(template_cache(), studio_dir)
    server.port = port
    return server


def start_backend(data: Path, port: int, server: LocalLabelStudio, scenario: Scenario):
    """`ls-context serve` in a thread: SQLite store and in-process worker, writing back to `server`."""
    secret_file = data / "webhook-secret"
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        secret_file.write_text(secrets.token_urlsafe(24))
    backend = start_in_thread(
        "127.0.0.1", port, model_dir=data / "models", guidelines=scenario.guidelines,
        label_studio_url=server.url, label_studio_api_key=server.account.token,
        webhook_secret=secret_file.read_text().strip(), worker_interval=0.2,
    )
    backend.url = f"http://127.0.0.1:{backend.server_port}"
    backend.backend = backend.app.extensions["ls_context"]
    return backend


def prepare(client, scenario: Scenario, backend, model_dir: Path, echo=lambda line: None) -> Demo:
    """The scenario's project, wired to the backend, with tasks, gold and pre-annotations; idempotent."""
    store = backend.backend.store
    project = labelstudio.find_project(client, scenario.title)
    if project is None:
        project = client.projects.create(title=scenario.title, label_config=scenario.label_config.read_text())
        labelstudio.import_tasks(client, project.id, scenario.tasks())
        echo(f"project {project.id} created with {len(scenario.tasks())} tasks")
    report = setup_project(client, project.id, str(scenario.guidelines), backend.url, backend.backend.settings.webhook_secret,
                           model_dir=str(model_dir))
    for step in report.steps:
        echo(f"setup: {step}")
    imported, known = import_gold(client, store, project.id, scenario.gold())
    echo(f"gold: {imported} imported, {known} already there")
    client.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
    echo("pre-annotations retrieved for every task")
    return Demo(client, project.id, scenario, backend, store)


def simulate_pilot(demo: Demo, out_dir: Path, echo=lambda line: None) -> tuple[str, Path]:
    """Three simulated labelers annotate a pilot batch; returns the gate's verdict and the report's path."""
    from .quality.export import build
    from .processing import labeler_of
    from .quality.gate import evaluate
    from .quality.metrics import compute
    from .report import render
    from .simulate import LABELERS, PILOT_NAME, annotate, pilot_batch

    batch = pilot_batch(demo.client, demo.project_id, demo.scenario)
    done = {(task["id"], labeler_of(annotation)) for task in labelstudio.export_tasks(demo.client, demo.project_id)
            for annotation in task.get("annotations") or []}
    with click.progressbar(length=len(batch) * len(LABELERS), label=f"simulated labelers on {len(batch)} pilot tasks") as bar:
        annotate(demo.client, batch, demo.scenario, done=done, progress=bar.update)
    demo.backend.backend.settle(timeout=60)  # gold checks and feedback written before the gate reads
    metrics = compute(build(labelstudio.export_tasks(demo.client, demo.project_id), demo.scenario.gold()))
    criteria, alerts = evaluate(metrics, demo.scenario.guide().gate)
    lines = [criterion.line() for criterion in criteria] + [f"ALERT {alert}" for alert in alerts]
    passed = all(criterion.passed for criterion in criteria)
    report_path = out_dir / "report.html"
    report_path.write_text(render(metrics, title=f"{demo.scenario.title}: {PILOT_NAME}"))
    return "\n".join(lines + ["gate: PASS" if passed else "gate: FAIL"]), report_path


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
