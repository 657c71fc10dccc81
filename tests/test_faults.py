"""Faults: killed and frozen workers, Redis going away, Label Studio hung or refusing, two delivering processes.

Everything on loopback, against the machine's real PostgreSQL and Redis; outages come from proxies
and servers the tests start and stop (tests/harness/peers.py), never from stopping the shared services.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from harness.config import TEXT_GUIDELINES, config_for
from harness.peers import CountingProxy, HungServer, TcpProxy
from harness.postgres import postgres_schema
from ls_context.cli import main
from ls_context.store import Annotation, Event, Store, TaskData, Writeback
from ls_context.services import build
from test_intake import event

ROOT = Path(__file__).resolve().parent.parent
REDIS_DB = 13  # this file's own Redis database, emptied around each test


def record(store: Store, count: int, first: int = 1) -> None:
    for number in range(first, first + count):
        payload = event(annotation_id=number, task_id=number, label="Routine question")
        store.record_event(f"annotation:{number}:x", payload["action"], 3, payload)


def counted(store: Store, *where, model=Event) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def wait_until(condition, timeout_s: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def exactly_once(store: Store, events: int) -> None:
    """Every event done, each committed by one processing (a rolled-back attempt leaves no trace)."""
    with store.reading() as session:
        states = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
        errors = session.scalars(select(Event.error).where(Event.status != "done").limit(3)).all()
        attempts = set(session.scalars(select(Event.attempts).distinct()))
        annotations = session.scalar(select(func.count()).select_from(Annotation))
    assert states == {"done": events}, errors
    assert attempts == {1} and annotations == events


@pytest.fixture
def redis_db():
    from redis import Redis

    url = f"redis://127.0.0.1:6379/{REDIS_DB}"
    connection = Redis.from_url(url)
    connection.flushdb()
    yield url
    connection.flushdb()
    connection.close()


def worker_process(environment: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ls_context", "worker"], env={**os.environ, **environment},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stopped(process: subprocess.Popen) -> str:
    """Stop a worker as systemd would (SIGTERM); its output. One that ignores the request fails the test."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            raise AssertionError(f"the worker ignored SIGTERM:\n{process.stdout.read()[-2000:]}") from None
    return process.stdout.read()


# -- workers --------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.redis
def test_a_killed_worker_delays_nothing_and_every_event_is_processed_exactly_once(tmp_path, redis_db):
    with postgres_schema("faults") as url:
        environment = {"LS_CONTEXT_DB": url, "LS_CONTEXT_REDIS_URL": redis_db, "MODEL_DIR": str(tmp_path / "models"),
                       "LS_CONTEXT_GUIDELINES": str(TEXT_GUIDELINES)}
        store = Store(url)
        store.upgrade()
        record(store, 1500)
        workers = [worker_process(environment) for _ in range(2)]
        wait_until(lambda: counted(store, Event.status == "done") >= 100, 60, "processing started")

        workers[0].send_signal(signal.SIGKILL)  # mid-stream, a batch in its hands
        drained = wait_until(lambda: not store.unprocessed(), 60, "the other worker drained the rest")

        output = [stopped(process) for process in workers]
        exactly_once(store, 1500)
        assert "Traceback" not in output[1]
        store.engine.dispose()
    print(f"drained {drained:.1f} s after the kill")


@pytest.mark.postgres
def test_a_frozen_process_holding_a_claim_delays_only_its_own_events_and_only_for_its_lease(tmp_path):
    """A process stopped mid-transaction (SIGSTOP: a debugger, a swapped-out VM, an orphan) holds its rows' locks."""
    with postgres_schema("faults") as url:
        store = Store(url)
        store.upgrade()
        record(store, 40)
        frozen = subprocess.Popen([sys.executable, "-c", (
            "import sys, time; from ls_context.store import Store; store = Store(sys.argv[1])\n"
            "with store.session() as session:\n"
            "    store.claim_events(session, 5); print('claimed', flush=True); time.sleep(600)\n"), url],
            stdout=subprocess.PIPE, text=True)
        assert frozen.stdout.readline().strip() == "claimed"
        frozen.send_signal(signal.SIGSTOP)
        services = build(config_for(tmp_path, db=url))
        try:
            started = time.monotonic()
            while services.processor.run_pending():
                pass
            others = time.monotonic() - started
            assert counted(store, Event.status == "done") == 35  # the other events did not wait for the frozen claim
            released = wait_until(lambda: services.processor.run_pending() or not store.unprocessed(), 45,
                                  "the frozen claim released")
            while services.processor.run_pending():
                pass
            exactly_once(store, 40)
        finally:
            frozen.kill()
            services.close()
            store.engine.dispose()
    assert others < 5
    print(f"35 other events in {others:.2f} s; the frozen 5 released after {released:.0f} s")


