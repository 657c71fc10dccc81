"""Hostile requests on the three endpoints Label Studio calls: never a 5xx, never a traceback, nothing stored wrong.

Each body is a real captured request (tests/data) with some of its values replaced by hypothesis:
ids beyond any column, booleans for ids, NaN and Infinity, lone surrogates, Unicode digits, lists
for names, deep nesting; or raw bytes. The same runs on SQLite and on PostgreSQL, whose JSON and
text types refuse more than SQLite does. Whatever the webhook accepted must then process without
a failure: what would fail later is refused at the door.
"""

from __future__ import annotations

import itertools
import json
import traceback
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from harness.config import TEXT_GUIDELINES, WEBHOOK_SECRET, config_for
from harness.postgres import postgres_schema
from ls_context.intake.webhook import SECRET_HEADER
from ls_context.store import Event
from ml_backend import create_app

DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = 300  # per endpoint and database; `bench/faults.py` runs 3,000
SETUP = json.loads((DATA / "ml-setup-request.json").read_text())
PREDICT = json.loads((DATA / "ml-predict-request.json").read_text())
INTERACTIVE = json.loads((DATA / "ml-predict-interactive-request.json").read_text())
WEBHOOK = json.loads((DATA / "webhook-annotation-created.json").read_text())
VERSIONS = itertools.count()
TRICKS = ["²", "٣", "1e999", "0x10", "1:30", "-1", "9" * 30, "\u202e", "<script>alert(1)</script>", "", " ", "null",
          "1.1795882502", "1.", ".1", "1.1.1", "\x00"]


def leaves():
    return st.one_of(
        st.none(), st.booleans(), st.sampled_from([0, -1, 2**31, 2**63, -(2**63) - 1, 10**30]),
        st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(TRICKS),
        st.text(st.characters(codec=None, categories=["Cs", "Nd", "No", "L", "P", "Zs", "Cc"]), max_size=20),
    )


def values():
    return st.recursive(leaves(), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                        max_leaves=8)


def paths(value, prefix=()):
    """Every path to a value in a JSON document, so any of them can be replaced."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


def replaced(document, path, value):
    if not path:
        return value
    copy = json.loads(json.dumps(document))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copy


@st.composite
def mutated(draw, document):
    """The document with one to three values replaced, serialised as a client could (NaN, escaped surrogates), or nested deep."""
    body = fresh(document)
    candidates = paths(body)
    for _ in range(draw(st.integers(1, 3))):
        body = replaced(body, draw(st.sampled_from(candidates)), draw(values()))
        candidates = paths(body)
    text = json.dumps(body, allow_nan=True)
    shape = draw(st.sampled_from(["as is"] * 6 + ["deep", "raw"]))
    if shape == "deep":
        depth = draw(st.sampled_from([33, 200, 900, 5000, 100_000]))
        return ("[" * depth + text + "]" * depth).encode()
    if shape == "raw":
        return draw(st.binary(max_size=200))
    return text.encode("utf-8", "surrogatepass")


def fresh(document):
    """A webhook as a new annotation version each time: a repeat would be a duplicate, and never stored."""
    if not isinstance(document, dict) or not isinstance(document.get("annotation"), dict):
        return document
    copy = json.loads(json.dumps(document))
    copy["annotation"]["updated_at"] = f"2026-11-29T10:00:00.{next(VERSIONS):06d}Z"
    return copy


@contextmanager
def served(database: str, tmp_path):
    """The model server on a store of the given kind, its text-classification project set up as Label Studio would."""
    with (postgres_schema("fuzz") if database == "postgresql" else _sqlite(tmp_path)) as url:
        app = create_app(config_for(tmp_path, db=url, guidelines=TEXT_GUIDELINES))
        client = app.test_client()
        assert client.post("/setup", json=SETUP).status_code == 200
        try:
            yield app, client
        finally:
            app.extensions["ls_context"].close()
            app.extensions["ls_context"].store.engine.dispose()


@contextmanager
def _sqlite(tmp_path):
    yield f"sqlite:///{tmp_path / 'fuzz.sqlite3'}"


def fuzz(client, path: str, documents, headers=None) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=st.one_of(*(mutated(document) for document in documents)))
    def post(body):
        answer = client.post(path, data=body, content_type="application/json", headers=headers or {})
        text = answer.get_data(as_text=True)
        assert answer.status_code < 500, (answer.status_code, text[:300], body[:300])
        assert "Traceback" not in text

    post()


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_fuzzed_webhooks_never_fail_and_what_is_accepted_processes(database, tmp_path):
    with served(database, tmp_path) as (app, client):
        fuzz(client, "/webhook", [WEBHOOK], headers={SECRET_HEADER: WEBHOOK_SECRET})

        backend = app.extensions["ls_context"]
        assert backend.settle(60)
        with backend.store.reading() as session:
            accepted = session.scalar(select(func.count()).select_from(Event))
            failed = session.scalars(select(Event.error).where(Event.status != "done")).all()
        assert accepted > 0  # some mutations are harmless and must still get in
        assert failed == []


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_fuzzed_predictions_and_setups_never_fail(database, tmp_path):
    with served(database, tmp_path) as (app, client):
        fuzz(client, "/predict", [PREDICT, INTERACTIVE])
        fuzz(client, "/setup", [SETUP])
        assert client.post("/predict", json=PREDICT).status_code == 200  # and the server still answers


def test_fuzzed_exports_give_a_report_or_one_clear_line(tmp_path):
    """An export edited by hand or cut short: `ls-context report` writes a report or says why not, never a traceback."""
    from click.testing import CliRunner

    from ls_context.cli import main
    from ls_context.quality.synthetic import simulated_export

    export, gold = simulated_export(6, {"ann": _perfect(), "bob": _perfect()}, ["A", "B"], per_task=2, gold_tasks=2)[:2]
    export_file, gold_file = tmp_path / "export.json", tmp_path / "gold.json"
    gold_file.write_text(json.dumps(gold))
    runner = CliRunner()

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(body=mutated(export))
    def report(body):
        export_file.write_bytes(body)
        answer = runner.invoke(main, ["report", "--export", str(export_file), "--gold", str(gold_file),
                                      "--out", str(tmp_path / "report.html")])
        assert answer.exit_code in (0, 1), answer.output
        assert answer.exception is None or isinstance(answer.exception, SystemExit), \
            "".join(traceback.format_exception(*answer.exc_info)[-4:])
        assert "Traceback" not in answer.output

    report()


def _perfect():
    import numpy as np

    return np.eye(2)
