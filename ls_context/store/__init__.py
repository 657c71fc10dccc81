"""The store: tables (`models`), the database and its schema upgrades (`store`), and Alembic migrations."""

from .models import (
    Alert, AlertChannel, Annotation, AnswersChanged, Base, Check, Course, Event, Feedback, Flag, Gold, GuidelinesVersion, Key, Labeler, Lease,
    Lesson, ModelVersion, Notice, TaskData, Writeback, now,
)
from .store import SECRET_KEYS, Store, StoreError, safe_url, without_secrets

__all__ = [
    "Alert", "AlertChannel", "Annotation", "AnswersChanged", "Base", "Check", "Course", "Event", "Feedback", "Flag", "Gold", "GuidelinesVersion",
    "Key", "Labeler", "Lease", "Lesson", "ModelVersion", "Notice", "TaskData", "Writeback", "now", "SECRET_KEYS", "Store", "StoreError", "safe_url", "without_secrets",
]
