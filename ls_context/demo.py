"""`ls-context demo`: a local Label Studio with the support-triage example, on this machine only."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import click

from . import labelstudio
from .guidelines import load
from .instructions import render
from .server import start_in_thread
from .local_studio import LABEL_STUDIO_VERSION, LocalLabelStudio, from_template

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-triage"
CONFIG = ROOT / "label_configs" / "text-classification.xml"
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
PROJECT_TITLE = "Support triage (ls-context demo)"


def run_demo(port: int, data_dir: str, backend_port: int = 9090) -> None:
    data = Path(data_dir).resolve()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the instructions
    server = studio_for(data, port)
    backend = start_in_thread("127.0.0.1", backend_port, model_dir=data / "models", guidelines=GUIDELINES)
    backend_url = f"http://127.0.0.1:{backend.server_port}"
    click.echo(f"Starting Label Studio {LABEL_STUDIO_VERSION} (the first run migrates its database, about a minute)...")
    try:
        with server:
            client = labelstudio.connect(server.url, server.account.token)
            project = ensure_project(client)
            connect_backend(client, project.id, backend_url)
            click.echo(
                f"\nLabel Studio is at {server.url}/projects/{project.id}/data\n"
                f"Log in as {server.account.email} / {server.account.password}\n"
                f"The ls-context model server is at {backend_url}\n"
                "Try: open a task and read the rationale under the pre-annotation, hover a choice for its\n"
                "definition, open Instructions, flag a task you are unsure of.\n"
                "Ctrl-C stops everything."
            )
            wait_for_interrupt(server)
    finally:
        backend.shutdown()


def studio_for(data: Path, port: int) -> LocalLabelStudio:
    """Reuse the demo's data dir when it exists, so the demo keeps its work between runs."""
    studio_dir = data / "label-studio"
    if (studio_dir / "label_studio.sqlite3").exists():
        server = LocalLabelStudio(data_dir=studio_dir)
    else:
        server = from_template(data / "template", studio_dir)
    server.port = port
    return server


def ensure_project(client):
    project = labelstudio.find_project(client, PROJECT_TITLE)
    if project is None:
        project = client.projects.create(
            title=PROJECT_TITLE, label_config=CONFIG.read_text(),
            expert_instruction=render(load(GUIDELINES)), show_instruction=True,
            show_collab_predictions=True,
        )
        tasks = json.loads((EXAMPLE / "tasks.json").read_text())
        client.projects.import_tasks(id=project.id, request=tasks)
    return project


def connect_backend(client, project_id: int, backend_url: str) -> None:
    """Connect the model server (once) and ask it for pre-annotations of every task."""
    if not any(backend.url == backend_url for backend in client.ml.list(project=project_id)):
        client.ml.create(url=backend_url, project=project_id, title="ls-context")
    client.actions.create(
        id="retrieve_tasks_predictions", project=project_id, selected_items={"all": True, "excluded": []},
    )


def wait_for_interrupt(server: LocalLabelStudio) -> None:
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(1)
        click.echo(f"Label Studio stopped by itself; log: {server.log_path}", err=True)
    except KeyboardInterrupt:
        click.echo("\nStopping...")
