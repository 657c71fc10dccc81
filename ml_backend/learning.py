"""What the model learns from: the annotations in the store, refitted by a background trainer.

Annotations arrive with Label Studio's webhooks, are recorded and processed into the store after
the answer, and the model is refitted later by one background thread, never inside the request
that Label Studio gives one second. Annotations flagged as unsure are never used as training truth.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from ls_context.checks.processor import flag_of

from .context_model import Example

log = logging.getLogger(__name__)


def examples_from_store(store, project_id: int, field_by_control: dict[str, str]) -> dict[str, list[Example]]:
    """Training examples per control from the annotations the store holds; flagged and cancelled ones left out."""
    from sqlalchemy import select

    from ls_context.store import Annotation, Gold

    found: dict[str, list[Example]] = {name: [] for name in field_by_control}
    with store.reading() as session:
        rows = session.execute(
            select(Annotation.result, Annotation.cancelled, Annotation.task_id).where(Annotation.project_id == project_id)
        ).all()
        gold_tasks = set(session.scalars(select(Gold.task_id).where(Gold.project_id == project_id)))
        data = _task_data(session, project_id)
    for result, cancelled, task_id in rows:
        if cancelled or flag_of(result)[0] is not None:
            continue
        for item in result:
            name = item.get("from_name")
            text = data.get(task_id, {}).get(field_by_control.get(name, ""))
            labels = (item.get("value") or {}).get("choices")
            if name in found and isinstance(text, str) and labels:
                found[name].append(Example(text, tuple(labels), "gold" if task_id in gold_tasks else "annotation"))
    return found


def _task_data(session, project_id: int) -> dict[int, dict]:
    """Task data as last seen in the recorded events (the store keeps no separate task table)."""
    from sqlalchemy import select

    from ls_context.store import TaskData

    return dict(session.execute(select(TaskData.task_id, TaskData.data).where(TaskData.project_id == project_id)).all())


class Trainer:
    """One background thread that refits projects' models, each project at most once per queue pass."""

    def __init__(self, retrain, min_interval: float = 0.0):
        self._retrain = retrain
        self.min_interval = min_interval  # seconds between two refits of one project, to bound CPU under load
        self._last: dict[str, float] = {}
        self._queue: queue.Queue = queue.Queue()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._busy = False

    def schedule(self, project_id: str) -> bool:
        """Ask for a refit; False when one is already waiting (it will see the new annotations)."""
        with self._lock:
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
                self._busy = True
            wait = self._last.get(project_id, -1e9) + self.min_interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)  # annotations arriving meanwhile join this refit
            self._last[project_id] = time.monotonic()
            try:
                self._retrain(project_id)
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
