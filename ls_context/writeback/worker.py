"""The background worker: processes recorded events and delivers write-backs, after the webhook answered.

By default a thread of the server process; with a Redis URL, RQ workers run `run_once` instead.
"""

from __future__ import annotations

import logging
import threading
import time

from ls_context.writeback.delivery import deliver_due
from ls_context.checks.processor import Processor
from ls_context.store import Store

log = logging.getLogger(__name__)


class Worker:
    """Wakes when an event arrives (or every `interval` seconds, for retries) and does what is due.

    With `sync_every`, it also reads the annotations of every known project back from Label Studio
    now and then, so that webhooks lost while the server was down are recovered without a command.
    """

    def __init__(self, store: Store, processor: Processor, client_factory, interval: float = 1.0, sync_every: float = 0.0):
        self.store, self.processor, self.client_factory = store, processor, client_factory
        self.interval = interval
        self.sync_every = sync_every  # seconds between two `sync` passes over known projects; 0 = never
        self._last_sync = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client = None
        self._client_made = False

    def start(self) -> "Worker":
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._loop, name="ls-context-worker", daemon=True)
            self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                if self.sync_every and time.monotonic() - self._last_sync >= self.sync_every:
                    self._last_sync = time.monotonic()
                    self.sync_known_projects()
                self.run_once()
            except Exception:  # the loop must outlive any single failure
                log.exception("worker round failed")

    def run_once(self) -> tuple[int, int, int]:
        # Small batches: on SQLite a batch holds the write lock, and webhooks must not wait for it long.
        processed = batch = self.processor.run_pending()
        while batch and not self._stop.is_set():
            batch = self.processor.run_pending()
            processed += batch
        client = self.client()
        delivered, failed = deliver_due(self.store, client) if client is not None else (0, 0)
        return processed, delivered, failed

    def sync_known_projects(self) -> int:
        """Recover lost webhooks of every project the store has heard of; how many were new."""
        from sqlalchemy import select

        from ls_context.store import Annotation
        from ls_context.intake.sync import sync_project

        client = self.client()
        if client is None:
            return 0
        with self.store.reading() as session:
            projects = [p for p in session.scalars(select(Annotation.project_id).distinct()) if p is not None]
        recovered = sum(sync_project(client, self.store, project).recovered for project in projects)
        if recovered:
            log.info("sync recovered %d annotation version(s) the webhooks missed", recovered)
        return recovered

    def client(self):
        if not self._client_made:
            self._client, self._client_made = self.client_factory(), True
        return self._client
