"""Small pages for people: each labeler's own gold feedback, a lead's view of one labeler, and the project dashboard.

A labeler's page is reached through their personal link (their user id signed with a key only the
server holds), so it needs no basic auth and no other labeler can open it; it reloads itself every
few seconds, so a verdict shows up while the labeler moves on in Label Studio. The lead's view needs
the lead's link (`ls-context labelers` prints it), never basic auth, whose credentials Label Studio
shows to all its users in the webhooks' headers.
"""

from __future__ import annotations

import logging
import secrets

from flask import Blueprint, current_app, g, render_template, request

from ls_context.checks.personal import recent_feedback, recent_notices, remember_emails, where_answered
from ls_context.quality.dashboard import dashboard
from ls_context.quality.metrics import wilson_interval

blueprint = Blueprint("pages", __name__)
log = logging.getLogger(__name__)
RECENT = 50
REFRESH_SECONDS = 3
# The pages run no script, load nothing and post no form; their one style sheet is inline, allowed by a
# nonce new on each answer. The link carries a token, so no referrer either, and nothing is cached.
POLICY = "default-src 'none'; style-src {styles}; img-src {images}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@blueprint.after_request
def _protect(response):
    """Every answer of these pages carries the headers, whichever view or error handler made it."""
    response.headers.update(HEADERS)
    styles = f"'nonce-{g.style_nonce}'" if "style_nonce" in g else "'none'"
    response.headers["Content-Security-Policy"] = POLICY.format(styles=styles, images=g.get("images", "'none'"))
    return response


def _style_nonce() -> str:
    """The nonce of this answer's inline style sheet: unguessable, so injected styles stay inert."""
    if "style_nonce" not in g:
        g.style_nonce = secrets.token_urlsafe(16)
    return g.style_nonce


@blueprint.get("/feedback/<token>")
def personal_feedback(token: str):
    labeler_id = current_app.extensions["ls_context"].links().labeler_of(token)
    if labeler_id is None:
        return _page("message.html", 403, title="Link not valid",
                     message="This feedback link is not valid (any more). Ask your lead for your current link.")
    return _feedback_page(labeler_id, personal=True)


@blueprint.get("/labelers/<int:labeler_id>")
def labeler(labeler_id: int):
    if not current_app.extensions["ls_context"].links().is_lead(request.args.get("lead")):
        return _page("message.html", 403, title="Lead access only",
                     message="A labeler's page is for the lead: open it through the lead's link that "
                             "`ls-context labelers --project ID` prints. Labelers read their own feedback "
                             "through their personal link.")
    return _feedback_page(labeler_id, personal=False)


@blueprint.get("/projects/<int:project_id>/dashboard")
def project_dashboard(project_id: int):
    """The lead's dashboard of one project: the gate, open flags, labelers, agreement, gaps, from the store alone."""
    backend = current_app.extensions["ls_context"]
    if not backend.links().is_lead(request.args.get("lead")):
        return _page("message.html", 403, title="Lead access only",
                     message="The project dashboard is for the lead: open it through the link `ls-context labelers "
                             "--project ID` prints.")
    g.images = "data: https: http:"  # the worst region tasks are drawn over their pictures
    _learn_emails(backend)
    page = dashboard(backend.store, project_id, backend.services.guidelines.latest(project_id),
                     backend.config.label_studio_url, nonce=_style_nonce())
    return page, 200


def _learn_emails(backend) -> None:
    """Name labelers by email on the lead's pages: read Label Studio's user list, when it answers within seconds."""
    from ls_context.labelstudio import Gateway

    config = backend.config
    if not (config.label_studio_url and config.label_studio_api_key):
        return
    try:
        remember_emails(backend.store, Gateway.from_config(config, retries=0, timeout=3).users())
    except Exception as error:  # the page works without emails; Label Studio being away is not its problem
        log.info("labelers' emails not read from Label Studio: %s", type(error).__name__)


def _feedback_page(labeler_id: int, personal: bool):
    store = current_app.extensions["ls_context"].store
    person, rows = recent_feedback(store, labeler_id, RECENT)
    notices = recent_notices(store, labeler_id)
    if person is None and not rows and not personal:
        return _page("message.html", 404, title="Unknown labeler", message=f"No labeler {labeler_id} has been seen yet.")
    latest = {}
    for row in rows:  # newest first: keep each answer's newest verdict for the summary
        latest.setdefault(row.annotation_id, row)
    judged = [row for row in latest.values() if row.passed is not None]
    passed = sum(bool(row.passed) for row in judged)
    low, high = wilson_interval(passed, len(judged))
    known = bool(person and person.email)
    name = person.email if known else f"labeler {labeler_id}"
    places = where_answered(store, {row.project_id for row in rows} | {notice.project_id for notice in notices})
    return _page("feedback.html", 200, title=f"{name}: gold feedback", name=name, known=known, rows=rows, passed=passed,
                 judged=len(judged), low=low, high=high, personal=personal, refresh=REFRESH_SECONDS, notices=notices,
                 places=places)


def _page(template: str, status: int, **values):
    """A page from a template; autoescaped (.html), so emails and verdicts from Label Studio stay text."""
    return render_template(template, style_nonce=_style_nonce(), **values), status
