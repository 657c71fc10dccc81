"""What the model learns from: labelers' annotations as last seen, and a background trainer.

Annotations arrive with Label Studio's webhooks; they are written down at once (cheap) and the
model is refitted later by one background thread, never inside the request that Label Studio
gives one second. Annotations flagged as unsure are kept but never used as training truth.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from pathlib import Path

from ls_context.label_config import FLAG

from .context_model import Example

log = logging.getLogger(__name__)


class AnnotationMemory:
    """The annotations of one project, by annotation id, kept in a JSON file that is replaced atomically."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._annotations: dict[str, dict] | None = None

    def _load(self) -> dict[str, dict]:
        if self._annotations is None:
            try:
                self._annotations = json.loads(self.path.read_text())
            except FileNotFoundError:
                self._annotations = {}
        return self._annotations

    def remember(self, annotation: dict, task: dict) -> bool:
        """Store or replace one annotation; False when this exact version was already known."""
        key = str(annotation["id"])
        record = {
            "task": task.get("id"), "data": task.get("data") or {}, "result": annotation.get("result") or [],
            "updated_at": annotation.get("updated_at"), "cancelled": bool(annotation.get("was_cancelled")),
        }
        with self._lock:
            annotations = self._load()
            if annotations.get(key) == record:
                return False
            annotations[key] = record
            self._write(annotations)
        return True

    def forget(self, annotation_id) -> None:
        with self._lock:
            annotations = self._load()
            if annotations.pop(str(annotation_id), None) is not None:
                self._write(annotations)

    def _write(self, annotations: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(annotations))
        os.replace(temporary, self.path)

    def examples(self, field_by_control: dict[str, str]) -> dict[str, list[Example]]:
        """Training examples per control; flagged and cancelled annotations are left out."""
        with self._lock:
            records = list(self._load().values())
        found: dict[str, list[Example]] = {name: [] for name in field_by_control}
        for record in records:
            if record["cancelled"] or is_flagged(record["result"]):
                continue
            for item in record["result"]:
                name = item.get("from_name")
                text = record["data"].get(field_by_control.get(name, ""), None)
                labels = (item.get("value") or {}).get("choices")
                if name in found and isinstance(text, str) and labels:
                    found[name].append(Example(text, tuple(labels), "annotation"))
        return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._load())


def is_flagged(result: list[dict]) -> bool:
    return any(item.get("from_name") == FLAG and (item.get("value") or {}).get("choices") for item in result)


class Trainer:
    """One background thread that refits projects' models, each project at most once per queue pass."""

    def __init__(self, retrain):
        self._retrain = retrain
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
