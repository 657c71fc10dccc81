"""The store on SQLite and on PostgreSQL: migrations give the models' schema once, events are recorded once, secrets never kept."""

import pytest
from sqlalchemy import select, text

from ls_context.errors import LSContextError
from harness.postgres import postgres_schema
from ls_context.store import Annotation, Base, Event, Gold, Store



@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with postgres_schema() as url:
        yield url


def opened(url: str) -> Store:
    store = Store(url)
    store.upgrade()
    return store


def test_upgrading_an_empty_store_gives_exactly_the_models_schema(store_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store(store_url)
    assert store.revision()[0] is None
    with pytest.raises(LSContextError, match="run `ls-context db upgrade`"):
        store.require_current()

    applied = store.upgrade()

    assert [name.split()[0] for name in applied] == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
    with store.engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    store.require_current()
    store.engine.dispose()


def test_upgrading_twice_keeps_the_rows_and_changes_nothing(store_url):
    first = opened(store_url)
    with first.session() as session:
        session.add(Annotation(id=7, project_id=1, task_id=3, labeler_id=2, result=[{"from_name": "c"}], updated_at="t1"))
    first.engine.dispose()

    second = Store(store_url)
    assert second.upgrade() == []
    with second.session() as session:
        assert session.get(Annotation, 7).result == [{"from_name": "c"}]
    second.engine.dispose()


def test_a_store_made_before_migrations_is_recognised_and_upgraded_with_its_rows(store_url):
    from alembic import command

    from ls_context.store.store import _alembic_config

    old = Store(store_url)
    with old.engine.begin() as connection:  # the tables the version before migrations created, unversioned
        command.upgrade(_alembic_config(connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("INSERT INTO ls_gold (task_id, project_id, result, explanation) VALUES (5, 1, '[]', 'why')"))
    assert old.revision()[0] == "unversioned"

    applied = old.upgrade()

    assert [name.split()[0] for name in applied] == ["0002", "0003", "0004", "0005", "0006", "0007"]
    with old.session() as session:
        kept = session.get(Gold, 5)
        assert (kept.explanation, kept.data) == ("why", None)
    old.engine.dispose()


def test_processes_starting_together_upgrade_once(store_url):
    """Two processes upgrading one empty store at the same moment: one migrates, the other finds it done."""
    import subprocess
    import sys

    code = ("import sys; from ls_context.store import Store; s = Store(sys.argv[1]); "
            "print(len(s.upgrade())); s.engine.dispose()")
    runs = [subprocess.Popen([sys.executable, "-c", code, store_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sorted(out.strip() for out, _ in outputs) == ["0", "7"]
    store = Store(store_url)
    store.require_current()
    store.engine.dispose()


def test_an_event_is_recorded_once_per_key_and_without_secrets(store_url):
    store = opened(store_url)
    payload = {"action": "ANNOTATION_CREATED", "project": {"id": 1, "token": "s3cret", "task_data_password": "p"},
               "annotation": {"id": 5, "result": []}}

    first = store.record_event("ANNOTATION_CREATED:5:t1", "ANNOTATION_CREATED", 1, payload)
    again = store.record_event("ANNOTATION_CREATED:5:t1", "ANNOTATION_CREATED", 1, payload)

    assert first is not None and again is None
    with store.session() as session:
        [row] = session.scalars(select(Event)).all()
    assert row.payload["project"] == {"id": 1}
    assert "s3cret" not in str(row.payload)
    assert store.unprocessed() == 1
    store.engine.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = opened(f"sqlite:///{tmp_path / 's.sqlite3'}")

    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_an_unusable_url_is_a_clear_error_without_the_password():
    with pytest.raises(LSContextError) as raised:
        Store("postgresql+psycopg://me:hunter2@127.0.0.1:1/nowhere").upgrade()

    assert "cannot open the store" in str(raised.value) and "hunter2" not in str(raised.value)