@pytest.mark.redis
def test_workers_and_the_server_live_through_a_redis_outage_and_drain_after(tmp_path, redis_db):
    from ml_backend import create_app

    proxy = TcpProxy(("127.0.0.1", 6379))
    through_proxy = f"redis://{proxy.url_host}/{REDIS_DB}"
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    environment = {"LS_CONTEXT_DB": store_url, "LS_CONTEXT_REDIS_URL": through_proxy, "MODEL_DIR": str(tmp_path / "models"),
                   "LS_CONTEXT_GUIDELINES": str(TEXT_GUIDELINES)}
    app = create_app(config_for(tmp_path, db=store_url, redis_url=through_proxy, guidelines=TEXT_GUIDELINES))
    backend = app.extensions["ls_context"]
    client = app.test_client()
    worker = worker_process(environment)
    try:
        post = lambda number: client.post("/webhook", json=event(annotation_id=number, task_id=number),  # noqa: E731
                                          headers={"X-LS-Context-Secret": "test-webhook-secret"})
        assert all(post(n).status_code == 201 for n in range(1, 21))
        wait_until(lambda: not backend.store.unprocessed(), 30, "processing before the outage")

        proxy.cut()
        assert all(post(n).status_code == 201 for n in range(21, 61))  # Label Studio never waits for Redis
        time.sleep(6)
        assert worker.poll() is None, "the worker exited during the outage"
        proxy.mend()

        drained = wait_until(lambda: not backend.store.unprocessed(), 30, "draining after the outage")
        listener = backend.services.queue._listener
        assert listener is not None and listener.is_alive()
        from redis import Redis

        direct = Redis.from_url(redis_db)
        wait_until(lambda: direct.pubsub_numsub("ls-context:learned")[0][1] >= 1, 15, "the server listening again")
        assert worker.poll() is None
    finally:
        output = stopped(worker)
        backend.close()
        proxy.cut()
    assert counted(backend.store, Event.status == "done") == 60
    assert "Traceback" not in output, output
    assert output.count("failing (") <= 2, output  # once per outage (and once for a stale connection), not once per attempt
    print(f"drained {drained:.1f} s after Redis came back")


@pytest.mark.redis
def test_a_worker_started_while_redis_is_away_processes_from_the_store_and_joins_when_it_is_back(tmp_path, redis_db):
    proxy = TcpProxy(("127.0.0.1", 6379))
    proxy.cut()
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    environment = {"LS_CONTEXT_DB": store_url, "LS_CONTEXT_REDIS_URL": f"redis://{proxy.url_host}/{REDIS_DB}",
                   "MODEL_DIR": str(tmp_path / "models")}
    store = Store(store_url)
    store.upgrade()
    worker = worker_process(environment)
    try:
        record(store, 10)
        wait_until(lambda: not store.unprocessed(), 30, "processing without Redis")
        proxy.mend()
        from redis import Redis

        workers = Redis.from_url(redis_db)
        wait_until(lambda: workers.scard("rq:workers") >= 1, 30, "the worker registered with RQ")
        assert worker.poll() is None
    finally:
        output = stopped(worker)
        proxy.cut()
        store.engine.dispose()
    assert output.count("failing (") == 1 and "back after" in output, output


@pytest.mark.postgres
def test_while_postgresql_is_away_webhooks_get_503_and_everything_resumes_when_it_is_back(tmp_path):
    from harness.config import WEBHOOK_SECRET
    from ml_backend import create_app

    proxy = TcpProxy(("127.0.0.1", 5432))
    with postgres_schema("faults") as url:
        through_proxy = url.replace("127.0.0.1:5432", proxy.url_host)
        app = create_app(config_for(tmp_path, db=through_proxy, guidelines=TEXT_GUIDELINES))
        backend = app.extensions["ls_context"]
        client = app.test_client()
        post = lambda number: client.post("/webhook", json=event(annotation_id=number, task_id=number),  # noqa: E731
                                          headers={"X-LS-Context-Secret": WEBHOOK_SECRET})
        try:
            assert post(1).status_code == 201
            proxy.cut()
            away = post(2)
            assert away.status_code == 503 and "store is unavailable" in away.json["error"]
            assert away.headers["Retry-After"] == "5"
            proxy.mend()
            assert wait_until(lambda: post(3).status_code == 201, 20, "webhooks accepted again") < 20
            wait_until(lambda: not backend.store.unprocessed(), 20, "processing resumed")
            assert counted(backend.store, Event.status == "done") == 2  # 1 and 3; 2 was refused, not half-stored
        finally:
            backend.close()
            backend.store.engine.dispose()
            proxy.cut()


