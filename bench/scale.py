"""Scale: how fast each answer reaches every server's model at 1k-100k labeled tasks, and reports on 1M-10M labels.

    pip install -e '.[test]'; python bench/scale.py                      # everything (about 15 minutes)
    python bench/scale.py --only learning --sizes 1000,10000 --servers 1,4
    python bench/scale.py --only report --labels 1000000

Learning: a PostgreSQL store (a schema of its own in the `test` database at 127.0.0.1:5432) is
seeded with N labeled tasks of VADER's movie-review snippets (repeated with variations past
10,603), then K server processes (`gunicorn -w 1` each, as replicas behind a load balancer) serve
the project. One fits and publishes; the others load its model. Then new answers arrive as
webhooks, spread over the servers, and each server reports (/metrics) how long after the webhook
it had learned each answer and the CPU its learning took. Last, "Start training" on one server:
how long after its new version is published every server serves it, and how long a server takes
to read it. Side by side: the full fit every
process ran after each burst of answers before this change (its time is the lower bound of that
path's latency, and K times it the CPU per burst).

Report: a simulated Label Studio export (10 labelers per task, 5 classes) of 1M and 10M labels,
written task by task, then `ls-context report --export` on it: seconds and peak memory, side by
side with reading the export whole with `json.load` first (as the report did before; at 1M only,
since at 10M that alone takes about 20 GB).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

sys.path.insert(0, str(ROOT / "tests"))

from harness.postgres import postgres_schema  # noqa: E402
from vader.data import load as load_vader  # noqa: E402

SECRET = "scale-bench-secret"
PROJECT = 1
LABELERS = (11, 12, 13)


# -- learning -----------------------------------------------------------------------------------

def texts(n: int, seed: int = 0) -> list[tuple[str, str]]:
    """n (text, label) pairs: VADER's movie reviews, then variations of them (a word dropped, one borrowed)."""
    pairs = load_vader("movie-reviews")
    rng = random.Random(seed)
    found = list(pairs[:n])
    while len(found) < n:
        text, label = pairs[len(found) % len(pairs)]
        words = text.split()
        if len(words) > 3:
            words.pop(rng.randrange(len(words)))
        donor = rng.choice(pairs)[0].split()
        words.insert(rng.randrange(len(words) + 1), rng.choice(donor))
        found.append((" ".join(words), label))
    return found


def seed(store_url: str, pairs: list[tuple[str, str]]) -> None:
    """N tasks, each answered by one labeler; the first 2% are gold tasks (the lead's answer) that every labeler got right."""
    from sqlalchemy import insert

    from ls_context.store import Annotation, Check, Gold, Store, TaskData

    store = Store(store_url)
    store.upgrade()
    gold_n = max(20, len(pairs) // 50)

    def choice(label):
        return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]

    with store.session() as session:
        for start in range(0, len(pairs), 10_000):
            chunk = list(enumerate(pairs[start:start + 10_000], start=start + 1))
            session.execute(insert(TaskData), [{"task_id": t, "project_id": PROJECT, "data": {"text": text}} for t, (text, _) in chunk])
            session.execute(insert(Annotation), [
                {"id": t, "project_id": PROJECT, "task_id": t, "labeler_id": LABELERS[t % 3], "result": choice(label),
                 "updated_at": "2026-11-28T10:00:00Z", "cancelled": False} for t, (_, label) in chunk])
        session.execute(insert(Gold), [{"task_id": t, "project_id": PROJECT, "result": choice(label), "explanation": ""}
                                       for t, (_, label) in enumerate(pairs[:gold_n], start=1)])
        session.execute(insert(Check), [{"project_id": PROJECT, "task_id": t, "annotation_id": t, "labeler_id": LABELERS[t % 3],
                                         "control": "sentiment", "score": 1.0, "passed": True}
                                        for t in range(1, gold_n + 1)])
    store.engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_servers(count: int, env: dict) -> list[tuple[subprocess.Popen, str]]:
    servers = []
    for _ in range(count):
        port = free_port()
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1", "--worker-class", "gthread",
             "--threads", "4", "--timeout", "600", "--log-level", "warning", "ml_backend.wsgi:app"],
            cwd=ROOT, env={**os.environ, **env})
        servers.append((process, f"http://127.0.0.1:{port}"))
    for process, url in servers:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"a server on {url} did not start")
            time.sleep(0.2)
    return servers


