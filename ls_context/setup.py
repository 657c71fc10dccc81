"""`ls-context setup`: wire a Label Studio project to ls-context; running it again changes nothing more.

Extends the label config, uploads the instructions, connects the model server, and makes sure
exactly one webhook reaches the server's /webhook, carrying the shared secret.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from . import labelstudio
from .events import SECRET_HEADER
from .guidelines import load
from .instructions import render
from .label_config import Injection, inject


@dataclass
class SetupReport:
    steps: list[str] = field(default_factory=list)


def setup_project(client, project_id: int, guidelines_path: str, backend_url: str, secret: str | None,
                  model_dir: str | None = None) -> SetupReport:
    report = SetupReport()
    guidelines = load(guidelines_path)
    backend_url = backend_url.rstrip("/")
    project = labelstudio.get_project(client, project_id)
    extended = inject(project.label_config, Injection.from_guidelines(guidelines))
    labelstudio.update_project(client, project_id, label_config=extended, expert_instruction=render(guidelines),
                               show_instruction=True, show_collab_predictions=True)
    report.steps.append(f"label config extended and instructions uploaded (guidelines {guidelines.version})")
    if model_dir:
        target = Path(model_dir) / f"project-{project_id}" / "guidelines.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(guidelines_path, target)
        report.steps.append(f"guidelines copied to {target}")
    report.steps.append(labelstudio.ensure_ml_backend(client, project_id, backend_url))
    headers = {SECRET_HEADER: secret} if secret else {}
    report.steps.append(labelstudio.ensure_webhook(client, project_id, f"{backend_url}/webhook", headers))
    if not secret:
        report.steps.append("warning: no webhook secret (LS_CONTEXT_WEBHOOK_SECRET); anyone who can reach the server can post events")
    return report
