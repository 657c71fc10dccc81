"""The store on SQLite and on PostgreSQL: schema creation is repeatable, events are recorded once, secrets never kept."""

import uuid

import pytest
import sqlalchemy
from sqlalchemy import select, text

from ls_context.errors import LSContextError
from ls_context.store import Annotation, Event, Flag, Store

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(POSTGRES)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    except sqlalchemy.exc.OperationalError as error:
        pytest.fail(f"PostgreSQL at 127.0.0.1:5432 (database test) is needed for this test: {error}", pytrace=False)
    yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def test_creating_the_schema_twice_keeps_the_rows(store_url):
    first = Store(store_url)
    with first.session() as session:
        session.add(Annotation(id=7, project_id=1, task_id=3, labeler_id=2, result=[{"from_name": "c"}], updated_at="t1"))
    first.engine.dispose()

    second = Store(store_url)

    with second.session() as session:
        assert session.get(Annotation, 7).result == [{"from_name": "c"}]
    second.engine.dispose()


def test_opening_an_older_store_adds_the_missing_columns_and_keeps_the_rows(store_url):
    old = Store(store_url)
    with old.engine.begin() as connection:  # a store from a version before flags had a note and a label
        connection.execute(text("DROP TABLE ls_flags"))
        connection.execute(text("CREATE TABLE ls_flags (annotation_id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL, "
                                "task_id INTEGER NOT NULL, labeler_id INTEGER, reason VARCHAR(200) NOT NULL)"))
        connection.execute(text("INSERT INTO ls_flags VALUES (5, 1, 3, 2, 'Unsure')"))
    old.engine.dispose()

    upgraded = Store(store_url)
    with upgraded.session() as session:
        kept = session.get(Flag, 5)
        assert (kept.reason, kept.note, kept.label) == ("Unsure", "", "")
        session.add(Flag(annotation_id=6, project_id=1, task_id=4, reason="Guideline unclear", note="which rule wins?"))
    upgraded.engine.dispose()
    again = Store(store_url)  # a second start changes nothing
    with again.reading() as session:
        assert session.get(Flag, 6).note == "which rule wins?"
    again.engine.dispose()


def test_a_column_that_cannot_be_added_safely_is_a_clear_error(store_url):
    old = Store(store_url)
    with old.engine.begin() as connection:
        connection.execute(text("DROP TABLE ls_labelers"))
        connection.execute(text("CREATE TABLE ls_labelers (email VARCHAR(320))"))
    old.engine.dispose()

    with pytest.raises(LSContextError, match="ls_labelers lacks column id"):
        Store(store_url)


def test_an_event_is_recorded_once_per_key_and_without_secrets(store_url):
    store = Store(store_url)
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": 1, "token": "s3cret", "task_data_password": "p"},
               "annotation": {"id": 5, "result": []}}

    first = store.record_event("ANNOTATION_CREATED:5:t1", "ANNOTATION_CREATED", 1, payload)
    again = store.record_event("ANNOTATION_CREATED:5:t1", "ANNOTATION_CREATED", 1, payload)

    assert first is not None and again is None
    with store.session() as session:
        [row] = session.scalars(select(Event)).all()
    assert row.payload["project"] == {"id": 1}
    assert "s3cret" not in str(row.payload)
    assert [event.id for event in store.pending_events()] == [first]
    store.engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")

    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_an_unusable_url_is_a_clear_error_without_the_password():
    with pytest.raises(LSContextError) as raised:
        Store("postgresql+psycopg://me:hunter2@127.0.0.1:1/nowhere")

    assert "cannot open the store" in str(raised.value) and "hunter2" not in str(raised.value)
