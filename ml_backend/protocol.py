"""Label Studio's ML-backend protocol: /health, /setup, /predict, /webhook, /versions, /metrics.

Shapes as Label Studio 1.23 sends them. Bad requests get 400 with one clear sentence; nothing
here trains a model: /webhook only writes the annotation down and schedules a refit.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import BadRequest

from ls_context.errors import LSContextError
from ls_context.intake.shape import MAX_ID, BadInput, an_id, parse
from ls_context.intake.webhook import SECRET_HEADER, accept, sender_allowed

blueprint = Blueprint("protocol", __name__)
log = logging.getLogger(__name__)
PROJECT = re.compile(r"([0-9]{1,10})(?:\.[0-9]{1,20})?", re.ASCII)


def backend():
    return current_app.extensions["ls_context"]


def json_object() -> dict:
    """The body as a JSON object, checked for depth, numbers and text the store could not keep (400 otherwise)."""
    try:
        body = parse(request.get_data(cache=False))
    except BadInput as error:
        raise BadRequest(str(error)) from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    return body


def project_id_of(value) -> str:
    """Label Studio sends "<id>.<created timestamp>" in /setup and /predict, a number or an object elsewhere."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    found = PROJECT.fullmatch(value) if isinstance(value, str) else None
    if found is None or not 1 <= int(found[1]) <= MAX_ID:
        raise BadRequest("'project' must be a project id such as \"12\" or \"12.1700000000\"")
    return found[1]


@blueprint.get("/")
@blueprint.get("/health")
def health():
    return jsonify(status="UP", model_class="ls-context")


@blueprint.post("/setup")
def setup():
    body = json_object()
    project_id = project_id_of(body.get("project"))
    schema = body.get("schema")
    if schema is not None and not isinstance(schema, str):
        raise BadRequest("'schema' must be the label config as a string")
    models = backend().models
    models.remember_config(project_id, schema or "")
    models.book.refresh(project_id)  # Label Studio calls /setup before most predictions: pick up a push now
    _say_guidelines(project_id)
    return jsonify(model_version=models.version(project_id))


def _say_guidelines(project_id: str) -> None:
    """One log line whenever the guidelines a project uses change: which ones, or that there are none."""
    book, said = backend().models.book, backend().said_guidelines
    digest = book.digest(project_id)
    if said.get(project_id, "") == digest:
        return
    said[project_id] = digest
    guidelines = book.latest(project_id)
    if guidelines is None:
        log.warning("project %s: no guidelines (run `ls-context setup` or `ls-context guidelines push`): no hints, "
                    "no decision rules, and nothing to learn from until labelers annotate", project_id)
    else:
        examples = sum(len(label.do) + len(label.edge_cases) for control in guidelines.controls.values() for label in control.labels)
        level = logging.WARNING if not examples and not guidelines.rules else logging.INFO
        log.log(level, "project %s: guidelines %s (%s) in use: %d rule(s), %d example(s) and edge case(s)", project_id,
                guidelines.version, guidelines.project, len(guidelines.rules), examples)


@blueprint.post("/predict")
def predict():
    started = time.perf_counter()
    body = json_object()
    tasks = body.get("tasks")
    check_tasks(tasks)
    project_id = project_id_of(body.get("project"))
    label_config = body.get("label_config")
    if label_config is not None and not isinstance(label_config, str):
        raise BadRequest("'label_config' must be the label config as a string")
    params = body.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest("'params' must be an object")
    loaded = backend().models.model(project_id, label_config)
    backend().watcher.start()  # from the first model served on, it learns what other processes record
    check_context(params.get("context"), loaded.model)
    results = [finish(prediction, loaded, task) for task, prediction in zip(tasks, loaded.model.predict(tasks))]
    backend().metrics.predicted(len(tasks), sum(1 for r in results if r), time.perf_counter() - started)
    # `examples` and `controls` are ours (Label Studio reads only the other two): `ls-context setup` explains them.
    model = loaded.model
    return jsonify(results=results, model_version=loaded.version, examples=model.examples_used,
                   controls={"choices": [m.name for m in model.choices], "spans": [m.name for m in model.spans]})


def check_tasks(tasks) -> None:
    """Tasks as Label Studio sends them: objects with an id and a data object."""
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        raise BadRequest("'tasks' must be a list of task objects")
    try:
        for index, task in enumerate(tasks):
            an_id(task.get("id"), f"tasks[{index}].id", optional=True)
            if not isinstance(task.get("data", {}), dict):
                raise BadInput(f"'tasks[{index}].data' must be an object")
    except BadInput as error:
        raise BadRequest(str(error)) from None


def check_context(context, model) -> None:
    """Interactive pre-annotation sends the labeler's partial result; it must name controls of the config."""
    if context is None:
        return
    if not isinstance(context, dict) or not isinstance(context.get("result", []), list):
        raise BadRequest("'params.context' must be an object with a 'result' list")
    for item in context.get("result", []):
        name = item.get("from_name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in model.control_names:
            raise BadRequest(f"'params.context' names unknown control '{name}'")


def finish(prediction: dict | None, loaded, task: dict):
    """A validated prediction with its model version, or [] (no prediction for this task)."""
    if prediction is None:
        return []
    errors = loaded.model.validate(prediction)
    if errors:
        log.error("task %s: prediction dropped, Label Studio would reject it: %s", task.get("id"), "; ".join(errors))
        backend().metrics.count("predictions_invalid")
        return []
    return {**prediction, "model_version": loaded.version}


@blueprint.post("/webhook")
def webhook():
    """Record the event and answer; the worker processes it and the trainer refits after."""
    state = backend()
    if not sender_allowed(state.config.webhook_secret, request.headers.get(SECRET_HEADER)):
        refused = state.metrics.count("webhooks_refused")
        if refused == 1 or refused % 100 == 0:  # Label Studio never retries: say it, without flooding the log
            log.warning("webhook refused (%d so far): wrong or missing %s header, from %s; `ls-context setup` puts "
                        "the secret into the project's webhook", refused, SECRET_HEADER, request.remote_addr)
        return jsonify(error=f"wrong or missing {SECRET_HEADER} header"), 401
    body = json_object()
    status, event_id = accept(state.store, body)  # committed before Label Studio gets its answer
    project = body.get("project")
    if isinstance(project, dict) and isinstance(project.get("label_config"), str) and project.get("id") is not None:
        state.models.remember_config(project_id_of(project), project["label_config"])
    if body["action"] == "START_TRAINING" and project is not None:
        # Each press of the button sends the same body: a repeat is still a request for a fit, not a duplicate.
        state.trainer.schedule(project_id_of(project), force=True)
        status = "full fit scheduled"
    if event_id is not None:
        state.wake()
    else:
        state.metrics.count(f"webhooks_{status}")
    return jsonify(event=status, action=body["action"]), 201 if event_id is not None else 200


@blueprint.get("/versions")
def versions():
    known = backend().models.versions()
    return jsonify(versions=sorted(set(known.values())), projects=known)


@blueprint.get("/metrics")
def metrics():
    state = backend()
    learning = {**state.models.learning.summary(), "models": state.models.served()}
    return jsonify({**state.metrics.snapshot(), "learning": learning})


@blueprint.errorhandler(LSContextError)
def user_error(error):
    return jsonify(error=str(error)), 400
