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

from .shape import MAX_STAMP, BadInput, a_number, a_result, a_string, an_id, an_object, check_tree

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
    """Refuse (BadEvent, naming the field) every payload with a field that processing would trip on later."""
    if not isinstance(payload, dict):
        raise BadEvent("the body must be a JSON object")
    try:
        check_tree(payload)
        action = a_string(payload.get("action"), "action", longest=64, optional=False)
        if not action:
            raise BadInput("'action' must not be empty")
        project = project_of(payload)
        if action in ANNOTATION_ACTIONS:
            _check_annotation(payload, project)
        elif action in ("ANNOTATIONS_DELETED", "TASKS_DELETED"):
            _check_ids(payload, "annotations" if action == "ANNOTATIONS_DELETED" else "tasks")
        elif action == "START_TRAINING" and project is None:
            raise BadInput("START_TRAINING needs the project's id")
    except BadInput as error:
        raise BadEvent(str(error)) from None


def _check_ids(payload: dict, field: str) -> None:
    listed = payload.get(field) or []
    if not isinstance(listed, list):
        raise BadInput(f"'{field}' must be a list")
    for index, item in enumerate(listed):
        an_id(an_object(item, f"{field}[{index}]").get("id"), f"{field}[{index}].id")


def _check_annotation(payload: dict, project: int | None) -> None:
    annotation = an_object(payload.get("annotation"), "annotation")
    task = an_object(payload.get("task"), "task")
    if project is None:
        raise BadInput(f"{payload['action']} needs the project's id ('project.id' or 'task.project')")
    # project_of took the project's own id first: the task's, when given, must be the same one.
    if an_id(task.get("project"), "task.project", optional=True) not in (None, project):
        raise BadInput("'project' and 'task.project' name different projects")
    an_id(annotation.get("id"), "annotation.id")
    an_id(task.get("id"), "task.id")
    an_object(task.get("data"), "task.data", optional=True)
    a_result(annotation.get("result"), "annotation.result")
    a_string(annotation.get("updated_at"), "annotation.updated_at", longest=MAX_STAMP)
    a_string(annotation.get("created_username"), "annotation.created_username", longest=400)
    a_number(annotation.get("lead_time"), "annotation.lead_time")
    author = annotation.get("completed_by")
    if isinstance(author, dict):
        an_id(author.get("id"), "annotation.completed_by.id", optional=True)
        a_string(author.get("email"), "annotation.completed_by.email", longest=320)
    else:
        an_id(author, "annotation.completed_by", optional=True)


def project_of(payload: dict) -> int | None:
    """The event's project id (from `project`, or the task's), or None when it names none; refuses a bad one."""
    project = payload.get("project")
    if isinstance(project, dict) and project.get("id") is not None:
        return an_id(project["id"], "project.id")
    if project is not None and not isinstance(project, dict):
        return an_id(project, "project")
    task = payload.get("task")
    return an_id(task.get("project"), "task.project", optional=True) if isinstance(task, dict) else None


def accept(store: Store, payload: dict) -> tuple[str, int | None]:
    """Record an event durably; ("recorded", id), ("duplicate", None) or ("ignored", None) for unknown actions."""
    check_shape(payload)
    if payload["action"] not in KNOWN_ACTIONS:
        return "ignored", None
    event_id = store.record_event(event_key(payload), payload["action"], project_of(payload), payload)
    return ("recorded", event_id) if event_id is not None else ("duplicate", None)
