"""Recover annotations whose webhooks were lost: read them back and feed them through the same path.

Label Studio sends each webhook once, with a one-second timeout and no retry; whatever arrived
while ls-context was down is found here by its (annotation id, updated_at) key.
"""

from __future__ import annotations

from dataclasses import dataclass

from .webhook import accept


@dataclass
class SyncReport:
    annotations: int = 0
    recovered: int = 0


def sync_project(studio, store, project_id: int) -> SyncReport:
    """Record every annotation version the store has not seen; processing picks them up."""
    report = SyncReport()
    for task in studio.export(project_id):
        task_part = {"id": task["id"], "project": project_id, "data": task.get("data") or {}}
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, dict) or not isinstance(annotation.get("id"), int):
                continue
            report.annotations += 1
            payload = {"action": "ANNOTATION_UPDATED", "annotation": _as_webhook(annotation), "task": task_part,
                       "project": {"id": project_id}}
            status, _ = accept(store, payload)
            report.recovered += status == "recorded"
    return report


def _as_webhook(annotation: dict) -> dict:
    """The export names the labeler {id, email}; the webhook and the store use the id."""
    completed_by = annotation.get("completed_by")
    if isinstance(completed_by, dict):
        annotation = {**annotation, "completed_by": completed_by.get("id"), "created_username": completed_by.get("email", "")}
    return annotation
