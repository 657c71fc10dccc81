"""`ls-context setup`: wire a Label Studio project to ls-context; running it again changes nothing more.

Extends the label config, uploads the instructions, stores the guidelines where every process
reads them, connects the model server (with its basic auth), makes sure exactly one webhook reaches
the server's /webhook with the headers it needs, and ends by asking the server for one task's
prediction, so that what would silently produce nothing is said now.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field

import requests

from ls_context.errors import LSContextError
from ls_context.guidelines import load
from ls_context.guidelines.book import GuidelinesBook
from ls_context.guidelines.instructions import render
from ls_context.intake.webhook import SECRET_HEADER

from .gateway import Gateway
from .label_config import RATIONALE, REGION_RATIONALE, Injection, inject


@dataclass
class SetupReport:
    steps: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    preview: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Backend:
    """How Label Studio (and this command) reach the model server."""

    url: str
    secret: str | None = None
    basic_auth: tuple[str, str] | None = None

    def headers(self) -> dict:
        """What each webhook must carry: the secret, and basic auth when the server requires it."""
        headers = {SECRET_HEADER: self.secret} if self.secret else {}
        if self.basic_auth:
            token = base64.b64encode(f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        return headers


def setup_project(studio: Gateway, book: GuidelinesBook, project_id: int, guidelines_path: str, backend: Backend) -> SetupReport:
    report = SetupReport()
    guidelines = load(guidelines_path)
    _not_a_course(book.store, project_id)
    health = _health(backend)  # before anything changes: wrong credentials stop here
    project = studio.project(project_id)
    # The hints the project's previous guidelines wrote give way to the new ones; hints written by hand stay.
    extended = inject(project.label_config, Injection.from_guidelines(guidelines, previous=book.latest(project_id)))
    studio.update_project(project_id, label_config=extended, expert_instruction=render(guidelines),
                          show_instruction=True, show_collab_predictions=True)
    report.steps.append(f"label config extended and instructions uploaded (guidelines {guidelines.version})")
    pushed = book.push_file(project_id, guidelines_path)
    report.steps.append(f"guidelines {pushed.version} stored as version {pushed.number} of project {project_id}"
                        + ("" if pushed.new else " (unchanged)"))
    if health:
        report.warnings.append(health)
    report.steps.append(studio.ensure_ml_backend(project_id, backend.url, backend.basic_auth))
    studio.ensure_webhook(project_id, f"{backend.url}/webhook", backend.headers())
    carried = " and ".join(part for part, on in (("the secret header", backend.secret), ("basic auth", backend.basic_auth)) if on)
    report.steps.append(f"webhook to {backend.url}/webhook" + (f" with {carried}" if carried else ""))
    if not backend.secret:
        report.warnings.append("no webhook secret (LS_CONTEXT_WEBHOOK_SECRET): the server accepts events only when "
                               "started with --insecure, and then from anyone who can reach it")
    if not health:
        _preview(studio, project_id, extended, backend, report)
    return report


def _not_a_course(store, project_id: int) -> None:
    """A course project gets no model server: its pre-annotations would hand labelers the course's answers."""
    from ls_context.onboarding.standing import prepares_for

    with store.reading() as session:
        parent = prepares_for(session, project_id)
    if parent is not None:
        raise LSContextError(f"project {project_id} is the onboarding course of project {parent}: wire project {parent} "
                             f"instead (`ls-context onboard --project {parent}` keeps its course up to date); nothing was changed")


def _health(backend: Backend) -> str | None:
    """None when the server answers /health here; else why not (Label Studio may still reach it)."""
    try:
        answer = requests.get(f"{backend.url}/health", auth=backend.basic_auth, timeout=10)
    except requests.RequestException as error:
        return f"the model server at {backend.url} does not answer from here ({type(error).__name__}); no preview"
    if answer.status_code == 401:
        raise LSContextError(f"the model server at {backend.url} refuses these basic-auth credentials: set "
                             "BASIC_AUTH_USER and BASIC_AUTH_PASS to the server's own values; nothing was changed")
    if answer.status_code != 200:
        return f"the model server at {backend.url} answered /health with HTTP {answer.status_code}; no preview"
    return None


def _preview(studio: Gateway, project_id: int, label_config: str, backend: Backend, report: SetupReport) -> None:
    """Ask the server, as Label Studio does, for the first task's prediction; say what a labeler will see."""
    tasks = studio.tasks(project_id)
    project_key = f"{project_id}.0"

    def post(path: str, body: dict) -> requests.Response:
        return requests.post(f"{backend.url}{path}", json=body, auth=backend.basic_auth, timeout=60)

    post("/setup", {"project": project_key, "schema": label_config})
    if not tasks:
        report.preview.append("no tasks yet: import some and Label Studio asks the server for their pre-annotations")
        return
    task = tasks[0]
    answer = post("/predict", {"tasks": [{"id": task["id"], "data": task["data"]}], "project": project_key,
                               "label_config": label_config})
    if answer.status_code != 200:
        report.warnings.append(f"the server answered /predict with HTTP {answer.status_code}: {answer.text[:300]}")
        return
    body = answer.json()
    examples, controls = body.get("examples"), body.get("controls") or {}
    if controls and not controls.get("choices") and not controls.get("spans"):
        report.steps.append("the model reads text, and no control of this project labels text it can read: labelers get "
                            "the hints, the instructions, the flag and the gold feedback, without pre-annotations")
        return
    if controls and not controls.get("choices"):
        report.steps.append(f"the model marks spans by the guidelines' keyword and pattern rules ({', '.join(controls['spans'])})")
    elif examples == 0:
        report.warnings.append("the model has 0 examples to learn from (no do-examples or edge cases in the guidelines, "
                               "no annotations yet): only the decision rules pre-annotate until labelers annotate")
    elif examples is not None:
        report.steps.append(f"model {body.get('model_version')} learned from {examples} example(s)")
    prediction = (body.get("results") or [None])[0]
    report.preview.append(f"what a labeler sees on task {task['id']}:")
    report.preview.extend(f"  {line}" for line in describe(prediction))


def describe(prediction) -> list[str]:
    """A prediction as a labeler sees it: the pre-selected answer(s), then the rationale's lines."""
    if not prediction or not prediction.get("result"):
        return ["no pre-annotation (nothing in the guidelines or the examples applies to this task)"]
    lines, rationale = [], []
    for item in prediction["result"]:
        value = item.get("value") or {}
        if item.get("from_name") == RATIONALE:
            rationale.extend(line for text in value.get("text", []) for line in str(text).splitlines())
        elif value.get("choices"):
            lines.append(f"{item['from_name']}: {', '.join(value['choices'])} pre-selected")
        elif item.get("type") in ("labels", "hypertextlabels"):
            lines.append(f"{item['from_name']}: span \"{value.get('text', '')}\" marked {', '.join(value.get(item['type'], []))}")
        elif item.get("from_name") == REGION_RATIONALE:
            lines.extend(f"  why: {text}" for text in value.get("text", []))
    return lines + [f"rationale: {line}" for line in rationale]
