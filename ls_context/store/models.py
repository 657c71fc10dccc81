"""The store's tables: events as received, annotations as last seen, gold, checks, feedback, flags,
write-backs and every version of each project's guidelines. The schema changes only through the
Alembic migrations in `migrations/`.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def now() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Event(Base):
    """One webhook delivery, committed before Label Studio gets its answer; `key` makes a repeat a no-op."""

    __tablename__ = "ls_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    action: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[int | None] = mapped_column(Integer, index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Annotation(Base):
    """An annotation as last seen, from a webhook or from `sync`."""

    __tablename__ = "ls_annotations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer, index=True)
    labeler_id: Mapped[int | None] = mapped_column(Integer, index=True)
    result: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[str | None] = mapped_column(String(40))
    lead_time: Mapped[float | None] = mapped_column(Float)
    cancelled: Mapped[bool] = mapped_column(Boolean, default=False)


class TaskData(Base):
    """A task's data as last seen with an annotation: what the model learns the text from."""

    __tablename__ = "ls_task_data"
    task_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    data: Mapped[dict] = mapped_column(JSON)


class Gold(Base):
    """The expected result of a gold task, with the explanation shown to a labeler who misses it.

    `data` is the task's data as imported: the model learns the gold answer from it, and only from it.
    """

    __tablename__ = "ls_gold"
    task_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    result: Mapped[list] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict | None] = mapped_column(JSON)


class Check(Base):
    """The verdict of one annotation version on one control of a gold task."""

    __tablename__ = "ls_checks"
    __table_args__ = (UniqueConstraint("annotation_id", "updated_at", "control"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer, index=True)
    annotation_id: Mapped[int] = mapped_column(Integer, index=True)
    updated_at: Mapped[str | None] = mapped_column(String(40))
    labeler_id: Mapped[int | None] = mapped_column(Integer, index=True)
    control: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    expected: Mapped[str] = mapped_column(Text, default="")
    given: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Flag(Base):
    """A labeler's doubt: the reason and note of an annotation whose ls_flag is set."""

    __tablename__ = "ls_flags"
    annotation_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer, index=True)
    labeler_id: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    label: Mapped[str] = mapped_column(Text, default="")


class Labeler(Base):
    """A Label Studio user seen as the author of an annotation."""

    __tablename__ = "ls_labelers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(320), default="")


class Writeback(Base):
    """A change to make in Label Studio; kept until delivered, retried with backoff, never dropped silently.

    `status` is pending, delivered, superseded (a newer write-back to the same task carries the same keys)
    or dead (Label Studio refused it for good, or it failed too often: `last_error` says why). A process
    delivering it holds a lease (`lease_owner` until `lease_until`); a killed one delays it no longer.
    """

    __tablename__ = "ls_writebacks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Feedback(Base):
    """What one labeler is told about one version of their answer on a gold task; only they see it."""

    __tablename__ = "ls_feedback"
    __table_args__ = (UniqueConstraint("annotation_id", "updated_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer)
    annotation_id: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[str | None] = mapped_column(String(40))
    labeler_id: Mapped[int | None] = mapped_column(Integer, index=True)
    passed: Mapped[bool | None] = mapped_column(Boolean)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class GuidelinesVersion(Base):
    """One pushed version of a project's guidelines file, kept whole; the newest is in use."""

    __tablename__ = "ls_guidelines"
    __table_args__ = (UniqueConstraint("project_id", "number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    number: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(100))
    digest: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(Text, default="")
    pushed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Key(Base):
    """A secret the server keeps to itself, made once: what signs the labelers' and the lead's links.

    It never leaves the store. The webhook secret and basic auth cannot sign them: open-source Label
    Studio shows every webhook's headers to every user of the organisation.
    """

    __tablename__ = "ls_keys"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class AnswersChanged(Base):
    """A task whose answers changed, with all of them as they now stand: what every server's model learns next.

    Written in the transaction that processed the annotation; each server process learns the rows
    after its model's cursor in id order (through their `Lesson`s), so every process learns the same.
    """

    __tablename__ = "ls_answers_changed"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    task_id: Mapped[int] = mapped_column(Integer)
    answers: Mapped[list] = mapped_column(JSON)  # [{"labeler": id or null, "annotation": id, "result": [...]}], usable ones
    data: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)  # when the webhook arrived


class ModelVersion(Base):
    """One published full fit of a project's model: its file in the model directory, and what it already learned."""

    __tablename__ = "ls_model_versions"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    version: Mapped[str] = mapped_column(String(100))
    config_hash: Mapped[str] = mapped_column(String(32))
    file: Mapped[str] = mapped_column(String(200))
    learned_up_to: Mapped[int] = mapped_column(Integer, default=0)  # the last AnswersChanged id the fit had read
    examples: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Lesson(Base):
    """What one recorded answer teaches one published model, computed once by the project's learner, applied by all."""

    __tablename__ = "ls_lessons"
    answer_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # an AnswersChanged id
    record_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # a ModelVersion id
    lesson: Mapped[dict] = mapped_column(JSON)  # control -> the ChoiceModel lesson


class Lease(Base):
    """Who does one job for a project right now ("fit": the full fit; "learn:<record id>": a version's lessons), until when."""

    __tablename__ = "ls_leases"
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Alert(Base):
    """Something the team should hear about, queued for one alert channel in the transaction that found it.

    The courier sends it alone, or in a digest with the others queued while the channel's last
    message is younger than the digest window. `status` is pending, sent or dead (`last_error` says why).
    """

    __tablename__ = "ls_alerts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), index=True)  # the target's safe name, never its URL
    kind: Mapped[str] = mapped_column(String(32))  # flag, gate, dead_writeback
    project_id: Mapped[int | None] = mapped_column(Integer)
    task_id: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    key: Mapped[str | None] = mapped_column(String(200), index=True)  # what it is about, when it must be told only once
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertChannel(Base):
    """One alert channel's pace: when it last sent, when it may try again after a failure, who sends now."""

    __tablename__ = "ls_alert_channels"
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Notice(Base):
    """What changed in a project's guidelines, told once to one labeler who worked under an older version."""

    __tablename__ = "ls_notices"
    __table_args__ = (UniqueConstraint("project_id", "labeler_id", "guidelines_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer)
    labeler_id: Mapped[int] = mapped_column(Integer, index=True)
    guidelines_number: Mapped[int] = mapped_column(Integer)  # the GuidelinesVersion number it tells about
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)


class Course(Base):
    """A project's onboarding course: the companion Label Studio project whose tasks all have an expected answer.

    The course's tasks are gold of the course project, checked and explained like any gold; the
    project's own gold tasks copied into it (`taught`) are known to the labelers who took it.
    """

    __tablename__ = "ls_courses"
    project_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    course_project_id: Mapped[int] = mapped_column(Integer, unique=True)
    taught: Mapped[list] = mapped_column(JSON, default=list)  # the project's gold task ids shown in the course
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=now)
