"""Explicit configuration of the model server, from arguments or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Everything the server needs; `from_env` reads the variable names Label Studio's own backends use.

    model_dir: where each project's model, version and learned annotations are kept (MODEL_DIR).
    guidelines: the guidelines file for projects that have none of their own (LS_CONTEXT_GUIDELINES);
        `ls-context setup` puts a project's own file at MODEL_DIR/project-<id>/guidelines.yaml.
    classifier: "module:attribute" of a classifier to use instead of the default (LS_CONTEXT_CLASSIFIER).
    basic_auth_user / basic_auth_pass: HTTP basic auth for every route (BASIC_AUTH_USER / BASIC_AUTH_PASS).
    max_body_bytes: larger requests get 413.
    db_url: the store (LS_CONTEXT_DB); default a SQLite file in model_dir.
    webhook_secret: when set, /webhook needs it in the X-LS-Context-Secret header (LS_CONTEXT_WEBHOOK_SECRET).
    refit_interval: seconds between two refits of one project (LS_CONTEXT_REFIT_INTERVAL, 5 from the
        environment), so a burst of annotations costs one refit, not one per annotation.
    sync_every: seconds between two recoveries of lost webhooks (LS_CONTEXT_SYNC_EVERY; 0 = never).
    redis_url: when set, events are processed by `ls-context worker` (RQ on this Redis), not by a
        thread of the web process (LS_CONTEXT_REDIS_URL).
    label_studio_url / label_studio_api_key: where feedback and flags are written back
        (LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY); without them write-backs wait in the store.
    """

    model_dir: Path = Path("models")
    guidelines: Path | None = None
    classifier: str | None = None
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    db_url: str | None = None
    webhook_secret: str | None = None
    label_studio_url: str | None = None
    label_studio_api_key: str | None = None
    worker_interval: float = 1.0
    refit_interval: float = 0.0
    sync_every: float = 0.0
    redis_url: str | None = None

    @classmethod
    def from_env(cls, environ=os.environ, **overrides) -> "Settings":
        guidelines = environ.get("LS_CONTEXT_GUIDELINES")
        values = dict(
            model_dir=Path(environ.get("MODEL_DIR", "models")),
            guidelines=Path(guidelines) if guidelines else None,
            classifier=environ.get("LS_CONTEXT_CLASSIFIER") or None,
            basic_auth_user=environ.get("BASIC_AUTH_USER") or None,
            basic_auth_pass=environ.get("BASIC_AUTH_PASS") or None,
            max_body_bytes=int(environ.get("LS_CONTEXT_MAX_BODY_BYTES", 5 * 1024 * 1024)),
            db_url=environ.get("LS_CONTEXT_DB") or None,
            webhook_secret=environ.get("LS_CONTEXT_WEBHOOK_SECRET") or None,
            label_studio_url=environ.get("LABEL_STUDIO_URL") or None,
            label_studio_api_key=environ.get("LABEL_STUDIO_API_KEY") or None,
            refit_interval=float(environ.get("LS_CONTEXT_REFIT_INTERVAL", 5)),
            sync_every=float(environ.get("LS_CONTEXT_SYNC_EVERY", 0)),
            redis_url=environ.get("LS_CONTEXT_REDIS_URL") or None,
        )
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)

    def store_url(self) -> str:
        return self.db_url or f"sqlite:///{Path(self.model_dir).resolve() / 'ls-context.sqlite3'}"

    def project_dir(self, project_id: str) -> Path:
        return Path(self.model_dir) / f"project-{project_id}"