def learning_run(size: int, count: int, answers: int, rate: float) -> dict:
    """Seed `size` labeled tasks, serve with `count` processes, send `answers` new ones; the figures."""
    config = (ROOT / "bench" / "vader" / "label_config.xml").read_text()
    pairs = texts(size + answers)
    with postgres_schema() as store_url, tempfile.TemporaryDirectory() as folder:
        seed(store_url, pairs[:size])
        env = {"LS_CONTEXT_DB": store_url, "MODEL_DIR": folder, "LS_CONTEXT_WEBHOOK_SECRET": SECRET,
               "LS_CONTEXT_GUIDELINES": str(ROOT / "bench" / "vader" / "movie-reviews.yaml"), "LS_CONTEXT_MODEL_POLL": "0.25",
               "LOG_LEVEL": "WARNING"}
        servers = start_servers(count, env)
        try:
            return measure(servers, config, pairs[size:], rate)
        finally:
            for process, _ in servers:
                process.terminate()
            for process, _ in servers:
                process.wait(timeout=30)


def measure(servers, config: str, new: list[tuple[str, str]], rate: float) -> dict:
    urls = [url for _, url in servers]
    session = requests.Session()
    began = time.perf_counter()
    body = {"tasks": [{"id": 10**8, "data": {"text": "a first look"}}], "project": f"{PROJECT}.1", "label_config": config}
    # Every server asks for the model at once: one fits, the others wait for it and load it.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        list(pool.map(lambda url: requests.post(f"{url}/predict", json=body, timeout=900).raise_for_status(), urls))
    ready = time.perf_counter() - began
    before = [session.get(f"{url}/metrics").json()["learning"] for url in urls]
    headers = {"X-LS-Context-Secret": SECRET}
    first_task = 10**7
    for number, (text, label) in enumerate(new):
        url = urls[number % len(urls)]
        event = {"action": "ANNOTATION_CREATED", "project": {"id": PROJECT, "label_config": config},
                 "task": {"id": first_task + number, "project": PROJECT, "data": {"text": text}},
                 "annotation": {"id": first_task + number, "updated_at": "2026-11-29T10:00:00Z", "completed_by": LABELERS[number % 3],
                                "result": [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]}}
        session.post(f"{url}/webhook", json=event, headers=headers, timeout=30).raise_for_status()
        time.sleep(1.0 / rate)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        after = [session.get(f"{url}/metrics").json()["learning"] for url in urls]
        if all(a["answers_learned"] - b["answers_learned"] >= len(new) or _version_moved(a, b) for a, b in zip(after, before)):
            break
        time.sleep(0.25)
    cpu = sum(a["cpu_seconds"] - b["cpu_seconds"] + a["full_fit_cpu_seconds"] - b["full_fit_cpu_seconds"]
              + a["load_cpu_seconds"] - b["load_cpu_seconds"] for a, b in zip(after, before))
    fit = max(b["full_fit_seconds"] for b in before)
    everywhere, reload = new_version_everywhere(session, urls, config, headers)
    return {
        "ready_s": ready, "full_fit_s": fit, "load_s": reload, "everywhere_s": everywhere,
        "p50_s": max(a["latency_p50"] or 0 for a in after), "p95_s": max(a["latency_p95"] or 0 for a in after),
        "cpu_ms_per_answer": 1000 * cpu / len(new), "fits_during": sum(a["full_fits"] - b["full_fits"] for a, b in zip(after, before)),
    }


def new_version_everywhere(session, urls: list[str], config: str, headers: dict) -> tuple[float, float]:
    """"Start training" on the first server: seconds from its new version's publication until every server serves it,
    and the longest a server took to read it."""
    versions = [session.get(f"{url}/metrics").json()["learning"] for url in urls]
    old = versions[0]["models"][str(PROJECT)]["version"]
    session.post(f"{urls[0]}/webhook", json={"action": "START_TRAINING", "project": {"id": PROJECT, "label_config": config},
                                             "asked": uuid.uuid4().hex}, headers=headers, timeout=30).raise_for_status()
    published = switched = None
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and switched is None:
        now = [session.get(f"{url}/metrics").json()["learning"] for url in urls]
        moved = [m["models"][str(PROJECT)]["version"] != old for m in now]
        if moved[0] and published is None:
            published = time.monotonic()
        if all(moved):
            switched = time.monotonic()
        time.sleep(0.05)
    reload = max(((m["load_seconds"] or 0) for m in now[1:]), default=0.0)
    return (switched - published if switched and published else float("nan")), reload


def _version_moved(after: dict, before: dict) -> bool:
    return any(after["models"].get(p, {}).get("version") != v.get("version") for p, v in before["models"].items())


