"""The one place that talks to Label Studio's HTTP API (through label-studio-sdk).

Every failure becomes a `LabelStudioError` that keeps the HTTP status, so a caller can tell a
refusal (4xx, permanent) from an outage (5xx, timeout, no connection: worth retrying), and whose
message is one line with no headers, cookies or tokens in it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ls_context.errors import LSContextError


RETRIEVE_TIMEOUT = 300  # seconds Label Studio may take to collect the model server's predictions


class LabelStudioError(LSContextError):
    """Label Studio refused or could not be reached; `status` is the HTTP status, None without an answer."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Gateway:
    """Label Studio at `url`, as the owner of `api_key` (a personal access token or a legacy token).

    `retries` is how often the SDK itself retries a failed connection; callers that keep their own
    retry schedule (the write-back outbox) pass 0.
    """

    def __init__(self, url: str | None, api_key: str | None, timeout: float = 30, retries: int = 2):
        if not url or not api_key:
            raise LSContextError("set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY (Account & Settings > Access Token)")
        from label_studio_sdk import LabelStudio

        self.url = url.rstrip("/")
        self.client = LabelStudio(base_url=self.url, api_key=api_key, timeout=timeout, max_retries=retries)

    @classmethod
    def from_config(cls, config, **kwargs) -> "Gateway":
        return cls(config.label_studio_url, config.label_studio_api_key, **kwargs)

    def call(self, what: str, function, *args, **kwargs):
        """Run one SDK call; any failure becomes one clear line that keeps the status code."""
        try:
            return function(*args, **kwargs)
        except Exception as error:  # the SDK raises its own ApiError and httpx's transport errors
            raise _as_error(what, error, self.url) from None

    # -- people ---------------------------------------------------------------------------------

    def whoami(self):
        return self.call("identify the API key's owner", self.client.users.whoami)

    def users(self) -> list:
        return self.call("list users", lambda: list(self.client.users.list()))

    def create_user(self, email: str, password: str) -> int:
        """A new Label Studio user (a labeler account); returns its id."""
        return self.call(f"create the user {email}", self.client.users.create, username=email, email=email, password=password).id

    # -- projects -------------------------------------------------------------------------------

    def project(self, project_id: int):
        return self.call(f"read project {project_id}", self.client.projects.get, id=project_id)

    def find_project(self, title: str):
        """The first project with this exact title, or None."""
        projects = self.call("list projects", lambda: list(self.client.projects.list()))
        return next((project for project in projects if project.title == title), None)

    def create_project(self, title: str, label_config: str):
        return self.call(f"create the project {title!r}", self.client.projects.create, title=title, label_config=label_config)

    def update_project(self, project_id: int, **fields) -> None:
        self.call(f"update project {project_id}", self.client.projects.update, id=project_id, **fields)

    def retrieve_predictions(self, project_id: int, task_ids: list[int] | None = None) -> None:
        """Ask the connected model server for a prediction on these tasks, or every task (Label Studio's own action)."""
        selected = {"all": False, "included": list(task_ids)} if task_ids is not None else {"all": True, "excluded": []}
        # Label Studio answers once the model server has predicted every task: minutes on a busy machine, and a
        # repeat would only ask for the same predictions again.
        self.call(f"retrieve predictions in project {project_id}", self.client.actions.create,
                  id="retrieve_tasks_predictions", project=project_id, selected_items=selected,
                  request_options={"timeout": RETRIEVE_TIMEOUT, "max_retries": 0})

    # -- tasks ----------------------------------------------------------------------------------

    def tasks(self, project_id: int, predictions: bool = False) -> list[dict]:
        """Every task of a project as plain dicts (id, data, meta, is_labeled, and its predictions if asked)."""
        tasks = self.call(f"list the tasks of project {project_id}",
                          lambda: list(self.client.tasks.list(project=project_id, fields="all")))
        found = [{"id": t.id, "data": t.data or {}, "meta": t.meta or {}, "is_labeled": bool(t.is_labeled)} for t in tasks]
        if predictions:
            for row, task in zip(found, tasks):
                row["predictions"] = [{"result": p.result, "model_version": p.model_version} for p in task.predictions or []]
        return found

    def export(self, project_id: int) -> list[dict]:
        """Every task with its annotations and predictions, as Label Studio's JSON export; labelers named by email."""
        tasks = self.call(f"export project {project_id}", lambda: list(self.client.projects.exports.as_json(project_id)))
        emails = self._emails()
        return [_named(task, emails) for task in tasks]

    def iter_export(self, project_id: int, page_size: int = 100) -> tuple[int, Iterator[dict]]:
        """(task count, the tasks page by page) in the export's format: a large project never sits in memory whole."""
        total = self.project(project_id).task_number or 0
        emails = self._emails()
        what = f"read the tasks of project {project_id}"

        def tasks() -> Iterator[dict]:
            for number in itertools.count(1):
                try:
                    page = self.call(what, self.client.tasks.list, project=project_id, fields="all", page=number, page_size=page_size)
                except LabelStudioError as error:
                    if error.status == 404 and number > 1:
                        return  # "Invalid page": the last page was full
                    raise
                items = page.items or []
                for task in items:
                    yield _named(task.model_dump(mode="json"), emails)
                if len(items) < page_size:
                    return

        return total, tasks()

    def _emails(self) -> dict[int, str]:
        return {user.id: user.email for user in self.users()}

    def import_tasks(self, project_id: int, data: list[dict]) -> list[int]:
        """Import tasks (their data) and return their new ids, in order."""
        answer = self.call(f"import tasks into project {project_id}", self.client.projects.import_tasks,
                           id=project_id, request=[dict(d) for d in data], return_task_ids=True)
        return list(answer.task_ids)

    def mark_tasks(self, tasks: list[dict], **meta) -> None:
        """Add keys to the tasks' meta (filterable in the Data Manager), keeping what is there."""
        for task in tasks:
            self.call(f"mark task {task['id']}", self.client.tasks.update, id=str(task["id"]), meta={**task["meta"], **meta})

    def merge_into_task(self, task_id: int, part: str, changes: dict) -> None:
        """Merge `changes` into a task's data or meta, reading it first so nothing else is overwritten."""
        task = self.call(f"read task {task_id}", self.client.tasks.get, id=task_id)
        current = dict((task.data if part == "data" else task.meta) or {})
        for key, value in changes.items():
            if value is None:
                current.pop(key, None)
            else:
                current[key] = value
        self.call(f"update task {task_id}", self.client.tasks.update, id=str(task_id), **{part: current})

    def annotate(self, task_id: int, result: list[dict], user_id: int, lead_time: float | None = None) -> int:
        """An annotation on a task in a user's name (the API key's owner must be allowed to do so)."""
        return self.call(f"annotate task {task_id}", self.client.annotations.create, id=task_id, result=result,
                         completed_by=user_id, lead_time=lead_time).id

    # -- wiring -----------------------------------------------------------------------------------

    def ensure_ml_backend(self, project_id: int, url: str, basic_auth: tuple[str, str] | None = None) -> str:
        """Connect the model server once (with its basic-auth credentials); a second call updates it."""
        auth = dict(auth_method="BASIC_AUTH", basic_auth_user=basic_auth[0], basic_auth_pass=basic_auth[1]) \
            if basic_auth else dict(auth_method="NONE")
        for backend in self.call("list model servers", self.client.ml.list, project=project_id):
            if backend.url.rstrip("/") == url:
                # Label Studio answers 500 to an update without url and project.
                self.call(f"update the model server at {url}", self.client.ml.update, id=backend.id, url=url,
                          project=project_id, **auth)
                return f"model server already connected ({url}), its settings updated" + (" with basic auth" if basic_auth else "")
        self.call(f"connect the model server at {url}", self.client.ml.create, url=url, project=project_id,
                  title="ls-context", **auth)
        return f"model server connected ({url})" + (" with basic auth" if basic_auth else "")

    def ensure_webhook(self, project_id: int, url: str, headers: dict) -> int:
        """Exactly one active webhook to `url`, with all actions, the payload and `headers`; its id.

        Connecting a model server makes Label Studio add a webhook to its /webhook by itself, without
        our headers; that one is updated rather than a second one added.
        """
        hooks = self.call("list webhooks", self.client.webhooks.list, project=project_id)
        existing = [hook for hook in hooks if hook.url == url]
        for extra in existing[1:]:
            self.call("remove a duplicate webhook", self.client.webhooks.delete, id=extra.id)
        settings = dict(url=url, headers=headers, send_payload=True, send_for_all_actions=True, is_active=True)
        if existing:
            self.call("update the webhook", self.client.webhooks.update, id=existing[0].id, **settings)
            return existing[0].id
        return self.call("create the webhook", self.client.webhooks.create, project=project_id, **settings).id


