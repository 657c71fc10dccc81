"""The application factory: one Flask app per configuration, nothing shared between two apps."""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass, field

from flask import Flask, current_app, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ls_context.checks.personal import Links
from ls_context.config import Config, ConfigError
from ls_context.errors import first_line
from ls_context.services import Services, build

from .trainer import Trainer
from .watcher import Watcher
from .metrics import Metrics
from .pages import blueprint as pages
from .protocol import blueprint as protocol
from .registry import ModelRegistry

log = logging.getLogger(__name__)
# Routes that authenticate by themselves (a signed personal link), so labelers never need basic auth.
OWN_AUTH_ENDPOINTS = {"pages.personal_feedback", "pages.labeler", "pages.project_dashboard"}


@dataclass
class Backend:
    """What the routes share: the services, the model registry, the trainer and the counters."""

    services: Services
    models: ModelRegistry
    trainer: Trainer
    metrics: Metrics
    watcher: Watcher
    said_guidelines: dict = field(default_factory=dict)  # project id -> guidelines digest last logged by /setup
    _links: Links | None = None

    def links(self) -> Links:
        """The signed links to the feedback pages (the key is read from the store once)."""
        if self._links is None:
            self._links = Links.of(self.store)
        return self._links

    @property
    def config(self) -> Config:
        return self.services.config

    @property
    def store(self):
        return self.services.store

    @property
    def worker(self):
        return self.services.worker

    def wake(self) -> None:
        """An event was recorded: tell whoever processes events."""
        if self.services.queue is not None:
            self.services.queue.wake()
        else:
            self.services.worker.start().notify()

    def close(self) -> None:
        """Stop the background threads (the worker, the watcher, the Redis listener); for tests and embedded use."""
        self.watcher.stop()
        self.services.close()

    def settle(self, timeout: float = 30) -> bool:
        """Wait until every recorded event is processed and no refit is pending (tests, the demo)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.services.queue is None:
                self.services.worker.run_once()
            if not self.store.unprocessed():
                self.models.sync_all()
                return self.trainer.wait_idle(max(0.0, deadline - time.monotonic()))
            time.sleep(0.05)
        return False


def create_app(config: Config | None = None, migrate: bool = True) -> Flask:
    """The model server for `config` (default: the one configuration every command reads).

    `migrate=False` (gunicorn's workers) only checks that the store's schema is current.
    """
    config = config or Config.resolve()
    require_secret(config)
    app = Flask("ml_backend")
    app.json.sort_keys = False  # Label Studio reads keys by name; sorting 100 predictions' keys is wasted time
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    metrics = Metrics()

    def learned(project_id) -> None:
        trainer.schedule(str(project_id))  # a full fit, when the project has grown enough for one
        watcher.poke()  # every process's model learns the new answers within a poll; this one's at once

    # `watcher` and `trainer` are bound when an event is processed, which is after this function returns.
    services = build(config, learned=learned, migrate=migrate)
    models = ModelRegistry(config, services.store, services.guidelines)

    def refit(project_id: str, force: bool = False) -> None:
        if models.refit(project_id, force) is not None:
            metrics.count("refits")

    trainer = Trainer(refit, config.refit_interval)
    watcher = Watcher(models, config.model_poll)
    if services.queue is not None:
        # After a Redis outage, what workers published meanwhile is lost: look at every project served.
        services.queue.on_learned(learned, missed=lambda: [learned(p) for p in models.versions()])
    app.extensions["ls_context"] = Backend(services, models, trainer, metrics, watcher)
    app.register_blueprint(protocol)
    app.register_blueprint(pages)
    if (config.sync_every or services.alerts.targets) and services.queue is None:
        # The periodic sync, and alerts still waiting from before a restart, go out before the first webhook
        # (with Redis, `ls-context worker` does both).
        services.worker.start()
    if config.basic_auth:
        app.before_request(_basic_auth(config))
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _store_away)
    app.register_error_handler(Exception, _unexpected_error)
    _log_start(config, services)
    return app


def require_secret(config: Config) -> None:
    """No server takes events from anyone unless told so explicitly."""
    if not config.webhook_secret and not config.insecure:
        raise ConfigError(
            "no webhook secret: set LS_CONTEXT_WEBHOOK_SECRET (for example to the output of `openssl rand -hex 16`) "
            "so that only Label Studio can post events, or start with --insecure (LS_CONTEXT_INSECURE=1) on a "
            "machine nobody else can reach"
        )


def _log_start(config: Config, services: Services) -> None:
    if config.webhook_secret:
        log.info("webhook intake: the X-LS-Context-Secret header is required")
    else:
        log.warning("webhook intake: NO secret (insecure mode): anyone who can reach this server can post events")
    log.info("store %s; models in %s; basic auth %s; events processed by %s", services.store.where(), config.model_dir,
             "on" if config.basic_auth else "off",
             f"`ls-context worker` on Redis {services.queue.where()}" if services.queue else "a thread of this process")


def _basic_auth(config: Config):
    user, password = config.basic_auth

    def check():
        if request.endpoint in OWN_AUTH_ENDPOINTS:
            return None
        auth = request.authorization
        # Compare bytes: compare_digest refuses non-ASCII str, and a guess must never cause a 500.
        user_ok = auth is not None and hmac.compare_digest((auth.username or "").encode(), user.encode())
        pass_ok = auth is not None and hmac.compare_digest((auth.password or "").encode(), password.encode())
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


def _store_away(error: Exception):
    """The database is down, restarting or too busy: say so (503), without a traceback per request."""
    state = current_app.extensions["ls_context"]
    if state.metrics.count("store_unavailable") % 100 == 1:
        log.error("the store is unavailable on %s %s: %s: %s", request.method, request.path, type(error).__name__,
                  first_line(error))
    response = jsonify(error="the store is unavailable; try again shortly (`ls-context sync` recovers lost webhooks)")
    response.status_code = 503
    response.headers["Retry-After"] = "5"
    return response


def _unexpected_error(error: Exception):
    log.exception("unexpected error on %s %s", request.method, request.path)
    return jsonify(error="internal error; the server log has the details"), 500
