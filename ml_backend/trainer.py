"""The trainer: one background thread that refits projects' models after their annotations changed.

Never inside a request: Label Studio gives a webhook one second, and a refit can take many.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

log = logging.getLogger(__name__)


class Trainer:
    """One background thread that refits projects' models, each project at most once per queue pass."""

    def __init__(self, retrain, min_interval: float = 0.0):
        self._retrain = retrain
        self.min_interval = min_interval  # seconds between two refits of one project, to bound CPU under load
        self._last: dict[str, float] = {}
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[str] = set()
        self._forced: set[str] = set()  # asked for a full fit whether or not one is due ("Start training")
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = False

    def schedule(self, project_id: str, force: bool = False) -> bool:
        """Ask for a refit; False when one is already waiting (it will see the new annotations)."""
        with self._lock:
            if force:
                self._forced.add(project_id)
            if project_id in self._pending:
                return False
            self._pending.add(project_id)
            self._queue.put(project_id)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ls-context-trainer", daemon=True)
                self._thread.start()
        return True

    def _run(self) -> None:
        while True:
            project_id = self._queue.get()
            with self._lock:
                self._pending.discard(project_id)
                forced = project_id in self._forced
                self._forced.discard(project_id)
                self._busy = True
            wait = self._last.get(project_id, -1e9) + self.min_interval - time.monotonic()
            if wait > 0 and not forced:  # "Start training" is a person asking: now, not in a few seconds
                time.sleep(wait)  # annotations arriving meanwhile join this refit
            self._last[project_id] = time.monotonic()
            try:
                self._retrain(project_id, forced)
            except Exception:  # a failed refit keeps the previous model serving
                log.exception("refitting project %s failed; the previous model stays in use", project_id)
            finally:
                with self._lock:
                    self._busy = False
                self._queue.task_done()

    def wait_idle(self, timeout: float = 30) -> bool:
        """Block until nothing is queued or running (for tests and orderly shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._pending and not self._busy and self._queue.empty():
                    return True
            time.sleep(0.02)
        return False
