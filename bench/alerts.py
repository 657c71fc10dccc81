"""Alerts: from a flag's webhook to a Slack-style receiver, one at a time and in a burst, beside webhook intake without alerts.

    python bench/alerts.py [--flags 20] [--burst 100] [--digest 2]

The real server (in this process, its store a SQLite file) and a local receiver on 127.0.0.1. First
`--flags` flags one after another, each waiting for its message: the time from posting the webhook
to the message arriving. Then a burst of `--burst` flags posted as fast as the server takes them,
with a digest window of `--digest` seconds: how many messages arrive, and when the last alert is in.
The webhook's own answer time is measured with alerts configured and without, to show that
alerting never happens in the request.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from harness.config import WEBHOOK_SECRET, config_for  # noqa: E402
from harness.receiver import Receiver  # noqa: E402
from ls_context.intake.webhook import SECRET_HEADER  # noqa: E402
from ml_backend import create_app  # noqa: E402


def flagged(number: int) -> dict:
    result = [{"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Guideline unclear"]}},
              {"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": [f"note {number}"]}}]
    return {"action": "ANNOTATION_CREATED", "project": {"id": 3}, "task": {"id": 1000 + number, "project": 3, "data": {"text": "hi"}},
            "annotation": {"id": number, "result": result, "updated_at": "2026-11-29T10:00:00Z", "completed_by": 4}}


def post(client, body) -> float:
    started = time.perf_counter()
    answer = client.post("/webhook", json=body, headers={SECRET_HEADER: WEBHOOK_SECRET})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return time.perf_counter() - started


def one_by_one(folder: Path, receiver: Receiver, n: int) -> tuple[list[float], list[float]]:
    app = create_app(config_for(folder, alerts=f"slack+{receiver.url}", alert_digest=0.0))
    client, latency, answers = app.test_client(), [], []
    try:
        for number in range(1, n + 1):
            before, started = len(receiver.bodies), time.monotonic()
            answers.append(post(client, flagged(number)))
            while len(receiver.bodies) == before:
                time.sleep(0.005)
            latency.append(receiver.bodies[-1][0] - started)
    finally:
        app.extensions["ls_context"].close()
    return latency, answers


def burst(folder: Path, receiver: Receiver, n: int, digest: float) -> tuple[int, float, list[float]]:
    app = create_app(config_for(folder, alerts=f"json+{receiver.url}", alert_digest=digest))
    client, answers = app.test_client(), []
    try:
        started = time.monotonic()
        answers = [post(client, flagged(number)) for number in range(1, n + 1)]
        bodies = receiver.wait_for(lambda found: sum(len(b["alerts"]) for b in found) >= n, timeout=60 + 10 * digest)
        last = receiver.bodies[-1][0] - started
    finally:
        app.extensions["ls_context"].close()
    return len(bodies), last, answers


def without_alerts(folder: Path, n: int) -> list[float]:
    app = create_app(config_for(folder))
    try:
        return [post(app.test_client(), flagged(number)) for number in range(1, n + 1)]
    finally:
        app.extensions["ls_context"].close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--digest", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, Receiver() as slack, Receiver() as hook:
        latency, answered_alone = one_by_one(Path(tmp) / "a", slack, args.flags)
        messages, last, answered_burst = burst(Path(tmp) / "b", hook, args.burst, args.digest)
        plain = without_alerts(Path(tmp) / "c", args.burst)
    ms = lambda values: f"median {1000 * statistics.median(values):.1f} ms, p95 {1000 * sorted(values)[int(0.95 * (len(values) - 1))]:.1f} ms"  # noqa: E731
    print(f"flag -> Slack-style receiver, {args.flags} flags one at a time: median {statistics.median(latency):.3f} s, "
          f"max {max(latency):.3f} s")
    print(f"burst of {args.burst} flags, digest window {args.digest:g} s: {messages} message(s), the last alert in after {last:.2f} s")
    print(f"webhook answer with alerts configured: {ms(answered_burst)}; without alerts: {ms(plain)}")


if __name__ == "__main__":
    main()
