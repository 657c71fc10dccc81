"""Webhook intake: check the sender, check the shape, write the event down once, answer fast.

Label Studio sends no event id and never retries, so an event is keyed by what it is about
(action, annotation id and its `updated_at`) and committed before the answer: a repeated delivery
has one effect, and an acknowledged event is never lost.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from ls_context.errors import LSContextError
from ls_context.store import Store

SECRET_HEADER = "X-LS-Context-Secret"
ANNOTATION_ACTIONS = {"ANNOTATION_CREATED", "ANNOTATION_UPDATED"}
KNOWN_ACTIONS = ANNOTATION_ACTIONS | {
    "ANNOTATIONS_CREATED", "ANNOTATIONS_DELETED", "TASKS_CREATED", "TASKS_DELETED", "START_TRAINING",
    "PROJECT_CREATED", "PROJECT_UPDATED", "PROJECT_DELETED", "LABEL_LINK_CREATED", "LABEL_LINK_UPDATED",
    "LABEL_LINK_DELETED", "REVIEW_CREATED", "REVIEW_UPDATED", "REVIEWS_DELETED",
}


class BadEvent(LSContextError):
    """A webhook body that is not an event ls-context can take."""


def sender_allowed(secret: str | None, presented: str | None) -> bool:
    """True when no secret is configured, or the header carries it (compared in constant time)."""
    if not secret:
        return True
    return presented is not None and hmac.compare_digest(presented.encode(), secret.encode())


def event_key(payload: dict) -> str:
    """What makes two deliveries the same event."""
    action = payload["action"]
    if action in ANNOTATION_ACTIONS:
        # Created or updated, from a webhook or from `sync`: one annotation version is one event.
        annotation = payload["annotation"]
        return f"annotation:{annotation['id']}:{annotation.get('updated_at') or ''}"
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{action}:{digest}"


def check_shape(payload) -> None:
    if not isinstance(payload, dict):
        raise BadEvent("the body must be a JSON object")
    action = payload.get("action")
    if not isinstance(action, str) or not action:
        raise BadEvent("'action' must be a string")
    if action in ANNOTATION_ACTIONS:
        annotation, task = payload.get("annotation"), payload.get("task")
        if not isinstance(annotation, dict) or not isinstance(task, dict):
            raise BadEvent(f"{action} needs 'annotation' and 'task' objects")
        if not isinstance(annotation.get("id"), int) or not isinstance(task.get("id"), int):
            raise BadEvent(f"{action} needs integer 'annotation.id' and 'task.id'")
        if not isinstance(annotation.get("result", []), list):
            raise BadEvent("'annotation.result' must be a list")


def project_of(payload: dict) -> int | None:
    project = payload.get("project")
    if isinstance(project, dict):
        project = project.get("id")
    if project is None and isinstance(payload.get("task"), dict):
        project = payload["task"].get("project")
    return project if isinstance(project, int) else None


def accept(store: Store, payload: dict) -> tuple[str, int | None]:
    """Record an event durably; ("recorded", id), ("duplicate", None) or ("ignored", None) for unknown actions."""
    check_shape(payload)
    if payload["action"] not in KNOWN_ACTIONS:
        return "ignored", None
    event_id = store.record_event(event_key(payload), payload["action"], project_of(payload), payload)
    return ("recorded", event_id) if event_id is not None else ("duplicate", None)