# -- reports ------------------------------------------------------------------------------------

def write_export(path: Path, labels: int) -> None:
    """A Label Studio JSON export of `labels` labels (10 per task), written task by task."""
    from ls_context.quality.synthetic import confusion, simulated_tasks

    names = {f"labeler{i}@example.com": confusion(5, accuracy) for i, accuracy in enumerate([0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6])}
    names.update({f"spammer{i}@example.com": np.full((5, 5), 0.2) for i in range(3)})
    truth = np.random.default_rng(11).integers(0, 5, labels // 10)
    with open(path, "w") as handle:
        handle.write("[")
        for number, (task, _) in enumerate(simulated_tasks(truth, names, list("abcde"), 10, 0, "label", 11)):
            handle.write(("," if number else "") + json.dumps(task))
        handle.write("]")


WHOLE_FILE = """
import json, sys
from ls_context.quality.export import build
from ls_context.quality.metrics import compute
compute(build(json.load(open(sys.argv[1]))))
"""


def timed_child(command: list[str]) -> tuple[float, float]:
    """(seconds, peak resident memory in MB) of a child process."""
    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed: {process.stderr.read()[-2000:]}")
    return time.perf_counter() - began, usage.ru_maxrss / 1024


def report_run(labels: int, whole_file: bool) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.json"
        write_export(export, labels)
        streamed = timed_child([sys.executable, "-m", "ls_context", "report", "--export", str(export),
                                "--out", str(Path(folder) / "r.html"), "--json", str(Path(folder) / "m.json")])
        whole = timed_child([sys.executable, "-c", WHOLE_FILE, str(export)]) if whole_file else None
        return {"mb": export.stat().st_size / 1e6, "streamed": streamed, "whole": whole}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("learning", "report"), help="run one half only")
    parser.add_argument("--sizes", default="1000,10000,100000", help="labeled tasks in the store, comma-separated")
    parser.add_argument("--servers", default="1,4", help="server processes, comma-separated")
    parser.add_argument("--answers", type=int, default=100, help="new answers sent per run")
    parser.add_argument("--rate", type=float, default=5.0, help="new answers per second")
    parser.add_argument("--labels", default="1000000,10000000", help="labels in the report's export, comma-separated")
    args = parser.parse_args()

    if args.only != "report":
        print(f"learning: {args.answers} new answers at {args.rate:g}/s, spread over the servers (gunicorn 1 worker x 4 threads each)\n")
        print(f"{'labeled':>8} {'servers':>7} | {'full fit s':>10} {'everywhere s':>12} {'load s':>6} | {'p50 s':>6} {'p95 s':>6}"
              f" {'CPU ms/answer':>13} {'fits':>4} | {'before: latency >= s':>20} {'CPU ms/answer':>13}")
        for size in (int(s) for s in args.sizes.split(",")):
            for count in (int(c) for c in args.servers.split(",")):
                row = learning_run(size, count, args.answers, args.rate)
                # Before: every process refitted fully after a burst of answers (at most every 5 s): the
                # latency was at least one full fit, and each process paid one per burst.
                burst = max(1.0, 5.0 * args.rate)
                print(f"{size:>8,} {count:>7} | {row['full_fit_s']:>10.1f} {row['everywhere_s']:>12.2f} {row['load_s']:>6.2f} |"
                      f" {row['p50_s']:>6.2f} {row['p95_s']:>6.2f}"
                      f" {row['cpu_ms_per_answer']:>13.1f} {row['fits_during']:>4} | {row['full_fit_s']:>20.1f}"
                      f" {1000 * count * row['full_fit_s'] / burst:>13.1f}", flush=True)
    if args.only != "learning":
        print(f"\nreport: `ls-context report --export` (streamed) vs json.load of the whole export first\n")
        print(f"{'labels':>11} {'export MB':>9} | {'streamed s':>10} {'peak MB':>8} | {'whole-file s':>12} {'peak MB':>8}")
        for labels in (int(n) for n in args.labels.split(",")):
            row = report_run(labels, whole_file=labels <= 2_000_000)
            whole = f"{row['whole'][0]:>12.1f} {row['whole'][1]:>8.0f}" if row["whole"] else f"{'not run (~20 GB)':>21}"
            print(f"{labels:>11,} {row['mb']:>9.0f} | {row['streamed'][0]:>10.1f} {row['streamed'][1]:>8.0f} | {whole}", flush=True)


if __name__ == "__main__":
    main()
