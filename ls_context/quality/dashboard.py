"""The lead's dashboard of one project, from the store alone: the report's figures, the gate, the open flags.

The server's store already holds every annotation it processed (with the task's data) and the gold
answers, so the page needs no export and no call to Label Studio; it reads what the report reads.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ls_context.checks.gold import flags_by_reason, stored_gold_items
from ls_context.onboarding.standing import standings_by_name
from ls_context.store import Annotation, Labeler, Store

from .export import build
from .gate import evaluate
from .metrics import compute
from .report import render


def project_tasks(store: Store, project_id: int) -> list[dict]:
    """The project's tasks as Label Studio's export shapes them, from the annotations the store processed."""
    with store.reading() as session:
        rows = session.execute(select(Annotation, Labeler.email).outerjoin(Labeler, Labeler.id == Annotation.labeler_id)
                               .where(Annotation.project_id == project_id).order_by(Annotation.task_id, Annotation.id)).all()
    tasks: dict[int, list] = defaultdict(list)
    for annotation, email in rows:
        tasks[annotation.task_id].append({
            "id": annotation.id, "result": annotation.result, "was_cancelled": annotation.cancelled,
            "completed_by": (email or f"labeler {annotation.labeler_id}") if annotation.labeler_id is not None else None,
            "created_at": annotation.updated_at, "lead_time": annotation.lead_time,
        })
    return [{"id": task_id, "project": project_id, "annotations": annotations} for task_id, annotations in tasks.items()]


def dashboard(store: Store, project_id: int, guidelines=None, label_studio_url: str | None = None, nonce: str = "") -> str:
    """The page: the gate (when the guidelines set bars), open flags by reason with their notes, and the report."""
    dataset = build(project_tasks(store, project_id), stored_gold=lambda projects: stored_gold_items(store, {project_id}))
    metrics = compute(dataset, guidelines.gate.match if guidelines else None, standings_by_name(store, project_id, guidelines))
    criteria, alerts = evaluate(metrics, guidelines.gate) if guidelines else ([], [])
    flags = [{"reason": reason, "label": label or "no label", "rows": rows} for (reason, label), rows in flags_by_reason(store, project_id)]
    link = f"{label_studio_url.rstrip('/')}/projects/{project_id}/data?task=" if label_studio_url else None
    name = f"{guidelines.project} (project {project_id})" if guidelines and guidelines.project else f"Project {project_id}"
    return render(metrics, title=f"{name}: labeling quality", gate=(criteria, alerts) if criteria else None,
                  flags=flags, task_link=link, nonce=nonce)
