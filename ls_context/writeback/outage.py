"""Saying that a service is away once when it goes and once when it is back, and waiting between tries."""

from __future__ import annotations

import logging
import random
import time

from ls_context.errors import first_line

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 10.0


class Outage:
    """Reports an outage of `what` once when it starts and once when it ends, not once per failed call."""

    def __init__(self, what: str, traceback: bool = False):
        self.what = what
        self.traceback = traceback  # the first failure's traceback too: for failures that may be bugs
        self.since: float | None = None

    def failed(self, error: Exception) -> None:
        if self.since is None:
            self.since = time.monotonic()
            log.warning("%s failing (%s: %s); trying again until it works", self.what, type(error).__name__,
                        first_line(error), exc_info=error if self.traceback else None)

    def ok(self) -> bool:
        """Record a success; True when it ends an outage."""
        if self.since is None:
            return False
        log.warning("%s back after %.1f s", self.what, time.monotonic() - self.since)
        self.since = None
        return True


def backoff(attempt: int) -> float:
    """Seconds to wait before trying again: doubling up to 10 s, with jitter so that processes spread out."""
    return min(0.25 * 2 ** attempt, MAX_BACKOFF_S) * random.uniform(0.5, 1.0)
