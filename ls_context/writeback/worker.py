"""The background worker: processes recorded events, and apart from that, talks to Label Studio.

Two threads, so that a slow or unreachable Label Studio never holds up event processing:
- processing turns recorded events into checks, feedback and flags (only the store is involved);
- the courier delivers write-backs through a small pool, with short timeouts and no hidden retries,
  and runs the periodic `sync` that recovers lost webhooks.
By default both run in the server process; with a Redis URL, in each `ls-context worker`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ls_context.alerts import deliver_alerts
from ls_context.checks.processor import Processor
from ls_context.store import Store
from ls_context.writeback.delivery import claim_due, deliver, new_owner
from ls_context.writeback.outage import Outage

log = logging.getLogger(__name__)


class Worker:
    """Wakes when an event arrives (or every `interval` seconds, for what a wake-up missed) and does what is due.

    `pool` write-backs are delivered at once. With `sync_every`, the courier also reads the annotations
    of every known project back from Label Studio now and then.
    """

    def __init__(self, store: Store, processor: Processor, client_factory, interval: float = 1.0,
                 sync_every: float = 0.0, pool: int = 4, alerts=None):
        self.store, self.processor, self.client_factory = store, processor, client_factory
        self.interval = interval
        self.sync_every = sync_every  # seconds between two `sync` passes over known projects; 0 = never
        self.pool = pool
        self.alerts = alerts  # AlertSettings: the courier sends queued alerts too
        self.owner = new_owner()
        self._last_sync = time.monotonic()
        self._wake = threading.Event()
        self._courier_wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._client = None
        self._client_made = False

    @property
    def _thread(self):
        """The processing thread, once started."""
        return self._threads[0] if self._threads else None

    def start(self) -> "Worker":
        if not self._threads or not all(thread.is_alive() for thread in self._threads):
            self._threads = [
                threading.Thread(target=self._loop, args=(self._wake, self.process), name="ls-context-processing", daemon=True),
                threading.Thread(target=self._loop, args=(self._courier_wake, self.courier_round), name="ls-context-courier",
                                 daemon=True),
            ]
            for thread in self._threads:
                thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._courier_wake.set()
        for thread in self._threads:
            thread.join(10)

    def _loop(self, wake: threading.Event, work) -> None:
        outage = Outage(threading.current_thread().name.removeprefix("ls-context-"), traceback=True)
        while not self._stop.is_set():
            wake.wait(self.interval)
            wake.clear()
            try:
                work()
            except Exception as error:  # the loop outlives any failure: the store or Label Studio away, a bad row
                outage.failed(error)
            else:
                outage.ok()

    def process(self) -> int:
        """Process every pending event, in small batches (on SQLite a batch holds the write lock)."""
        processed = batch = self.processor.run_pending()
        while batch and not self._stop.is_set():
            batch = self.processor.run_pending()
            processed += batch
        if processed:
            self._courier_wake.set()  # flags may have queued write-backs
        return processed

    def courier_round(self) -> tuple[int, int]:
        """Sync if it is time, deliver the write-backs that are due, `pool` at a time, then the alerts; (delivered, failed)."""
        if self.sync_every and time.monotonic() - self._last_sync >= self.sync_every:
            self._last_sync = time.monotonic()
            self.sync_known_projects()
        try:
            return self.deliver()
        finally:
            self.send_alerts()

    def send_alerts(self) -> tuple[int, int]:
        """Send the alerts that are due on every channel (Label Studio plays no part); (messages sent, failed)."""
        if not (self.alerts and self.alerts.targets):
            return 0, 0
        return deliver_alerts(self.store, self.alerts, self.owner)

    def deliver(self) -> tuple[int, int]:
        """Deliver every due write-back; (delivered, failed)."""
        client = self.client()
        if client is None:
            return 0, 0
        delivered = failed = 0
        with ThreadPoolExecutor(self.pool, thread_name_prefix="ls-context-delivery") as executor:
            while not self._stop.is_set():
                claimed = claim_due(self.store, self.owner, self.pool)
                if not claimed:
                    break
                outcomes = list(executor.map(lambda w: deliver(self.store, client, w, self.owner, self.alerts), claimed))
                delivered += outcomes.count("delivered")
                failed += len(outcomes) - outcomes.count("delivered")
                if failed:
                    break  # Label Studio is in trouble: the rest waits for its own retry time
        return delivered, failed

    def run_once(self) -> tuple[int, int, int]:
        """Process and deliver now, in the caller's thread (tests, the demo, a job); (processed, delivered, failed)."""
        processed = self.process()
        delivered, failed = self.deliver()
        return processed, delivered, failed

    def sync_known_projects(self) -> int:
        """Recover lost webhooks of every project the store has heard of; how many were new."""
        from sqlalchemy import select

        from ls_context.intake.sync import sync_project
        from ls_context.store import Annotation

        client = self.client()
        if client is None:
            return 0
        with self.store.reading() as session:
            projects = [p for p in session.scalars(select(Annotation.project_id).distinct()) if p is not None]
        recovered = sum(sync_project(client, self.store, project).recovered for project in projects)
        if recovered:
            log.info("sync recovered %d annotation version(s) the webhooks missed", recovered)
            self._wake.set()
        return recovered

    def client(self):
        if not self._client_made:
            self._client, self._client_made = self.client_factory(), True
        return self._client