@pytest.mark.redis
def test_a_worker_asked_to_stop_while_redis_is_away_stops(tmp_path, redis_db):
    proxy = TcpProxy(("127.0.0.1", 6379))
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    Store(store_url).upgrade()
    worker = worker_process({"LS_CONTEXT_DB": store_url, "LS_CONTEXT_REDIS_URL": f"redis://{proxy.url_host}/{REDIS_DB}",
                             "MODEL_DIR": str(tmp_path / "models")})
    from redis import Redis

    wait_until(lambda: Redis.from_url(redis_db).scard("rq:workers") >= 1, 30, "the worker registered with RQ")
    proxy.cut()
    time.sleep(2)  # RQ is now reconnecting, with its own signal handlers installed
    stopped(worker)  # fails the test if SIGTERM is not enough
    assert worker.returncode == 0


def test_failed_events_are_one_line_each_in_status_and_can_be_put_back_in_line(tmp_path, monkeypatch):
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    monkeypatch.setenv("LS_CONTEXT_DB", store_url)
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    services = build(config_for(tmp_path, db=store_url))
    record(services.store, 2)
    with services.store.session() as session:
        session.execute(update(Event).where(Event.id == 1).values(
            status="failed", error="IntegrityError: (psycopg.errors.X) boom\n[SQL: UPDATE ...]\n[parameters: ...]"))

    shown = CliRunner().invoke(main, ["status"])
    assert shown.exit_code == 1
    assert "  failed: event 1 (ANNOTATION_CREATED, project 3): IntegrityError: (psycopg.errors.X) boom\n" in shown.output
    assert "[SQL" not in shown.output

    again = CliRunner().invoke(main, ["status", "--retry-failed"])
    assert "1 failed event(s) put back in line" in again.output and again.exit_code == 0
    services.processor.run_pending()
    assert counted(services.store, Event.status == "done") == 2
    services.close()


@pytest.mark.postgres
def test_status_tells_a_store_it_cannot_read_from_failed_work(tmp_path, monkeypatch):
    """Exit 2, not 1: a monitoring check must not page the lead about labelers when the database is down."""
    proxy = TcpProxy(("127.0.0.1", 5432))
    with postgres_schema("faults") as url:
        monkeypatch.setenv("LS_CONTEXT_DB", url.replace("127.0.0.1:5432", proxy.url_host))
        monkeypatch.setenv("MODEL_DIR", str(tmp_path))
        Store(url).upgrade()
        assert CliRunner().invoke(main, ["status"]).exit_code == 0
        proxy.cut()
        away = CliRunner().invoke(main, ["status"])
    assert away.exit_code == 2 and "Traceback" not in away.output
    assert len(away.output.strip().splitlines()) == 1 and "store" in away.output


