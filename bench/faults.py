"""Faults and hostile input, with figures: what is sent, stored, processed once, delivered once, and how fast it drains.

    python bench/faults.py [--only killed,frozen,redis,hung,deliverers,fuzz] [--events 5000] [--fuzz 3000]

All on loopback, against the machine's PostgreSQL (database `test`, a schema of its own) and Redis
(database 12); Redis outages come from a TCP proxy this script cuts, Label Studio hangs from a
server that accepts and never answers, and the two-deliverers run uses a real Label Studio (from
.ls-venv) behind a proxy that counts PATCHes. Where the earlier design can be run beside the
current one in the same process, both are measured: processing and delivery in one thread vs.
apart; delivering by select-then-send vs. leased claims.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from harness.peers import CountingProxy, HungServer, TcpProxy  # noqa: E402
from harness.postgres import postgres_schema  # noqa: E402

REDIS = ("127.0.0.1", 6379)
REDIS_DB = 12
SECRET = "bench-faults-secret"
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
rows: list[tuple[str, str, str]] = []  # (scenario, figure, value), printed at the end


def say(scenario: str, figure: str, value) -> None:
    rows.append((scenario, figure, str(value)))
    print(f"  {figure}: {value}", flush=True)


def event(number: int) -> dict:
    return {
        "action": "ANNOTATION_CREATED", "project": {"id": 1},
        "task": {"id": number, "project": 1, "data": {"text": f"message {number}"}},
        "annotation": {"id": number, "updated_at": "2026-11-29T10:00:00Z", "completed_by": 1 + number % 16,
                       "result": [{"from_name": "triage", "to_name": "text", "type": "choices",
                                   "value": {"choices": ["Routine question"]}}]},
    }


def p99(values: list[float]) -> str:
    return f"{statistics.quantiles(values, n=100, method='inclusive')[98] * 1000:.0f} ms" if len(values) > 1 else "-"


def environment(store_url: str, redis_url: str | None, folder: Path) -> dict:
    values = {"LS_CONTEXT_DB": store_url, "MODEL_DIR": str(folder / "models"), "LS_CONTEXT_WEBHOOK_SECRET": SECRET,
              "LS_CONTEXT_GUIDELINES": str(GUIDELINES), "LOG_LEVEL": "WARNING"}
    if redis_url:
        values["LS_CONTEXT_REDIS_URL"] = redis_url
    return {**os.environ, **values}


def start_server(env: dict) -> tuple[subprocess.Popen, str]:
    """The production shape: `ls-context db upgrade`, then gunicorn with one gthread worker."""
    from ls_context.demo.local_studio import free_port

    subprocess.run([sys.executable, "-m", "ls_context", "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1",
                                "--worker-class", "gthread", "--threads", "8", "--log-level", "warning", "ml_backend.wsgi:app"],
                               env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=1).ok:
                return process, url
        except requests.RequestException:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start")


def start_worker(env: dict) -> subprocess.Popen:
    """`ls-context worker`; its log goes to a file beside the store's temporary folder, for a look after."""
    log = open(Path(env["MODEL_DIR"]).parent / f"worker-{time.monotonic_ns()}.log", "w")
    return subprocess.Popen([sys.executable, "-m", "ls_context", "worker"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def send(url: str, numbers: range, senders: int = 16) -> tuple[list[float], int]:
    """Post one webhook per number from `senders` threads; (answer latencies, failed posts)."""
    latencies, failed, lock = [], [0], threading.Lock()

    def sender(offset: int) -> None:
        session = requests.Session()
        for number in numbers[offset::senders]:
            began = time.perf_counter()
            try:
                ok = session.post(f"{url}/webhook", json=event(number), headers={"X-LS-Context-Secret": SECRET},
                                  timeout=10).status_code == 201
            except requests.RequestException:
                ok = False
            with lock:
                latencies.append(time.perf_counter() - began)
                failed[0] += not ok

    threads = [threading.Thread(target=sender, args=(offset,)) for offset in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, failed[0]


def outcome(store) -> dict:
    """Events by status, how many were committed more than once, annotations stored."""
    from sqlalchemy import func, select

    from ls_context.store import Annotation, Event

    with store.reading() as session:
        states = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
        twice = session.scalar(select(func.count()).select_from(Event).where(Event.attempts > 1))
        annotations = session.scalar(select(func.count()).select_from(Annotation))
        errors = session.scalars(select(Event.error).where(Event.status == "failed").limit(3)).all()
    for error in errors:
        print(f"  failed: {error[:300]}")
    return {"states": states, "twice": twice, "annotations": annotations}


def wait_drained(store, timeout_s: float) -> float | None:
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        if not store.unprocessed():
            return time.monotonic() - began
        time.sleep(0.1)
    return None


def flushed_redis() -> str:
    from redis import Redis

    Redis(*REDIS, db=REDIS_DB).flushdb()
    return f"redis://{REDIS[0]}:{REDIS[1]}/{REDIS_DB}"


# -- scenarios ------------------------------------------------------------------------------------


def killed_worker(events: int) -> None:
    """Two workers on PostgreSQL + Redis, a stream of webhooks from 16 senders; SIGKILL one worker a third of the way."""
    from ls_context.store import Store

    name = f"SIGKILL of a worker mid-stream ({events:,} events, 16 senders, PostgreSQL + RQ)"
    print(name, flush=True)
    with tempfile.TemporaryDirectory() as folder, postgres_schema("bench") as store_url:
        env = environment(store_url, flushed_redis(), Path(folder))
        server, url = start_server(env)
        workers = [start_worker(env) for _ in range(2)]
        store = Store(store_url)
        try:
            first, failed_first = send(url, range(1, events // 3 + 1))
            workers[0].send_signal(signal.SIGKILL)
            rest, failed_rest = send(url, range(events // 3 + 1, events + 1))
            drained = wait_drained(store, 300)
            result = outcome(store)
        finally:
            for process in [server, *workers]:
                process.kill()
            store.engine.dispose()
    say(name, "webhooks sent / answered 201", f"{events:,} / {events - failed_first - failed_rest:,}")
    say(name, "events stored / processed / processed twice / failed", f"{sum(result['states'].values()):,} / "
        f"{result['states'].get('done', 0):,} / {result['twice']} / {result['states'].get('failed', 0)}")
    say(name, "annotations stored", f"{result['annotations']:,}")
    say(name, "pending drained after the last answer", f"{drained:.1f} s" if drained is not None else "NOT within 300 s")
    say(name, "p99 webhook answer", p99(first + rest))


def frozen_claim() -> None:
    """A process stopped (SIGSTOP) inside its claiming transaction: what waits, and for how long."""
    from ls_context.config import Config
    from ls_context.services import build
    from ls_context.store import Store

    name = "a worker frozen mid-transaction (SIGSTOP, PostgreSQL)"
    print(name, flush=True)
    with tempfile.TemporaryDirectory() as folder, postgres_schema("bench") as store_url:
        store = Store(store_url)
        store.upgrade()
        for number in range(1, 1001):
            store.record_event(f"annotation:{number}:x", "ANNOTATION_CREATED", 1, event(number))
        frozen = subprocess.Popen([sys.executable, "-c", (
            "import sys, time; from ls_context.store import Store; store = Store(sys.argv[1])\n"
            "with store.session() as session:\n"
            "    store.claim_events(session, 25); print('claimed', flush=True); time.sleep(600)\n"), store_url],
            stdout=subprocess.PIPE, text=True)
        frozen.stdout.readline()
        frozen.send_signal(signal.SIGSTOP)
        services = build(Config(db=store_url, model_dir=Path(folder) / "models", webhook_secret=SECRET))
        began = time.monotonic()
        while services.processor.run_pending():
            pass
        others = time.monotonic() - began
        while store.unprocessed() and time.monotonic() - began < 120:
            services.processor.run_pending()
            time.sleep(0.2)
        released = time.monotonic() - began
        result = outcome(store)
        frozen.kill()
        services.close()
        store.engine.dispose()
    say(name, "the other 975 events processed in", f"{others:.2f} s")
    say(name, "the frozen claim's 25 events processed after", f"{released:.1f} s (the session limit is 30 s)")
    say(name, "processed / processed twice", f"{result['states'].get('done', 0):,} / {result['twice']}")


def redis_outage(seconds: float = 10) -> None:
    """Server and two workers reach Redis through a proxy that is cut for `seconds` while webhooks keep coming."""
    from ls_context.store import Store

    name = f"Redis gone for {seconds:.0f} s (server + 2 workers, PostgreSQL)"
    print(name, flush=True)
    proxy = TcpProxy(REDIS)
    flushed_redis()
    with tempfile.TemporaryDirectory() as folder, postgres_schema("bench") as store_url:
        env = environment(store_url, f"redis://{proxy.url_host}/{REDIS_DB}", Path(folder))
        server, url = start_server(env)
        workers = [start_worker(env) for _ in range(2)]
        store = Store(store_url)
        try:
            before, _ = send(url, range(1, 501))
            wait_drained(store, 60)  # both workers up and caught up
            proxy.cut()
            cut_at = time.monotonic()
            during, failed = [], 0
            number = 501
            while time.monotonic() - cut_at < seconds:
                latencies, lost = send(url, range(number, number + 100))
                during += latencies
                failed += lost
                number += 100
            pending_at_mend = store.unprocessed()
            proxy.mend()
            drained = wait_drained(store, 120)
            after, _ = send(url, range(number, number + 500))
            drained_after = wait_drained(store, 120)
            alive = sum(process.poll() is None for process in [server, *workers])
            result = outcome(store)
        finally:
            for process in [server, *workers]:
                process.kill()
            proxy.cut()
            store.engine.dispose()
    say(name, "processes alive after the outage (of 3)", alive)
    say(name, "webhooks during the outage / refused", f"{len(during):,} / {failed}")
    say(name, "p99 webhook answer before / during / after", f"{p99(before)} / {p99(during)} / {p99(after)}")
    say(name, "pending when Redis came back; drained", f"{pending_at_mend:,}; in {drained:.1f} s" if drained is not None else "NO")
    say(name, "processed / processed twice / failed", f"{result['states'].get('done', 0):,} / {result['twice']} / "
        f"{result['states'].get('failed', 0)} (of {number + 499:,}); 500 more drained in " +
        (f"{drained_after:.1f} s" if drained_after is not None else "NOT within 120 s"))


def hung_label_studio(seconds: float = 60) -> None:
    """Write-backs pending against a Label Studio that never answers; how long an unrelated event waits.

    Before: processing and delivery took turns in one thread. Now: the courier delivers apart.
    """
    from ls_context.config import Config
    from ls_context.services import build
    from ls_context.store import Writeback

    name = f"Label Studio hung for {seconds:.0f} s (20 write-backs pending, one event every 2 s)"
    print(name, flush=True)
    for design in ("one thread (before)", "courier apart (now)"):
        hung = HungServer()
        with tempfile.TemporaryDirectory() as folder:
            services = build(Config(model_dir=Path(folder) / "models", webhook_secret=SECRET, label_studio_url=hung.url,
                                    label_studio_api_key="key", worker_interval=0.2))
            with services.store.session() as session:
                for task_id in range(1, 21):
                    session.add(Writeback(project_id=1, task_id=task_id, kind="meta", payload={"ls_flag": "Unsure"}))
            stop = threading.Event()
            if design.startswith("one thread"):
                threading.Thread(target=_taking_turns, args=(services.worker, stop), daemon=True).start()
            else:
                services.worker.start()
            waits = []
            began = time.monotonic()
            number = 1000
            while time.monotonic() - began < seconds:
                sent = time.monotonic()
                services.store.record_event(f"annotation:{number}:x", "ANNOTATION_CREATED", 1, event(number))
                services.worker.notify()
                while services.store.unprocessed() and time.monotonic() - sent < seconds:
                    time.sleep(0.02)
                waits.append(time.monotonic() - sent)
                number += 1
                time.sleep(max(0.0, 2 - (time.monotonic() - sent)))
            stop.set()
            services.close()
            hung.close()
        say(name, f"{design}: event processed after, median / max", f"{statistics.median(waits):.2f} s / {max(waits):.2f} s "
            f"({len(waits)} events)")


def _taking_turns(worker, stop: threading.Event) -> None:
    """The earlier design: one thread processes, then delivers, then processes again."""
    while not stop.is_set():
        worker.run_once()
        stop.wait(0.2)


def two_deliverers() -> None:
    """Two processes deliver 40 write-backs (30 tasks, 10 of them with a newer second version) to a real Label Studio."""
    for name, folder in (("LS_CONTEXT_LS_VENV", ".ls-venv"), ("LS_CONTEXT_CACHE", ".cache")):  # as `make test` has them
        if (ROOT / folder).exists():
            os.environ.setdefault(name, str(ROOT / folder))
    from ls_context.demo.local_studio import from_template, template_cache
    from ls_context.labelstudio import Gateway
    from ls_context.store import Store, Writeback

    name = "two processes delivering (40 write-backs to 30 tasks of a real Label Studio)"
    print(name, flush=True)
    before = ("import sys, os; from sqlalchemy import select, update; from ls_context.labelstudio import Gateway\n"
              "from ls_context.store import Store, Writeback, now\n"
              "store = Store(os.environ['LS_CONTEXT_DB']); studio = Gateway(os.environ['LABEL_STUDIO_URL'], "
              "os.environ['LABEL_STUDIO_API_KEY'], retries=0)\n"
              "with store.session() as session: due = list(session.scalars(select(Writeback).where(Writeback.status == 'pending')))\n"
              "for w in due:\n"
              "    studio.merge_into_task(w.task_id, w.kind, w.payload)\n"
              "    with store.session() as session: session.execute(update(Writeback).where(Writeback.id == w.id)"
              ".values(status='delivered', delivered_at=now()))\n")
    now = ("from ls_context.config import Config; from ls_context.services import build\n"
           "services = build(Config.resolve(), migrate=False)\n"
           "while services.worker.deliver() != (0, 0): pass\n")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        studio = from_template(template_cache(), folder / "label-studio")
        with studio:
            gateway = Gateway(studio.url, studio.account.token)
            config = (ROOT / "label_configs" / "text-classification.xml").read_text()
            for design, code in (("select-then-send (before)", before), ("leased claims (now)", now)):
                project = gateway.create_project(design, config)
                tasks = gateway.import_tasks(project.id, [{"text": f"task {n}"} for n in range(30)])
                store_url = f"sqlite:///{folder / (design.split()[0] + '.sqlite3')}"
                store = Store(store_url)
                store.upgrade()
                with store.session() as session:
                    for task_id in tasks:
                        session.add(Writeback(project_id=project.id, task_id=task_id, kind="meta", payload={"ls_flag": "old"}))
                    for task_id in tasks[:10]:
                        session.add(Writeback(project_id=project.id, task_id=task_id, kind="meta", payload={"ls_flag": "new"}))
                proxy = CountingProxy(studio.url)
                env = {**os.environ, "LS_CONTEXT_DB": store_url, "MODEL_DIR": str(folder / "models"),
                       "LABEL_STUDIO_URL": proxy.url, "LABEL_STUDIO_API_KEY": studio.account.token}
                processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL) for _ in range(2)]
                for process in processes:
                    process.wait(300)
                patches = proxy.count("PATCH", "/api/tasks/")
                proxy.close()
                newest = sum((gateway.client.tasks.get(id=t).meta or {}).get("ls_flag") == "new" for t in tasks[:10])
                say(name, f"{design}: PATCHes for 40 write-backs (30 needed); newest version kept", f"{patches}; {newest}/10 tasks")
                store.engine.dispose()


def fuzz(examples: int) -> None:
    """Mutated real requests (tests/test_fuzz_endpoints.py's strategies) on the three endpoints, SQLite and PostgreSQL."""
    from collections import Counter

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import test_fuzz_endpoints as fuzzing

    from sqlalchemy import func, select

    from ls_context.store import Event

    for database in ("sqlite", "postgresql"):
        with tempfile.TemporaryDirectory() as folder, fuzzing.served(database, Path(folder)) as (app, client):
            for path, documents, headers in (("/webhook", [fuzzing.WEBHOOK], {"X-LS-Context-Secret": "test-webhook-secret"}),
                                             ("/predict", [fuzzing.PREDICT, fuzzing.INTERACTIVE], {}),
                                             ("/setup", [fuzzing.SETUP], {})):
                codes, tracebacks = Counter(), [0]

                @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
                @given(body=st.one_of(*(fuzzing.mutated(document) for document in documents)))
                def post(body):
                    answer = client.post(path, data=body, content_type="application/json", headers=headers)
                    codes[f"{answer.status_code // 100}xx"] += 1
                    tracebacks[0] += "Traceback" in answer.get_data(as_text=True)

                began = time.perf_counter()
                post()
                took = time.perf_counter() - began
                name = f"fuzzing {path} on {database} ({examples:,} mutated requests)"
                print(name, flush=True)
                say(name, "answers by class; tracebacks", f"{dict(sorted(codes.items()))}; {tracebacks[0]} ({took:.0f} s)")
            backend = app.extensions["ls_context"]
            backend.settle(120)
            with backend.store.reading() as session:
                states = dict(session.execute(select(Event.status, func.count()).group_by(Event.status)).all())
            say(f"fuzzing on {database}", "accepted webhooks by processing status", json.dumps(states))


SCENARIOS = ("killed", "frozen", "redis", "hung", "deliverers", "fuzz")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated: " + ", ".join(SCENARIOS))
    parser.add_argument("--events", type=int, default=5000, help="webhooks in the killed-worker stream")
    parser.add_argument("--fuzz", type=int, default=3000, help="mutated requests per endpoint and database")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the figures are the output; retries and outages log warnings by design
    run = {"killed": lambda: killed_worker(args.events), "frozen": frozen_claim, "redis": redis_outage,
           "hung": hung_label_studio, "deliverers": two_deliverers, "fuzz": lambda: fuzz(args.fuzz)}
    for name in args.only.split(","):
        run[name]()
    print("\n| scenario | figure | value |\n|---|---|---|")
    for scenario, figure, value in rows:
        print(f"| {scenario} | {figure} | {value} |")


if __name__ == "__main__":
    main()
