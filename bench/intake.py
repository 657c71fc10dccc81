"""Webhook acknowledgement: durable intake (SQLite, PostgreSQL) vs. a bare Flask endpoint, side by side.

    python bench/intake.py [--rate 200] [--seconds 10]

Each server runs under gunicorn (one gthread worker, 4 threads) on loopback. A client sends
annotation events at a fixed rate, each a new annotation version, from 8 threads, and measures
the time to the answer. The bare endpoint only answers 200: the difference is the cost of
checking, deduplicating and committing the event before answering.
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
                ok = session.post(f"{url}/webhook", json=event(offset + number), timeout=5).status_code < 300
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        (folder / "bare_app.py").write_text(BARE_APP)
        servers = {
            "bare Flask, answers 200": ("bare_app:app", {}, folder),
            "ls-context, SQLite (WAL, synchronous=FULL)": ("ml_backend.wsgi:app", {"MODEL_DIR": str(folder / "models")}, ROOT),
            "ls-context, PostgreSQL": ("ml_backend.wsgi:app", {"MODEL_DIR": str(folder / "models-pg"), "LS_CONTEXT_DB": POSTGRES}, ROOT),
        }
        print(f"{args.rate:.0f} events/s for {args.seconds:.0f} s, 8 client threads, gunicorn 1 worker x 4 threads\n")
        print(f"{'server':<44} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
        for name, (app, env, cwd) in servers.items():
            process, url = start(app, env, cwd)
            try:
                began = time.perf_counter()
                latencies, errors = load(url, args.rate, args.seconds)
                elapsed = time.perf_counter() - began
            finally:
                process.terminate()
                process.wait(10)
            print(f"{name:<44} {len(latencies) / elapsed:>9.0f} {statistics.median(latencies) * 1000:>8.2f} "
                  f"{percentile(latencies, 99) * 1000:>8.2f} {max(latencies) * 1000:>8.2f} {errors:>7}")


if __name__ == "__main__":
    main()
