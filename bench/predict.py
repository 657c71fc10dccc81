"""/predict through the real HTTP app (gunicorn) vs. the bare classifier's predict_proba, side by side.

    python bench/predict.py [--rounds 200]

Prints throughput (tasks/s) and p50/p95 latency for batches of 1, 10 and 100 text tasks, and the
overhead ratio: what rules, reference examples, rationale, validation, JSON and HTTP add on top of
the classifier alone. A third column serves the same bare classifier behind the same HTTP stack
(gunicorn, Flask, JSON, one label and score per task): the floor any served model starts from. The model is the default one, fitted on the text-classification guidelines
plus 600 labeled messages; gunicorn runs one worker with two threads (keep-alive), as a small
deployment would.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pickle
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ls_context.guidelines import load  # noqa: E402
from ml_backend.context_model import ContextModel, Example  # noqa: E402

CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
SUBJECTS = ["order", "invoice", "parcel", "refund", "account", "delivery", "app", "password", "pallet", "courier"]
MOODS = {
    "Urgent intervention": ["we cancel today", "this is fraud", "our store opens tomorrow", "someone is hurt"],
    "Frustrated but salvageable": ["again, annoying", "third time asking", "still waiting, please fix", "not happy"],
    "Routine question": ["how do I change it", "where can I find it", "is there a way to export", "what is the limit"],
    "General feedback": ["love the new design", "a suggestion for you", "nice work team", "would be great to have"],
}


def message(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(list(MOODS))
    words = [rng.choice(SUBJECTS), rng.choice(MOODS[label]), rng.choice(SUBJECTS), f"#{rng.randint(1000, 99999)}"]
    rng.shuffle(words)
    return " ".join(words).capitalize() + ".", label


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


BARE_APP = """
import os, pickle
from flask import Flask, jsonify, request
with open(os.environ["BARE_MODEL"], "rb") as file:
    model = pickle.load(file)
app = Flask("bare")
@app.get("/health")
def health():
    return "ok"
@app.post("/predict")
def predict():
    texts = [task["data"]["text"] for task in request.get_json()["tasks"]]
    results = []
    for row in model.predict_proba(texts):
        best = int(row.argmax())
        results.append({"result": [{"value": {"choices": [model.classes_[best]]}}], "score": float(row[best])})
    return jsonify(results=results)
"""


SECRET = "bench-webhook-secret"


def start_gunicorn(app: str, port: int, env: dict, cwd: Path = ROOT) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **env)
    if app.startswith("ml_backend"):  # gunicorn's workers only check the schema: create it first, as in production
        subprocess.run([sys.executable, "-m", "ls_context", "db", "upgrade"], cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
         "--threads", "2", "--log-level", "warning", app],
        cwd=cwd, env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("gunicorn did not start")


class Client:
    """A keep-alive HTTP/1.1 connection from the standard library: little client-side time in the figures."""

    def __init__(self, url: str):
        host, port = url.removeprefix("http://").split(":")
        self.connection = http.client.HTTPConnection(host, int(port))

    def post(self, path: str, body: dict) -> float:
        payload = json.dumps(body).encode()
        started = time.perf_counter()
        self.connection.request("POST", path, payload, {"Content-Type": "application/json"})
        answer = self.connection.getresponse()
        answer.read()
        elapsed = time.perf_counter() - started
        if answer.status != 200:
            raise SystemExit(f"{path} answered {answer.status}")
        return elapsed


def train_through_webhook(url: str, labeled: list[tuple[str, str]]) -> None:
    """Teach the served model the same 600 messages the bare classifier is fitted on."""
    for number, (text, label) in enumerate(labeled):
        requests.post(f"{url}/webhook", json={
            "action": "ANNOTATION_CREATED",
            "annotation": {"id": number + 1, "updated_at": "2026-01-01T00:00:00Z", "result": [
                {"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]},
            "task": {"id": number + 1, "data": {"text": text}, "project": 1},
            "project": {"id": 1, "label_config": CONFIG},
        }, headers={"X-LS-Context-Secret": SECRET}, timeout=10).raise_for_status()
    deadline = time.monotonic() + 60
    while requests.get(f"{url}/versions", timeout=5).json()["versions"] in ([], ["ls-context-g1.0.0-r0"]):
        if time.monotonic() > deadline:
            raise SystemExit("the served model did not refit")
        requests.post(f"{url}/predict", json={"tasks": [], "project": "1.1", "label_config": CONFIG}, timeout=10)
        time.sleep(0.3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200, help="requests per batch size")
    args = parser.parse_args()
    rng = random.Random(7)
    labeled = [message(rng) for _ in range(600)]
    texts = [message(rng)[0] for _ in range(100)]

    examples = {"triage": [Example(text, (label,), "annotation") for text, label in labeled]}
    bare = ContextModel(CONFIG, load(GUIDELINES)).fit(examples).choices[0].classifier

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        with open(folder / "bare.pickle", "wb") as file:
            pickle.dump(bare, file)
        (folder / "bare_app.py").write_text(BARE_APP)
        port, bare_port = free_port(), free_port()
        server = start_gunicorn("ml_backend.wsgi:app", port, {"MODEL_DIR": str(folder / "models"), "LS_CONTEXT_GUIDELINES": str(GUIDELINES),
                                                             "LS_CONTEXT_WEBHOOK_SECRET": SECRET, "LOG_LEVEL": "WARNING"})
        bare_server = start_gunicorn("bare_app:app", bare_port, {"BARE_MODEL": str(folder / "bare.pickle")}, cwd=folder)
        url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        try:
            train_through_webhook(url, labeled)
            served_client, bare_client = Client(url), Client(bare_url)
            print(f"{'batch':>5} | {'served p50 ms':>13} {'p95 ms':>7} {'tasks/s':>8} | {'bare over HTTP p50':>18} | "
                  f"{'bare p50 ms':>11} {'tasks/s':>8} | {'overhead':>8} {'vs bare over HTTP':>17}")
            for size in (1, 10, 100):
                batch = texts[:size]
                body = {"tasks": [{"id": i + 1, "data": {"text": t}} for i, t in enumerate(batch)], "project": "1.1", "label_config": CONFIG}
                served, over_http, plain = [], [], []
                for _ in range(10):  # warm-up
                    served_client.post("/predict", body), bare_client.post("/predict", body), bare.predict_proba(batch)
                for _ in range(args.rounds):
                    served.append(served_client.post("/predict", body))
                    over_http.append(bare_client.post("/predict", body))
                    started = time.perf_counter()
                    bare.predict_proba(batch)
                    plain.append(time.perf_counter() - started)
                s50, h50, p50 = statistics.median(served), statistics.median(over_http), statistics.median(plain)
                print(
                    f"{size:>5} | {s50 * 1000:>13.2f} {percentile(served, 95) * 1000:>7.2f} {size / s50:>8.0f} | {h50 * 1000:>18.2f} | "
                    f"{p50 * 1000:>11.2f} {size / p50:>8.0f} | {s50 / p50:>7.1f}x {s50 / h50:>16.1f}x"
                )
        finally:
            for process in (server, bare_server):
                process.terminate()
                process.wait(10)


if __name__ == "__main__":
    main()
