"""The durable store: events as received, annotations as last seen, gold, checks, flags, write-backs.

A SQLite file by default (WAL, so readers never block the webhook's writer), PostgreSQL by URL.
Creating the schema is automatic and safe to run any number of times.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone

from sqlalchemy import (
    JSON, Boolean, DateTime, Float, Integer, String, Text, UniqueConstraint, create_engine, event, select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from .errors import LSContextError

log = logging.getLogger(__name__)

# Keys of Label Studio's project object that carry secrets; they are never stored or logged.
SECRET_KEYS = {"token", "task_data_password", "access_token", "password"}


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
    """The expected result of a gold task, with the explanation shown to a labeler who misses it."""

    __tablename__ = "ls_gold"
    task_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(Integer, index=True)
    result: Mapped[list] = mapped_column(JSON)
    explanation: Mapped[str] = mapped_column(Text, default="")


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
    __tablename__ = "ls_labelers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    email: Mapped[str] = mapped_column(String(320), default="")


class Writeback(Base):
    """A change to make in Label Studio; kept until delivered, retried with backoff, never dropped."""

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


class Store:
    """The database behind ls-context; one per app or command, never a module global."""

    def __init__(self, url: str = "sqlite:///ls-context.sqlite3"):
        try:
            self.engine = create_engine(url, pool_pre_ping=True)
        except Exception as error:  # a malformed URL or a missing driver
            raise LSContextError(f"cannot use the store at {_safe(url)}: {error}") from None
        self.writers = nullcontext()
        self.batch_size = 25  # events processed per transaction
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in steps of
            # up to 100 ms before it tries again. Threads of this process queue on a lock instead, and
            # processing holds it for small batches, so a webhook waits milliseconds, not a busy sleep.
            self.writers = threading.RLock()
            self.batch_size = 5
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.create()

    def create(self) -> None:
        """Create missing tables and add columns a newer version brought; existing rows are left alone."""
        try:
            Base.metadata.create_all(self.engine)
            added = _add_missing_columns(self.engine)
        except LSContextError:
            raise
        except Exception as error:
            raise LSContextError(f"cannot open the store at {_safe(str(self.engine.url))}: {error}") from None
        for name in added:
            log.info("store upgraded: column %s added", name)

    @contextmanager
    def session(self):
        """A transaction that may write (on SQLite, one at a time in this process)."""
        with self.writers, self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self):
        """A read-only transaction: never waits for writers (WAL on SQLite), never holds them up."""
        with self.sessions() as session, session.begin():
            yield session

    def record_event(self, key: str, action: str, project_id: int | None, payload: dict) -> int | None:
        """Commit an event; its id, or None when an event with this key was already recorded."""
        try:
            with self.session() as session:
                row = Event(key=key, action=action, project_id=project_id, payload=without_secrets(payload))
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            return None

    def pending_events(self, limit: int = 100) -> list[Event]:
        with self.reading() as session:
            return list(session.scalars(select(Event).where(Event.status == "pending").order_by(Event.id).limit(limit)))


def _add_missing_columns(engine) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for every column of the models that an existing table lacks.

    A new column must be nullable or have a constant default, so that existing rows get a value;
    anything else (a renamed or retyped column) is refused with a clear error, never guessed.
    """
    from sqlalchemy import inspect, literal, text

    inspector = inspect(engine)
    added = []
    for table in Base.metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            default = column.default.arg if column.default is not None and column.default.is_scalar else None
            if default is None and not column.nullable:
                raise LSContextError(f"the store's table {table.name} lacks column {column.name}, which has no default: "
                                     "upgrade it by hand (see the release notes)")
            clause = f"{column.type.compile(dialect=engine.dialect)}"
            if default is not None:
                clause += " DEFAULT " + str(literal(default).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
            with engine.begin() as connection:
                connection.execute(text(f'ALTER TABLE {table.name} ADD COLUMN {column.name} {clause}'))
            added.append(f"{table.name}.{column.name}")
    return added


def without_secrets(value):
    """A copy of a payload with every secret-bearing key removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut, not only a crash
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _safe(url: str) -> str:
    """The URL without its password, for error messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"

