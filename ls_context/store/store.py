"""The durable store: one per app or command, never a module global.

A SQLite file by default (WAL, so readers never block the webhook's writer), PostgreSQL by URL.
The schema is created and changed only by `upgrade()` (Alembic), under a lock, so two processes
starting together never race on it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import threading
import weakref
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy import create_engine, event, func, inspect, select, text, update
from sqlalchemy.exc import IntegrityError

from ls_context.errors import LSContextError, first_line

from .models import Event, Key

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
FIRST_REVISION = "0001"
# PostgreSQL advisory lock key for migrations: "ls-ctx" in ASCII.
MIGRATION_LOCK = 0x6C732D637478
# Every PostgreSQL session ends a transaction left idle (a process frozen or killed mid-way, or a forked child
# holding its parent's connection) and gives up on a lock or a statement, so no process can hold the others up for long.
POSTGRES_LIMITS = {"idle_in_transaction_session_timeout": 30_000, "lock_timeout": 10_000, "statement_timeout": 60_000}
# Keys of Label Studio's project object that carry secrets; they are never stored or logged.
SECRET_KEYS = {"token", "task_data_password", "access_token", "password"}


class StoreError(LSContextError):
    """The store cannot be reached, or its schema is not the one this version needs."""


class Store:
    """The database behind ls-context: sessions for writing and reading, and the schema's upgrade."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = create_engine(url, pool_pre_ping=True, connect_args=_connect_args(url))
        except Exception as error:  # a malformed URL or a missing driver
            raise StoreError(f"cannot use the store at {safe_url(url)}: {error}") from None
        self.writers = nullcontext()
        self.batch_size = 25  # events processed per transaction
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # SQLite has one writer at a time, and a writer that finds the lock taken sleeps in steps of
            # up to 100 ms before it tries again. Threads of this process queue on a lock instead, and
            # processing holds it for small batches, so a webhook waits milliseconds, not a busy sleep.
            self.writers = threading.RLock()
            self.batch_size = 5
        from sqlalchemy.orm import sessionmaker

        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        _forget_connections_in_forked_children(self)

    def where(self) -> str:
        return safe_url(self.url)

    # -- schema ---------------------------------------------------------------------------------

    def revision(self) -> tuple[str | None, str]:
        """(the store's schema revision or None when empty, the revision this version needs)."""
        from alembic.migration import MigrationContext

        with self._connected() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and inspect(connection).has_table("ls_events"):
                current = "unversioned"
        return current, _scripts().get_current_head()

    def upgrade(self) -> list[str]:
        """Bring the schema to this version's revision, under a lock; the revisions applied ([] when current)."""
        database = self.engine.url.database
        if self.engine.dialect.name == "sqlite" and database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)  # a first start creates the store where configured
        current, head = self.revision()
        if current == head:
            return []
        with self._migration_lock(), self._connected() as connection, connection.begin():
            from alembic import command
            from alembic.migration import MigrationContext

            _patient(connection)
            config = _alembic_config(connection)
            current = MigrationContext.configure(connection).get_current_revision()
            if current is None and inspect(connection).has_table("ls_events"):
                # A store made before migrations existed has exactly the first revision's tables.
                command.stamp(config, FIRST_REVISION)
                current = FIRST_REVISION
            applied = _scripts().iterate_revisions(head, current)
            names = [f"{script.revision} {script.doc}" for script in reversed(list(applied))]
            command.upgrade(config, "head")
        for name in names:
            log.info("store %s upgraded: %s", self.where(), name)
        return names

    def file_missing(self) -> bool:
        """A SQLite store whose file does not exist yet (asking anything more would create it)."""
        database = self.engine.url.database
        return self.engine.dialect.name == "sqlite" and bool(database) and database != ":memory:" and not Path(database).exists()

    def require_existing(self) -> None:
        """Refuse a store that was never created: the configuration most likely points elsewhere than the server's."""
        if self.file_missing() or self.revision()[0] is None:
            raise StoreError(f"no store at {self.where()}: is this the server's configuration? Set LS_CONTEXT_CONFIG "
                             "(or LS_CONTEXT_DB / MODEL_DIR) as the server has it; `ls-context config show` says what is used")

    def require_current(self) -> None:
        """Refuse to run on a schema of another version: the message says what to run."""
        current, head = self.revision()
        if current != head:
            state = "empty" if current is None else f"at revision {current}"
            raise StoreError(f"the store at {self.where()} is {state}; this version needs {head}: "
                             "run `ls-context db upgrade` once")

    @contextmanager
    def _connected(self):
        try:
            connection = self.engine.connect()
        except Exception as error:
            raise StoreError(f"cannot open the store at {self.where()}: {type(error).__name__}: {first_line(error)}") from None
        try:
            yield connection
        finally:
            connection.close()

    @contextmanager
    def _migration_lock(self):
        """One migrating process at a time: an advisory lock on PostgreSQL, a file lock beside a SQLite file."""
        if self.engine.dialect.name == "postgresql":
            with self._connected() as connection:
                _patient(connection)
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                    connection.commit()
            return
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.migrate-lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- sessions -------------------------------------------------------------------------------

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

    def key(self, name: str) -> str:
        """The server's secret called `name`, made on first use; every process sharing the store gets the same."""
        with self.reading() as session:
            known = session.get(Key, name)
        if known is not None:
            return known.value
        try:
            with self.session() as session:
                session.add(Key(name=name, value=secrets.token_urlsafe(32)))
        except IntegrityError:
            pass  # another process made it first: theirs is the one
        with self.reading() as session:
            return session.get(Key, name).value

    def unprocessed(self) -> int:
        """How many recorded events still wait for processing (or are being processed)."""
        with self.reading() as session:
            return session.scalar(select(func.count()).select_from(Event).where(Event.status.in_(("pending", "processing"))))

    def claim_events(self, session, limit: int) -> list[Event]:
        """Take up to `limit` pending events for this transaction; events another process holds are skipped.

        The claim lasts as long as the transaction: a process that dies gives its events back at once
        (or, on PostgreSQL, when its session is cut for idling in a transaction: 30 s at most).
        """
        if self.engine.dialect.name == "postgresql":
            events = list(session.scalars(select(Event).where(Event.status == "pending").order_by(Event.id)
                                          .limit(limit).with_for_update(skip_locked=True)))
            ids = [event.id for event in events]
        else:
            # SQLite has one writer at a time: read outside the write lock, then claim what is still pending.
            with self.reading() as reading:
                candidates = list(reading.scalars(select(Event.id).where(Event.status == "pending").order_by(Event.id).limit(limit)))
            if not candidates:
                return []
            ids = session.execute(update(Event).where(Event.id.in_(candidates), Event.status == "pending")
                                  .values(status="processing").returning(Event.id)).scalars().all()
            events = list(session.scalars(select(Event).where(Event.id.in_(ids)).order_by(Event.id)))
        return events


