"""Small pages for people: a labeler's recent gold results and current accuracy."""

from __future__ import annotations

from html import escape

from flask import Blueprint, current_app
from sqlalchemy import select

from ls_context.quality.metrics import wilson_interval
from ls_context.store import Check, Labeler

blueprint = Blueprint("pages", __name__)
RECENT = 50


@blueprint.get("/labelers/<int:labeler_id>")
def labeler(labeler_id: int):
    store = current_app.extensions["ls_context"].store
    with store.reading() as session:
        person = session.get(Labeler, labeler_id)
        checks = list(session.scalars(
            select(Check).where(Check.labeler_id == labeler_id, Check.passed.is_not(None)).order_by(Check.id.desc())
        ))
    if person is None and not checks:
        return {"error": f"no labeler {labeler_id} has been seen yet"}, 404
    passed = sum(bool(check.passed) for check in checks)
    low, high = wilson_interval(passed, len(checks))
    name = escape(person.email if person and person.email else f"labeler {labeler_id}")
    summary = (f"<p><b>{passed} of {len(checks)}</b> gold checks passed: {passed / len(checks):.0%} "
               f"(95% interval {low:.0%} to {high:.0%}).</p>") if checks else "<p>No gold checks yet.</p>"
    rows = "".join(
        f"<tr><td>{check.task_id}</td><td>{escape(check.control)}</td><td>{'pass' if check.passed else 'FAIL'}</td>"
        f"<td>{escape(check.expected)}</td><td>{escape(check.given)}</td><td>{check.checked_at:%Y-%m-%d %H:%M}</td></tr>"
        for check in checks[:RECENT]
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{name}: gold results</title></head><body>"
        f"<h1>{name}</h1>{summary}<h2>Recent gold results</h2><table border='1' cellpadding='4'>"
        f"<tr><th>task</th><th>control</th><th>result</th><th>expected</th><th>you gave</th><th>checked</th></tr>{rows}</table>"
        "</body></html>"
    )