@pytest.mark.parametrize("project", ["0", "2147483648", "99999999999999999999"])
def test_a_project_id_out_of_range_is_a_usage_error_not_a_traceback(project, tmp_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    answer = CliRunner().invoke(main, ["status", "--project", project])
    assert answer.exit_code == 2 and "Traceback" not in answer.output and "--project" in answer.output


# -- Label Studio ---------------------------------------------------------------------------------


def test_a_hung_label_studio_does_not_hold_up_event_processing(tmp_path):
    hung = HungServer()
    services = build(config_for(tmp_path, label_studio_url=hung.url, label_studio_api_key="key"))
    try:
        for task_id in (1, 2, 3, 4, 5, 6):
            with services.store.session() as session:
                session.add(Writeback(project_id=3, task_id=task_id, kind="meta", payload={"ls_flag": "Unsure"}))
        services.worker.start()
        time.sleep(0.5)  # the courier is now waiting on Label Studio
        record(services.store, 1, first=100)
        services.worker.notify()
        took = wait_until(lambda: not services.store.unprocessed(), 10, "an unrelated event processed")
        assert took < 2
    finally:
        services.close()
        hung.close()
    print(f"processed in {took:.2f} s while Label Studio hung")


@pytest.mark.labelstudio
def test_two_delivering_processes_send_each_write_back_once_and_the_newest_version_wins(tmp_path, label_studio, ls, make_project):
    from test_feedback_label_studio import CONFIG

    project = make_project(CONFIG)
    tasks = ls.projects.import_tasks(id=project.id, request=[{"text": f"task {n}"} for n in range(30)],
                                     return_task_ids=True).task_ids
    proxy = CountingProxy(label_studio.url)
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = Store(store_url)
    store.upgrade()
    with store.session() as session:
        for task_id in tasks:
            session.add(Writeback(project_id=project.id, task_id=task_id, kind="meta", payload={"ls_flag": "old", "ls_flag_note": ""}))
        for task_id in tasks[:10]:  # a second version: only it must land
            session.add(Writeback(project_id=project.id, task_id=task_id, kind="meta", payload={"ls_flag": "new", "ls_flag_note": "n"}))
    deliver = ("import sys; from ls_context.config import Config; from ls_context.services import build\n"
               "services = build(Config.resolve(), migrate=False)\n"
               "while services.worker.deliver() != (0, 0): pass\n")
    environment = {**os.environ, "LS_CONTEXT_DB": store_url, "MODEL_DIR": str(tmp_path / "models"),
                   "LABEL_STUDIO_URL": proxy.url, "LABEL_STUDIO_API_KEY": label_studio.account.token}
    try:
        processes = [subprocess.Popen([sys.executable, "-c", deliver], env=environment, stderr=subprocess.PIPE, text=True)
                     for _ in range(2)]
        for process in processes:
            assert process.wait(120) == 0, process.stderr.read()
        patches = proxy.count("PATCH", "/api/tasks/")
    finally:
        proxy.close()
    assert patches == counted(store, Writeback.status == "delivered", model=Writeback) == 30
    assert counted(store, Writeback.status == "superseded", model=Writeback) == 10
    metas = {task_id: ls.tasks.get(id=task_id).meta for task_id in tasks}
    assert all(metas[t]["ls_flag"] == "new" for t in tasks[:10]) and all(metas[t]["ls_flag"] == "old" for t in tasks[10:])


@pytest.mark.labelstudio
def test_a_refused_write_back_is_dead_with_its_reason_and_status_says_so(tmp_path, label_studio, monkeypatch):
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    for name, value in {"LS_CONTEXT_DB": store_url, "MODEL_DIR": str(tmp_path / "models"),
                        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.account.token}.items():
        monkeypatch.setenv(name, value)
    services = build(config_for(tmp_path, db=store_url, label_studio_url=label_studio.url,
                                label_studio_api_key=label_studio.account.token))
    with services.store.session() as session:
        session.add(Writeback(project_id=3, task_id=987654, kind="meta", payload={"ls_flag": "Unsure"}))  # no such task

    assert services.worker.deliver() == (0, 1)
    assert services.worker.deliver() == (0, 0)  # dead: never tried again
    answer = CliRunner().invoke(main, ["status"])
    services.close()

    assert answer.exit_code == 1
    assert "1 dead" in answer.output and "task 987654" in answer.output and "HTTP 404" in answer.output
    assert label_studio.account.token not in answer.output


# -- bad rows -------------------------------------------------------------------------------------


def test_a_malformed_annotation_already_in_the_store_is_left_out_of_learning(tmp_path):
    """Intake refuses such results now; a store written before may hold them, and must not break the model."""
    from harness.config import WEBHOOK_SECRET
    from ml_backend import create_app

    app = create_app(config_for(tmp_path, guidelines=TEXT_GUIDELINES))
    backend = app.extensions["ls_context"]
    client = app.test_client()
    refused = client.post("/webhook", json={**event(), "annotation": {**event()["annotation"], "result": [1, "x", None]}},
                          headers={"X-LS-Context-Secret": WEBHOOK_SECRET})
    assert refused.status_code == 400 and "annotation.result[0]" in refused.json["error"]
    with backend.store.session() as session:
        session.add(TaskData(task_id=10, project_id=3, data={"text": "help"}))
        session.add(Annotation(id=1, project_id=3, task_id=10, labeler_id=4, result=[1, "x", None]))
        session.add(Annotation(id=2, project_id=3, task_id=10, labeler_id=5, result=[{"from_name": "triage", "value": ["x"]}]))
    label_config = (ROOT / "label_configs" / "text-classification.xml").read_text()

    answer = client.post("/predict", json={"tasks": [{"id": 10, "data": {"text": "help"}}], "project": "3.1", "label_config": label_config})

    assert answer.status_code == 200
    assert backend.models.refit("3", force=True) is not None
    backend.close()
