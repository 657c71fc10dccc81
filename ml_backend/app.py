"""The application factory: one Flask app per configuration, nothing shared between two apps."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from pathlib import Path

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ls_context.errors import LSContextError
from ls_context.processing import Processor
from ls_context.store import Store
from ls_context.worker import Worker

from .learning import Trainer
from .metrics import Metrics
from .projects import Projects
from .pages import blueprint as pages
from .protocol import blueprint as protocol
from .settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Backend:
    """What the routes share: settings, project models, trainer, counters, the store and its worker."""

    settings: Settings
    projects: Projects
    trainer: Trainer
    metrics: Metrics
    store: Store
    worker: Worker
    events: object = None  # ls_context.jobs.EventQueue when RQ workers process the events

    def wake(self) -> None:
        """An event was recorded: tell whoever processes events."""
        if self.events is not None:
            self.events.wake()
        else:
            self.worker.start().notify()

    def close(self) -> None:
        """Stop the background threads (the worker, the Redis listener); for tests and embedded use."""
        self.worker.stop()
        if self.events is not None:
            self.events.close()

    def settle(self, timeout: float = 30) -> bool:
        """Wait until every recorded event is processed and no refit is pending (tests, the demo)."""
        import time

        from sqlalchemy import func, select

        from ls_context.store import Event

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.events is None:
                self.worker.run_once()
            with self.store.reading() as session:
                busy = session.scalar(select(func.count()).select_from(Event).where(Event.status.in_(("pending", "processing"))))
            if not busy:
                return self.trainer.wait_idle(max(0.0, deadline - time.monotonic()))
            time.sleep(0.05)
        return False


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("ls_context")
    app.json.sort_keys = False  # Label Studio reads keys by name; sorting 100 predictions' keys is wasted time
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
    store = Store(settings.store_url())
    projects = Projects(settings, store)
    metrics = Metrics()

    def refit(project_id: str) -> None:
        if projects.refit(project_id) is not None:
            metrics.count("refits")

    trainer = Trainer(refit, settings.refit_interval)
    processor = Processor(store, lambda project_id: projects.guidelines(str(project_id)),
                          lambda project_id: trainer.schedule(str(project_id)))
    worker = Worker(store, processor, lambda: _label_studio(settings), settings.worker_interval, settings.sync_every)
    events = None
    if settings.redis_url:
        from ls_context.jobs import EventQueue

        events = EventQueue(settings.redis_url)
        try:
            events.on_learned(lambda project_id: trainer.schedule(project_id))
        except Exception as error:  # fail at start, clearly, rather than at the first webhook
            raise LSContextError(f"cannot reach Redis ({events.where()}): {type(error).__name__}") from None
    app.extensions["ls_context"] = Backend(settings, projects, trainer, metrics, store, worker, events)
    app.register_blueprint(protocol)
    app.register_blueprint(pages)
    if settings.sync_every and events is None:
        worker.start()  # the periodic sync runs even before the first webhook (with Redis, `ls-context worker --sync-every`)
    if settings.basic_auth_user:
        app.before_request(_basic_auth(settings))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    return app


def _label_studio(settings: Settings):
    """The client write-backs go through, or None when Label Studio's URL and key are not configured."""
    if not (settings.label_studio_url and settings.label_studio_api_key):
        log.warning("LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY not set: feedback and flags wait in the store")
        return None
    from ls_context import labelstudio

    return labelstudio.connect(settings.label_studio_url, settings.label_studio_api_key)


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
