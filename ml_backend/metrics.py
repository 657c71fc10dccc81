"""Counters a lead or an operator reads at /metrics: requests, predictions, refits."""

from __future__ import annotations

import threading
from collections import Counter


class Metrics:
    def __init__(self):
        self._counts: Counter = Counter()
        self._predict_seconds = 0.0
        self._lock = threading.Lock()

    def count(self, name: str, amount: int = 1) -> int:
        """Add to a counter; its new value."""
        with self._lock:
            self._counts[name] += amount
            return self._counts[name]

    def predicted(self, tasks: int, predictions: int, seconds: float) -> None:
        with self._lock:
            self._counts["predict_requests"] += 1
            self._counts["tasks"] += tasks
            self._counts["predictions"] += predictions
            self._counts["tasks_without_prediction"] += tasks - predictions
            self._predict_seconds += seconds

    def snapshot(self) -> dict:
        with self._lock:
            requests = self._counts["predict_requests"]
            mean_ms = 1000 * self._predict_seconds / requests if requests else 0.0
            return {**self._counts, "predict_mean_ms": round(mean_ms, 3)}
