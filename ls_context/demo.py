"""`ls-context demo`: a local Label Studio with the support-triage example, on this machine only."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from . import labelstudio
from .guidelines import load
from .instructions import render
from .local_studio import LABEL_STUDIO_VERSION, LocalLabelStudio, from_template

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "support-triage"
CONFIG = ROOT / "label_configs" / "text-classification.xml"
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
PROJECT_TITLE = "Support triage (ls-context demo)"


def run_demo(port: int, data_dir: str) -> None:
    data = Path(data_dir).resolve()
    server = studio_for(data, port)
    click.echo(f"Starting Label Studio {LABEL_STUDIO_VERSION} (the first run migrates its database, about a minute)...")
    with server:
        client = labelstudio.connect(server.url, server.account.token)
        project = ensure_project(client)
        click.echo(
            f"\nLabel Studio is at {server.url}/projects/{project.id}/data\n"
            f"Log in as {server.account.email} / {server.account.password}\n"
            "Try: open a task, hover a choice for its definition, flag a task you are unsure of.\n"
            "Ctrl-C stops everything."
        )
        wait_for_interrupt(server)


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


def wait_for_interrupt(server: LocalLabelStudio) -> None:
    try:
        while server.process is not None and server.process.poll() is None:
            time.sleep(1)
        click.echo(f"Label Studio stopped by itself; log: {server.log_path}", err=True)
    except KeyboardInterrupt:
        click.echo("\nStopping...")
