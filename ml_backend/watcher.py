"""The watcher: one background thread per server process that keeps its models current.

Every `interval` seconds, or at once when poked (this process processed an annotation, or Redis
said another did), it loads model versions other processes published and learns the answers
recorded since (`ModelRegistry.sync_all`). Reading the store costs a query per served project.
"""

from __future__ import annotations

import logging
import threading

from ls_context.errors import first_line

log = logging.getLogger(__name__)


class Watcher:
    def __init__(self, models, interval: float = 0.5):
        self.models = models
        self.interval = interval
        self._poked = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def poke(self) -> None:
        """Look now (starting the thread on first use, so a process that serves nothing runs nothing)."""
        self.start()
        self._poked.set()

    def start(self) -> "Watcher":
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopped.clear()
                self._thread = threading.Thread(target=self._run, name="ls-context-watcher", daemon=True)
                self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._poked.set()

    def _run(self) -> None:
        failing = None
        while not self._stopped.is_set():
            self._poked.wait(self.interval)
            self._poked.clear()
            if self._stopped.is_set():
                return
            try:
                self.models.sync_all()
                failing = None
            except Exception as error:  # the store away for a moment: the next look tries again
                if failing != type(error):  # once per outage, not every poll
                    log.warning("keeping models current failed (%s: %s); trying again every %.1f s", type(error).__name__,
                                first_line(error), self.interval)
                failing = type(error)
