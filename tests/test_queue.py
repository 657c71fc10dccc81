"""With a Redis URL the web process only records and enqueues; `ls-context worker` (RQ) processes.

Runs against the Redis at 127.0.0.1:6379 (database 15, emptied around each test).
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from ls_context.errors import LSContextError
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.writeback.jobs import LEARNED_CHANNEL
from ls_context.store import Annotation, Check, Event, Gold, Store
from harness.config import config_for
from harness.readme import command
from ls_context.config import Config
from ml_backend import create_app
from test_intake import SECRET, event

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis():
    from redis import Redis

    connection = Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except Exception as error:
        pytest.fail(f"Redis at {REDIS_URL} is not reachable: {error}", pytrace=False)
    connection.flushdb()
    yield connection
    connection.flushdb()


@pytest.fixture
def make_app():
    """Apps made from the environment, closed after the test (their Redis listener stops)."""
    made = []

    def make():
        made.append(create_app(Config.resolve()))
        return made[-1]

    yield make
    for app in made:
        app.extensions["ls_context"].close()


@pytest.fixture
def environment(tmp_path, monkeypatch):
    """The configuration the web app and the worker process share, as in production: the environment."""
    values = {
        "MODEL_DIR": str(tmp_path / "models"), "LS_CONTEXT_REDIS_URL": REDIS_URL, "LS_CONTEXT_WEBHOOK_SECRET": SECRET,
        "LS_CONTEXT_GUIDELINES": str(ROOT / "label_configs" / "text-classification.yaml"),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    return values


def run_worker_process(*args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ls_context", "worker", "--burst", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=os.environ.copy())


def count(store: Store, model, *where) -> int:
    with store.session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def test_the_web_process_records_and_enqueues_and_a_worker_process_checks_gold(redis, environment, make_app):
    app = make_app()
    backend = app.extensions["ls_context"]
    with backend.store.session() as session:
        session.merge(Gold(task_id=10, project_id=3, result=event(label="Urgent intervention")["annotation"]["result"]))
    learned = redis.pubsub(ignore_subscribe_messages=True)
    learned.subscribe(LEARNED_CHANNEL)

    answer = app.test_client().post("/webhook", json=event(label="Routine question"), headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 201
    assert count(backend.store, Event, Event.status == "pending") == 1  # recorded, not processed here
    assert backend.worker._thread is None  # no processing thread in the web process
    assert backend.services.queue.queue.count == 1

    worker = run_worker_process()

    assert worker.returncode == 0, worker.stderr
    assert count(backend.store, Event, Event.status == "done") == 1
    assert count(backend.store, Annotation) == 1
    with backend.store.session() as session:
        check = session.scalars(select(Check)).one()
    assert not check.passed
    message = _next_message(learned)
    assert message == b"3"  # the web process hears which project to refit
    assert "project-token" not in worker.stderr + worker.stdout


def test_a_duplicate_delivery_enqueues_nothing_more_and_two_workers_share_the_work(redis, environment, make_app):
    app = make_app()
    client = app.test_client()
    for annotation_id in range(1, 21):
        client.post("/webhook", json=event(annotation_id=annotation_id), headers={SECRET_HEADER: SECRET})
    duplicate = client.post("/webhook", json=event(annotation_id=1), headers={SECRET_HEADER: SECRET})
    assert duplicate.status_code == 200
    store = app.extensions["ls_context"].store
    assert app.extensions["ls_context"].services.queue.queue.count == 20

    workers = [subprocess.Popen([sys.executable, "-m", "ls_context", "worker", "--burst"], env=os.environ.copy(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    for process in workers:
        assert process.wait(120) == 0, process.stderr.read()

    assert count(store, Event, Event.status == "done") == 20
    assert count(store, Annotation) == 20


def test_events_recorded_while_redis_is_down_are_kept_and_processed_by_the_next_worker(redis, environment, make_app, monkeypatch):
    app = make_app()
    backend = app.extensions["ls_context"]
    monkeypatch.setattr(backend.services.queue.queue, "connection", _unreachable())

    answer = app.test_client().post("/webhook", json=event(), headers={SECRET_HEADER: SECRET})

    assert answer.status_code == 201  # the event is safe in the store; Label Studio must not wait for Redis
    assert count(backend.store, Event, Event.status == "pending") == 1
    worker = run_worker_process()  # a worker starting drains what is pending
    assert worker.returncode == 0, worker.stderr
    assert count(backend.store, Event, Event.status == "done") == 1


def test_a_server_starts_while_redis_is_away_and_a_burst_worker_says_it_cannot_reach_it(tmp_path, monkeypatch, caplog):
    app = create_app(config_for(tmp_path, redis_url="redis://:secret-pass@127.0.0.1:1/0"))  # Label Studio never retries
    answer = app.test_client().post("/webhook", json=event(), headers={SECRET_HEADER: "test-webhook-secret"})
    backend = app.extensions["ls_context"]
    assert answer.status_code == 201 and count(backend.store, Event, Event.status == "pending") == 1
    backend.close()
    assert "secret-pass" not in caplog.text

    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("LS_CONTEXT_REDIS_URL", "redis://:secret-pass@127.0.0.1:1/0")
    worker = run_worker_process()
    assert worker.returncode == 1
    assert "cannot reach Redis" in worker.stderr and "secret-pass" not in worker.stderr + worker.stdout


def test_a_worker_never_creates_a_store(tmp_path, monkeypatch):
    """Pointed at the wrong database, it says so instead of making an empty store there and waiting."""
    monkeypatch.setenv("MODEL_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("LS_CONTEXT_REDIS_URL", REDIS_URL)
    worker = run_worker_process()
    assert worker.returncode == 1 and "no store at" in worker.stderr
    assert not (tmp_path / "elsewhere").exists()


def _unreachable():
    from redis import Redis

    return Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)


def _next_message(pubsub, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message:
            return message["data"]
    return None


@pytest.mark.labelstudio
def test_with_a_worker_process_feedback_and_flags_come_from_the_worker(redis, tmp_path, monkeypatch, ls, make_project, label_studio):
    """The production shape: the server records and enqueues; `ls-context worker` checks gold and writes flags back."""
    from ls_context.checks.gold import import_gold
    from ls_context.checks.personal import Links
    from ls_context.demo.local_studio import free_port
    from ls_context.labelstudio import Gateway
    from ls_context.labelstudio.setup import Backend, setup_project
    from ml_backend.serve import start_in_thread
    from test_feedback_label_studio import CONFIG, GOLD, choice, flag, task_by_text, wait_for

    environment = {
        "MODEL_DIR": str(tmp_path / "models"), "LS_CONTEXT_REDIS_URL": REDIS_URL, "LS_CONTEXT_WEBHOOK_SECRET": SECRET,
        "LABEL_STUDIO_URL": label_studio.url, "LABEL_STUDIO_API_KEY": label_studio.account.token,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    server = start_in_thread("127.0.0.1", free_port(), Config.resolve())
    backend = server.backend
    worker = subprocess.Popen([sys.executable, "-m", "ls_context", *command("ls-context worker")], env=os.environ.copy(),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        project = make_project(CONFIG)
        studio = Gateway(label_studio.url, label_studio.account.token)
        setup_project(studio, backend.services.guidelines, project.id, str(ROOT / "label_configs" / "text-classification.yaml"),
                      Backend(server.url, SECRET))
        import_gold(studio, backend.store, project.id, GOLD)
        task = task_by_text(ls, project.id, GOLD[0]["data"]["text"])
        [other] = ls.projects.import_tasks(id=project.id, request=[{"text": "Hola"}], return_task_ids=True).task_ids

        annotation = ls.annotations.create(id=task.id, result=[choice("Routine question")])
        ls.annotations.create(id=other, result=[choice("Routine question"), *flag("Unsure")])

        page = Links.of(backend.store).feedback_url(server.url, annotation.completed_by)
        text, seconds = wait_for(lambda: "Gold check FAILED" in requests.get(page, timeout=5).text and requests.get(page, timeout=5).text,
                                 10, "the verdict on the labeler's page")
        assert "Expected: Urgent intervention; you gave: Routine question." in text and seconds < 10
        wait_for(lambda: (ls.tasks.get(id=other).meta or {}).get("ls_flag") == "Unsure", 10, "the flag written by the worker")
        assert backend.worker._thread is None  # the server itself processed nothing
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=30)
        finally:
            worker.kill()  # a worker that ignored the request must not outlive the test and take others' jobs
        backend.close()
        server.shutdown()
    assert label_studio.account.token not in output
