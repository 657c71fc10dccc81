"""The store on SQLite and on PostgreSQL: schema creation is repeatable, events are recorded once, secrets never kept."""

import uuid

import pytest
import sqlalchemy
from sqlalchemy import select, text

from ls_context.errors import LSContextError
from ls_context.store import Annotation, Event, Store

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
