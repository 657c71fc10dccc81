"""HTML built from exports, payloads and guidelines shows their text as text, never as markup.

The quality report, the labeling instructions and the server's feedback pages are rendered with
autoescape on; the pages also forbid scripts, frames and foreign loads by Content-Security-Policy.
Hostile values (script tags, event handlers, broken attributes) go into every field a user controls.
"""

from __future__ import annotations

import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ls_context.cli import main
from ls_context.guidelines import (
    Condition, ControlGuide, EdgeCase, Example, FlagReason, Guidelines, LabelGuide, Rule,
)
from ls_context.quality.export import build
from ls_context.quality.metrics import compute
from ls_context.quality.synthetic import confusion, simulated_export

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
ATTRIBUTE = "x' onmouseover='alert(1)"  # breaks out of a single-quoted attribute if not escaped
EVIL = [SCRIPT, IMAGE, ATTRIBUTE, '"><svg onload=alert(1)>']
# Every tag the report, the instructions and the pages use; anything else came from the data.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "h4", "p", "i", "b", "br", "hr", "ul", "li",
    "div", "figure", "figcaption", "table", "tr", "th", "td", "svg", "text", "rect", "line", "polyline", "circle",
    "img",  # the instructions' own example images; their src is checked apart
}


class Tags(HTMLParser):
    """The tags, event-handler attributes and text of a page, as a browser would read them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def handlers(self) -> list[str]:
        return [name for _, attrs in self.tags for name in attrs if name.startswith("on")]


def assert_inert(html: str, shown: list[str] = ()) -> Tags:
    """No markup came from the data: only our tags, no event handlers, no unescaped payload; `shown` is visible as text."""
    page = Tags(html)
    assert page.names() <= ALLOWED_TAGS, page.names() - ALLOWED_TAGS
    assert not page.handlers(), page.handlers()
    assert "<script" not in html.lower() and "<img src=x" not in html and "<svg onload" not in html
    text = "".join(page.text)
    for value in shown:
        assert value in text, value
    return page


# -- the quality report --------------------------------------------------------------------------------

def hostile_export(evil: list[str]) -> tuple[list, list]:
    """A small export whose task ids, emails, labels, control, flag reasons, notes, types and rule ids are `evil`."""
    first, second = evil[0], evil[1 % len(evil)]
    labels = [f"{first} A", f"{second} B", "C"]
    export, gold, _ = simulated_export(
        24, {f"{first}@example.com": confusion(3, 0.6, swap=(0, 1), swap_rate=0.8), f"{second}@example.com": confusion(3, 0.7)},
        labels, per_task=2, gold_tasks=8, control=f"{first} control", seed=3, flag_rate=0.4,
    )
    for task in export + gold:
        task["id"] = f"{second}{task['id']}"
    for task in export:
        for annotation in task["annotations"]:
            for item in annotation["result"]:
                if item["from_name"] == "ls_flag":
                    item["value"]["choices"] = [first]
            annotation["result"].append({"from_name": "ls_flag_note", "to_name": "text", "type": "textarea", "value": {"text": [second]}})
            annotation["result"].append({"from_name": "other", "type": first, "value": {}})
        task["predictions"] = [{"result": [dict(annotation["result"][0], ls_rules=[second])]} for annotation in task["annotations"][:1]]
    return export, gold


def test_the_written_report_shows_every_export_field_as_text(tmp_path):
    export, gold = hostile_export(EVIL)
    (tmp_path / "export.json").write_text(json.dumps(export))
    (tmp_path / "gold.json").write_text(json.dumps(gold))

    result = CliRunner().invoke(main, ["report", "--export", str(tmp_path / "export.json"), "--gold", str(tmp_path / "gold.json"),
                                       "--out", str(tmp_path / "report.html")])

    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text()
    page = assert_inert(html, shown=[f"{SCRIPT}@example.com", f"{IMAGE} B", f"{SCRIPT} control", f"{IMAGE}1"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert {"svg", "table"} <= page.names()  # the plots and tables are there, with the hostile names in them


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(evil=st.lists(st.text(min_size=1, max_size=20), min_size=2, max_size=2, unique=True))
def test_any_text_in_an_export_stays_text_in_the_report(evil):
    from ls_context.quality.report import render

    export, gold = hostile_export(evil)

    assert_inert(render(compute(build(export, gold))))


# -- the labeling instructions -------------------------------------------------------------------------

def guidelines_of(texts: list[str]) -> Guidelines:
    """Guidelines whose every text is taken from `texts`, in turn."""
    pick = iter(texts * 20).__next__
    value = pick()
    label = LabelGuide(
        value=value, definition=pick(), why=pick(),
        do=(Example(text=pick(), explanation=pick()), Example(image=pick())), dont=(Example(text=pick()),),
        edge_cases=(EdgeCase(situation=pick(), label=value, why=pick()),),
    )
    controls = {pick(): ControlGuide(pick(), (label,)), "second": ControlGuide("second", (LabelGuide("x", "y"),))}
    rule = Rule(id=pick(), control="second", label=pick(), when=Condition(keywords=("x",)), rationale=pick(), reference=pick())
    return Guidelines(project=pick(), version=pick(), controls=controls, rules=(rule,), flag_reasons=(FlagReason(pick(), pick()),))


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.one_of(st.sampled_from(EVIL), st.text(min_size=1, max_size=30)), min_size=1, max_size=8))
def test_any_text_in_the_guidelines_stays_text_in_the_instructions(texts):
    from ls_context.guidelines.instructions import render

    page = assert_inert(render(guidelines_of(texts)))

    sources = [attrs.get("src") for tag, attrs in page.tags if tag == "img"]
    assert len(sources) == 1 and sources[0] in texts  # the example image, its src whole and nothing else


# -- every template autoescapes ------------------------------------------------------------------------

TEMPLATES = sorted((ROOT / "ls_context").glob("*/templates/*.html")) + sorted((ROOT / "ml_backend" / "templates").glob("*.html"))


def escapes(environment, name: str) -> bool:
    """Whether a Jinja environment autoescapes the template `name` (its setting is a flag or a function of the name)."""
    setting = environment.autoescape
    return setting(name) if callable(setting) else setting is True


def test_every_environment_autoescapes_every_template(app):
    from ls_context.guidelines.instructions import TEMPLATES as instructions
    from ls_context.quality.report import TEMPLATES as report

    assert escapes(instructions, "instructions.html") and escapes(report, "report.html")
    assert all(escapes(app.jinja_env, path.name) for path in TEMPLATES if path.parent.parent.name == "ml_backend")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: path.name)
def test_templates_mark_only_their_own_literals_safe_and_run_no_script(path):
    text = path.read_text()

    for operand in re.findall(r"(\S+)\s*\|\s*safe\b", text):
        assert operand.endswith(("'", '"')), f"{path.name}: '{operand} | safe' marks data safe"
    assert "<script" not in text.lower() and not re.search(r"{%-?\s*autoescape\s+false", text)


# -- the server's pages --------------------------------------------------------------------------------

@pytest.fixture
def app(tmp_path):
    from harness.config import config_for
    from ml_backend import create_app

    app = create_app(config_for(tmp_path))
    yield app
    app.extensions["ls_context"].close()


def add_feedback(app, labeler_id: int, email: str, texts: list[str]) -> None:
    from ls_context.store import Feedback, Labeler

    with app.extensions["ls_context"].store.session() as session:
        person = session.get(Labeler, labeler_id)
        if person is None:
            session.add(Labeler(id=labeler_id, email=email))
        else:
            person.email = email
        for index, text in enumerate(texts):
            session.add(Feedback(project_id=1, task_id=2, annotation_id=labeler_id * 1000 + index, updated_at=text[:40],
                                 labeler_id=labeler_id, passed=bool(index % 2), text=text))


def policy_of(response) -> dict[str, str]:
    directives = [part.strip().split(None, 1) for part in response.headers["Content-Security-Policy"].split(";")]
    return {parts[0]: parts[1] if len(parts) > 1 else "" for parts in directives}


def assert_protected(response) -> dict[str, str]:
    """The page's headers: a strict policy with no script, frame, form or base allowed, and no sniffing."""
    policy = policy_of(response)
    assert policy["default-src"] == "'none'" and "script-src" not in policy  # scripts fall back to 'none'
    assert (policy["base-uri"], policy["form-action"], policy["frame-ancestors"]) == ("'none'", "'none'", "'none'")
    assert "unsafe-inline" not in policy["style-src"] and "unsafe-eval" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    return policy


