"""The one place that talks to Label Studio's HTTP API (through label-studio-sdk)."""

from __future__ import annotations

import os

from .errors import LSContextError


def connect(url: str | None = None, api_key: str | None = None):
    """A client for the Label Studio at `url`, from LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY by default.

    The key may be a legacy token or a personal access token; the SDK handles both.
    """
    from label_studio_sdk import LabelStudio

    url = url or os.environ.get("LABEL_STUDIO_URL")
    api_key = api_key or os.environ.get("LABEL_STUDIO_API_KEY")
    if not url or not api_key:
        raise LSContextError("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (Account & Settings > Access Token)")
    return LabelStudio(base_url=url.rstrip("/"), api_key=api_key, timeout=30)


def find_project(client, title: str):
    """The first project with this exact title, or None."""
    for project in client.projects.list():
        if project.title == title:
            return project
    return None


def export_tasks(client, project_id: int) -> list[dict]:
    """Every task of a project with its annotations and predictions, as Label Studio's JSON export."""
    from .errors import LSContextError

    try:
        tasks = list(client.projects.exports.as_json(project_id))
        emails = {user.id: user.email for user in client.users.list()}
    except Exception as error:  # the SDK raises its own API errors and requests' connection errors
        raise LSContextError(f"cannot export project {project_id} from Label Studio: {error}") from None
    # The export names labelers by user id only; a lead reads emails.
    for task in tasks:
        for annotation in task.get("annotations") or []:
            user = annotation.get("completed_by")
            if isinstance(user, int) and user in emails:
                annotation["completed_by"] = {"id": user, "email": emails[user]}
    return tasks


def project_tasks(client, project_id: int) -> list[dict]:
    """Every task of a project as plain dicts (id, data, meta, is_labeled)."""
    from .errors import LSContextError

    try:
        return [
            {"id": task.id, "data": task.data or {}, "meta": task.meta or {}, "is_labeled": bool(task.is_labeled)}
            for task in client.tasks.list(project=project_id, fields="all")
        ]
    except Exception as error:  # the SDK raises its own API errors and requests' connection errors
        raise LSContextError(f"cannot read the tasks of project {project_id}: {error}") from None


def label_config(client, project_id: int) -> str:
    return client.projects.get(id=project_id).label_config


def mark_tasks(client, tasks: list[dict], **meta) -> None:
    """Add keys to the tasks' meta (filterable in the Data Manager), keeping what is there."""
    for task in tasks:
        client.tasks.update(id=str(task["id"]), meta={**task["meta"], **meta})


def merge_into_task(client, task_id: int, part: str, changes: dict) -> None:
    """Merge `changes` into a task's data or meta, reading it first so nothing else is overwritten."""
    task = client.tasks.get(id=task_id)
    current = dict((task.data if part == "data" else task.meta) or {})
    for key, value in changes.items():
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    client.tasks.update(id=str(task_id), **{part: current})


def import_tasks(client, project_id: int, data: list[dict]) -> list[int]:
    """Import tasks (their data) and return their new ids, in order."""
    from .errors import LSContextError

    try:
        answer = client.projects.import_tasks(id=project_id, request=[dict(d) for d in data], return_task_ids=True)
    except Exception as error:  # the SDK raises its own API errors and requests' connection errors
        raise LSContextError(f"cannot import tasks into project {project_id}: {error}") from None
    return list(answer.task_ids)
