"""The composition root: the one place that builds what the server, the worker and the commands share.

Store (schema upgraded under a lock, or checked), guidelines book, event processor, the in-process
worker and, with a Redis URL, the RQ queue. The model server adds its model registry on top;
nothing here knows about models.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from .alerts import AlertSettings
from .checks.processor import Processor
from .config import Config
from .guidelines.book import GuidelinesBook
from .labelstudio.gateway import Gateway
from .store import Store
from .writeback.worker import Worker

log = logging.getLogger(__name__)


@dataclass
class Services:
    config: Config
    store: Store
    guidelines: GuidelinesBook
    processor: Processor
    worker: Worker
    queue: object = None  # writeback.jobs.EventQueue when RQ workers process the events
    alerts: AlertSettings = field(default_factory=AlertSettings)  # the team's channels, and when they hear

    def studio(self, retries: int = 2) -> Gateway:
        """Label Studio through the configured URL and key; a clear error when they are not set."""
        return Gateway.from_config(self.config, retries=retries)

    def close(self) -> None:
        self.worker.stop()
        if self.queue is not None:
            self.queue.close()
        self.store.engine.dispose()


def build(config: Config, learned=None, migrate: bool = True, existing: bool = False) -> Services:
    """Everything but the models. `learned(project_id)` is told when a project's annotations changed.

    `migrate=False` only checks the schema (gunicorn's workers: the schema is `ls-context db upgrade`'s job);
    `existing=True` (commands that only read) also refuses to create a store that is not there, since
    an empty one would answer "nothing" where the server's store has the answer.
    """
    store = Store(config.store_url())
    if existing:
        store.require_existing()
    if migrate and not existing:
        if not config.db:
            Path(config.model_dir).mkdir(parents=True, exist_ok=True)
        store.upgrade()
    else:
        store.require_current()
    book = GuidelinesBook(store, config.guidelines)
    if config.guidelines:
        book.latest(0)  # a broken default file is refused now, not at the first prediction
    queue = None
    if config.redis_url:
        from .writeback.jobs import EventQueue

        queue = EventQueue(config.redis_url)
    if learned is None:
        learned = queue.publish_learned if queue is not None else (lambda project_id: None)
    alerts = AlertSettings.from_config(config)
    processor = Processor(store, book.latest, learned, alerts)
    worker = Worker(store, processor, lambda: _studio_or_none(config), config.worker_interval, config.sync_every, alerts=alerts)
    return Services(config, store, book, processor, worker, queue, alerts)


def _studio_or_none(config: Config) -> Gateway | None:
    """The gateway write-backs go through (no hidden SDK retries: the outbox retries), or None when unset."""
    if not (config.label_studio_url and config.label_studio_api_key):
        log.warning("LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY not set: flags wait in the store until they are")
        return None
    return Gateway.from_config(config, retries=0, timeout=5)