def test_each_page_sends_a_strict_policy_whose_nonce_is_its_style_sheets(app):
    from ls_context.checks.personal import Links

    add_feedback(app, 4, "ann@example.com", ["Expected: A; you gave: B."])
    links, client = Links.of(app.extensions["ls_context"].store), app.test_client()

    pages = {
        "own feedback": client.get(f"/feedback/{links.labeler_token(4)}"),
        "lead's view": client.get(f"/labelers/4?lead={links.lead_token()}"),
        "forged link": client.get("/feedback/not-a-token"),
        "no lead link": client.get("/labelers/4"),
        "unknown labeler": client.get(f"/labelers/99?lead={links.lead_token()}"),
    }

    assert [page.status_code for page in pages.values()] == [200, 200, 403, 403, 404]
    nonces = set()
    for name, page in pages.items():
        policy = assert_protected(page)
        [nonce] = re.fullmatch(r"'nonce-([A-Za-z0-9_-]{16,})'", policy["style-src"]).groups()
        styles = [attrs for tag, attrs in Tags(page.get_data(as_text=True)).tags if tag == "style"]
        assert styles == [{"nonce": nonce}], name
        nonces.add(nonce)
    assert len(nonces) == len(pages)  # a new nonce on each answer


def test_the_pages_show_a_hostile_email_and_verdict_as_text(app):
    from ls_context.checks.personal import Links

    add_feedback(app, 4, f"{SCRIPT}@example.com", EVIL)
    links, client = Links.of(app.extensions["ls_context"].store), app.test_client()

    for page in (client.get(f"/feedback/{links.labeler_token(4)}"), client.get(f"/labelers/4?lead={links.lead_token()}")):
        assert page.status_code == 200
        assert_protected(page)
        assert_inert(page.get_data(as_text=True), shown=[f"{SCRIPT}@example.com", *EVIL])


LABELER_IDS = itertools.count(1000)  # each example its own labeler: the app (and its store) is shared by all


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(email=st.text(max_size=40), texts=st.lists(st.text(min_size=1, max_size=60), min_size=1, max_size=3))
def test_any_email_or_verdict_stays_text_on_the_lead_page(app, email, texts):
    from ls_context.checks.personal import Links

    labeler_id = next(LABELER_IDS)
    add_feedback(app, labeler_id, email, texts)

    page = app.test_client().get(f"/labelers/{labeler_id}?lead={Links.of(app.extensions['ls_context'].store).lead_token()}")

    assert page.status_code == 200
    assert_inert(page.get_data(as_text=True))
