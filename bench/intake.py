"""Webhook acknowledgement: durable intake (SQLite, PostgreSQL) vs. a bare Flask endpoint, side by side.

    python bench/intake.py [--rate 200] [--seconds 10] [--end-to-end]

Each server runs under gunicorn (one gthread worker, 4 threads) on loopback. A client sends
annotation events at a fixed rate, each a new annotation version, from 8 threads, and measures
the time to the answer. The bare endpoint only answers 200: the difference is the cost of
checking, deduplicating and committing the event before answering. Without Redis the server's own
thread processes the events (gold checks, flags) in the same process; with Redis, the server only
records and enqueues, and one `ls-context worker` process (RQ) processes: the table then also shows
how long that worker needed, after the last answer, to finish processing every event.

With --end-to-end it also starts a real Label Studio (from .ls-venv) and times, for wrong answers
on gold tasks submitted through the API, how long until the verdict is on the labeler's own page.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/14"
SECRET = "bench-webhook-secret"
BARE_APP = '''
from flask import Flask, jsonify
app = Flask("bare")
@app.post("/webhook")
def webhook():
    return jsonify(status="ok"), 200
@app.get("/health")
def health():
    return "ok"
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(app: str, env: dict, cwd: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    if app.startswith("ml_backend"):  # gunicorn's workers only check the schema: create it first, as in production
        subprocess.run([sys.executable, "-m", "ls_context", "db", "upgrade"], cwd=cwd, env={**os.environ, **env},
                       check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
         "--threads", "4", "--log-level", "warning", app], cwd=cwd, env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{app} did not start")


def start_worker(env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ls_context", "worker"], cwd=ROOT, env={**os.environ, **env},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until_processed(env: dict, timeout_s: float = 300) -> float:
    """Seconds until no event waits in the store (the worker has caught up)."""
    from sqlalchemy import func, select

    from ls_context.config import Config
    from ls_context.store import Event, Store

    store = Store(Config.resolve(environ={**os.environ, **env}).store_url())
    began = time.perf_counter()
    while time.perf_counter() - began < timeout_s:
        with store.session() as session:
            if not session.scalar(select(func.count()).select_from(Event).where(Event.status.in_(("pending", "processing")))):
                break
        time.sleep(0.1)
    return time.perf_counter() - began


def event(number: int) -> dict:
    return {
        "action": "ANNOTATION_CREATED", "project": {"id": 1},
        "task": {"id": number, "project": 1, "data": {"text": f"message {number}"}},
        "annotation": {"id": number, "updated_at": "2026-11-28T10:00:00Z", "completed_by": 1 + number % 5,
                       "result": [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Routine question"]}}]},
    }


def load(url: str, rate: float, seconds: float, threads: int = 8) -> tuple[list[float], int]:
    """Send rate x seconds events on a fixed schedule; latencies of the answers and the error count."""
    total = int(rate * seconds)
    latencies, errors, lock = [], [0], threading.Lock()
    start_at = time.perf_counter() + 0.2
    offset = uuid.uuid4().int % 10**6 * 1000

    def send(worker: int) -> None:
        session = requests.Session()
        for number in range(worker, total, threads):
            delay = start_at + number / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            began = time.perf_counter()
            try:
                ok = session.post(f"{url}/webhook", json=event(offset + number), timeout=5,
                                  headers={"X-LS-Context-Secret": SECRET}).status_code < 300
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - began)
                errors[0] += not ok

    workers = [threading.Thread(target=send, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return latencies, errors[0]


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200, help="events per second")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", default="", help="run only the servers whose name contains this")
    parser.add_argument("--end-to-end", action="store_true", help="also time annotation -> feedback in a real Label Studio")
    args = parser.parse_args()
    if args.end_to_end:
        end_to_end()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "bare_app.py").write_text(BARE_APP)
        quiet = {"LS_CONTEXT_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING"}
        sqlite = {"MODEL_DIR": str(folder / "models"), **quiet}
        postgres = {"MODEL_DIR": str(folder / "models-pg"), "LS_CONTEXT_DB": POSTGRES, **quiet}
        servers = {
            "bare Flask, answers 200": ("bare_app:app", {}, folder),
            "ls-context, SQLite (WAL, synchronous=FULL)": ("ml_backend.wsgi:app", sqlite, ROOT),
            "ls-context, PostgreSQL": ("ml_backend.wsgi:app", postgres, ROOT),
            "ls-context + RQ worker, SQLite": ("ml_backend.wsgi:app", {**sqlite, "LS_CONTEXT_REDIS_URL": REDIS}, ROOT),
            "ls-context + RQ worker, PostgreSQL": ("ml_backend.wsgi:app", {**postgres, "LS_CONTEXT_REDIS_URL": REDIS}, ROOT),
        }
        print(f"{args.rate:.0f} events/s for {args.seconds:.0f} s, 8 client threads, gunicorn 1 worker x 4 threads\n")
        print(f"{'server':<44} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7} {'worker done after':>18}")
        for name, (app, env, cwd) in servers.items():
            if args.only not in name:
                continue
            process, url = start(app, env, cwd)
            worker = start_worker(env) if "LS_CONTEXT_REDIS_URL" in env else None
            try:
                began = time.perf_counter()
                latencies, errors = load(url, args.rate, args.seconds)
                elapsed = time.perf_counter() - began
                drained = f"{wait_until_processed(env):.1f} s" if worker else ""
            finally:
                for running in (process, worker):
                    if running is not None:
                        running.terminate()
                        running.wait(10)
            print(f"{name:<44} {len(latencies) / elapsed:>9.0f} {statistics.median(latencies) * 1000:>8.2f} "
                  f"{percentile(latencies, 99) * 1000:>8.2f} {max(latencies) * 1000:>8.2f} {errors:>7} {drained:>18}")


def end_to_end(annotations: int = 10) -> None:
    """Wrong answers on gold tasks through Label Studio's API; seconds until each verdict is on the labeler's page."""
    sys.path.insert(0, str(ROOT))
    from ls_context.checks.gold import import_gold
    from ls_context.checks.personal import Links
    from ls_context.config import Config
    from ls_context.demo.local_studio import free_port as loopback_port, from_template, template_cache
    from ls_context.demo.scenarios import scenario
    from ls_context.labelstudio import Gateway
    from ls_context.labelstudio.setup import Backend, setup_project
    from ml_backend.serve import start_in_thread

    triage = scenario("support-triage")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        studio = from_template(template_cache(), folder / "label-studio")
        with studio:
            config = Config(model_dir=folder / "models", webhook_secret=SECRET, label_studio_url=studio.url,
                            label_studio_api_key=studio.account.token, worker_interval=0.2)
            server = start_in_thread("127.0.0.1", loopback_port(), config)
            gateway = Gateway(studio.url, studio.account.token)
            project = gateway.create_project("end to end", triage.label_config.read_text())
            setup_project(gateway, server.backend.services.guidelines, project.id, str(triage.guidelines), Backend(server.url, SECRET))
            gold = triage.gold()[:annotations]
            import_gold(gateway, server.backend.store, project.id, gold)
            page = Links.of(server.backend.store).feedback_url(server.url, gateway.whoami().id)
            seconds = []
            for number, task in enumerate(gateway.tasks(project.id), start=1):
                expected = next(g for g in gold if g["data"] == task["data"])["annotations"][0]["result"][0]["value"]["choices"][0]
                wrong = next(label for label in triage.labels() if label != expected)
                began = time.perf_counter()
                gateway.annotate(task["id"], [{"from_name": "triage", "to_name": "text", "type": "choices",
                                               "value": {"choices": [wrong]}}], user_id=1)
                while requests.get(page, timeout=5).text.count("Gold check FAILED") < number:
                    time.sleep(0.02)
                seconds.append(time.perf_counter() - began)
            server.backend.close()
            server.shutdown()
    print(f"annotation submitted -> verdict on the labeler's own page, {len(seconds)} gold tasks: "
          f"median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s\n")


if __name__ == "__main__":
    main()
