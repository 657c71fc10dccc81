"""The store: tables (`models`), the database and its schema upgrades (`store`), and Alembic migrations."""

from .models import (
    Annotation, AnswersChanged, Base, Check, Event, Feedback, Flag, Gold, GuidelinesVersion, Key, Labeler, Lease,
    Lesson, ModelVersion, TaskData, Writeback, now,
)
from .store import SECRET_KEYS, Store, StoreError, safe_url, without_secrets

__all__ = [
    "Annotation", "AnswersChanged", "Base", "Check", "Event", "Feedback", "Flag", "Gold", "GuidelinesVersion",
    "Key", "Labeler", "Lease", "Lesson", "ModelVersion", "TaskData", "Writeback", "now", "SECRET_KEYS", "Store", "StoreError", "safe_url", "without_secrets",
]