def _named(task: dict, emails: dict[int, str]) -> dict:
    """The task with each annotation's author as {id, email}, as the report names labelers."""
    for annotation in task.get("annotations") or []:
        user = annotation.get("completed_by")
        if isinstance(user, int) and user in emails:
            annotation["completed_by"] = {"id": user, "email": emails[user]}
    return task


def _as_error(what: str, error: Exception, url: str) -> LabelStudioError:
    status = getattr(error, "status_code", None)
    if status is not None:
        return LabelStudioError(f"Label Studio refused to {what}: HTTP {status}{_detail(getattr(error, 'body', None))}", status)
    name = type(error).__name__
    if "Timeout" in name:
        return LabelStudioError(f"Label Studio at {url} did not answer in time to {what} ({name})")
    if "Connect" in name or "Network" in name or "Protocol" in name:
        return LabelStudioError(f"cannot reach Label Studio at {url} to {what} ({name})")
    return LabelStudioError(f"could not {what} in Label Studio: {name}: {str(error)[:200]}")


def _detail(body) -> str:
    """A short reason from Label Studio's answer; never its headers (they may set cookies)."""
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "error", "message"):
            if body.get(key):
                return f": {str(body[key])[:300]}"
        return f": {str(body)[:300]}"
    if isinstance(body, str) and body.strip() and not body.lstrip().startswith("<"):
        return f": {body.strip()[:300]}"
    return ""