def _scripts():
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS))


def _alembic_config(connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def without_secrets(value):
    """A copy of a payload with every secret-bearing key removed, at any depth."""
    if isinstance(value, dict):
        return {k: without_secrets(v) for k, v in value.items() if k not in SECRET_KEYS}
    if isinstance(value, list):
        return [without_secrets(v) for v in value]
    return value


def _connect_args(url: str) -> dict:
    """PostgreSQL's session limits, added to the `options` a URL may already carry (a search_path, say)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    given = parsed.query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    limits = " ".join(f"-c {name}={value}" for name, value in POSTGRES_LIMITS.items())
    return {"options": f"{given} {limits}".strip()}


def _patient(connection) -> None:
    """Lift the session limits for this transaction: a migration may wait for running servers and take long."""
    if connection.dialect.name == "postgresql":
        for name in POSTGRES_LIMITS:
            connection.execute(text(f"SET LOCAL {name} = 0"))


def _forget_connections_in_forked_children(store: "Store") -> None:
    """A forked child (RQ's scheduler, gunicorn's workers) opens its own connections, never its parent's.

    Two processes on one connection interleave their statements; a child outliving a killed parent
    would keep the parent's transaction, and its row locks, open.
    """
    reference = weakref.ref(store)

    def forget() -> None:
        alive = reference()
        if alive is not None:
            alive.engine.dispose(close=False)

    os.register_at_fork(after_in_child=forget)


def _sqlite_pragmas(connection, _record) -> None:
    cursor = connection.cursor()
    _into_wal(cursor)
    cursor.execute("PRAGMA synchronous=FULL")  # an acknowledged event survives a power cut, not only a crash
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _into_wal(cursor, attempts: int = 100) -> None:
    """Switch to write-ahead logging, waiting for another process doing the same on a new file.

    SQLite answers "database is locked" at once, without its busy timeout, when two connections
    switch one file at the same moment (it avoids a deadlock by failing one); seen when two
    processes create one store together.
    """
    import sqlite3
    import time

    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.02)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"

