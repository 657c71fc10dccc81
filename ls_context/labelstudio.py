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


def _call(what: str, function, *args, **kwargs):
    """Run one API call; a failure becomes one clear line."""
    try:
        return function(*args, **kwargs)
    except Exception as error:  # the SDK raises its own API errors and httpx's connection errors
        raise LSContextError(f"Label Studio refused to {what}: {error}") from None


def find_project(client, title: str):
    """The first project with this exact title, or None."""
    for project in client.projects.list():
        if project.title == title:
            return project
    return None


def export_tasks(client, project_id: int) -> list[dict]:
    """Every task of a project with its annotations and predictions, as Label Studio's JSON export."""
    tasks = _call(f"export project {project_id}", lambda: list(client.projects.exports.as_json(project_id)))
    emails = {user.id: user.email for user in list_users(client)}
    # The export names labelers by user id only; a lead reads emails.
    for task in tasks:
        for annotation in task.get("annotations") or []:
            user = annotation.get("completed_by")
            if isinstance(user, int) and user in emails:
                annotation["completed_by"] = {"id": user, "email": emails[user]}
    return tasks


def project_tasks(client, project_id: int) -> list[dict]:
    """Every task of a project as plain dicts (id, data, meta, is_labeled)."""
    tasks = _call(f"list the tasks of project {project_id}", lambda: list(client.tasks.list(project=project_id, fields="all")))
    return [{"id": t.id, "data": t.data or {}, "meta": t.meta or {}, "is_labeled": bool(t.is_labeled)} for t in tasks]


def label_config(client, project_id: int) -> str:
    return get_project(client, project_id).label_config


def mark_tasks(client, tasks: list[dict], **meta) -> None:
    """Add keys to the tasks' meta (filterable in the Data Manager), keeping what is there."""
    for task in tasks:
        _call(f"mark task {task['id']}", client.tasks.update, id=str(task["id"]), meta={**task["meta"], **meta})


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
    answer = _call(f"import tasks into project {project_id}", client.projects.import_tasks,
                   id=project_id, request=[dict(d) for d in data], return_task_ids=True)
    return list(answer.task_ids)


def get_project(client, project_id: int):
    return _call(f"read project {project_id}", client.projects.get, id=project_id)


def update_project(client, project_id: int, **fields) -> None:
    _call(f"update project {project_id}", client.projects.update, id=project_id, **fields)


def ensure_ml_backend(client, project_id: int, url: str) -> str:
    """Connect the model server once; a second call finds it."""
    for backend in _call("list model servers", client.ml.list, project=project_id):
        if backend.url.rstrip("/") == url:
            return f"model server already connected ({url})"
    _call(f"connect the model server at {url}", client.ml.create, url=url, project=project_id, title="ls-context")
    return f"model server connected ({url})"


def ensure_webhook(client, project_id: int, url: str, headers: dict) -> str:
    """Exactly one active webhook to `url`, with all actions, the payload and `headers`.

    Connecting a model server makes Label Studio add a webhook to its /webhook by itself, without
    our secret; that one is updated rather than a second one added.
    """
    existing = [hook for hook in _call("list webhooks", client.webhooks.list, project=project_id) if hook.url == url]
    for extra in existing[1:]:
        _call("remove a duplicate webhook", client.webhooks.delete, id=extra.id)
    settings = dict(url=url, headers=headers, send_payload=True, send_for_all_actions=True, is_active=True)
    if existing:
        _call("update the webhook", client.webhooks.update, id=existing[0].id, **settings)
        return f"webhook to {url} updated" + (" with the secret header" if headers else "")
    _call("create the webhook", client.webhooks.create, project=project_id, **settings)
    return f"webhook to {url} created" + (" with the secret header" if headers else "")


def list_users(client) -> list:
    return _call("list users", lambda: list(client.users.list()))


def create_user(client, email: str, password: str) -> int:
    """A new Label Studio user (a labeler account); returns its id."""
    return _call(f"create the user {email}", client.users.create, username=email, email=email, password=password).id


def create_annotation(client, task_id: int, result: list[dict], user_id: int, lead_time: float | None = None) -> int:
    """An annotation on a task in a user's name (the API key's owner must be allowed to do so)."""
    return _call(f"annotate task {task_id}", client.annotations.create, id=task_id, result=result,
                 completed_by=user_id, lead_time=lead_time).id
