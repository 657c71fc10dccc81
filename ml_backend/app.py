"""The application factory: one Flask app per configuration, nothing shared between two apps."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .learning import Trainer
from .metrics import Metrics
from .projects import Projects
from .protocol import blueprint as protocol
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Backend:
    """What the routes share: settings, the project models, the trainer and the counters."""

    settings: Settings
    projects: Projects
    trainer: Trainer
    metrics: Metrics


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("ls_context")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    projects = Projects(settings)
    metrics = Metrics()

    def refit(project_id: str) -> None:
        if projects.refit(project_id) is not None:
            metrics.count("refits")

    app.extensions["ls_context"] = Backend(settings, projects, Trainer(refit), metrics)
    app.register_blueprint(protocol)
    if settings.basic_auth_user:
        app.before_request(_basic_auth(settings))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _basic_auth(settings: Settings):
    def check():
        auth = request.authorization
        # Compare bytes: compare_digest refuses non-ASCII str, and a guess must never cause a 500.
        user_ok = auth is not None and hmac.compare_digest((auth.username or "").encode(), settings.basic_auth_user.encode())
        pass_ok = auth is not None and hmac.compare_digest((auth.password or "").encode(), (settings.basic_auth_pass or "").encode())
        if not (user_ok and pass_ok):
            response = jsonify(error="authentication required")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="ls-context"'
            return response
        return None

    return check


def _http_error(error: HTTPException):
    messages = {413: "the request body is too large", 405: "method not allowed", 404: "not found"}
    message = error.description if error.code == 400 else messages.get(error.code, error.name)
    return jsonify(error=message), error.code


def _unexpected_error(error: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return jsonify(error="internal error; the server log has the details"), 500
