"""Render the guidelines as HTML for Label Studio's project instructions (`expert_instruction`).

Label Studio shows this HTML in the labeling view (it pops up by itself in the label stream).
It strips scripts and inline styles, so everything is plain HTML with table attributes.
"""

from __future__ import annotations

from html import escape

from .schema import ControlGuide, Example, Guidelines, LabelGuide

CELL = 'valign="top" width="50%"'
TABLE = 'border="1" cellpadding="6" cellspacing="0" width="100%"'


def render(guidelines: Guidelines) -> str:
    parts = [
        f"<h2>{escape(guidelines.project)}</h2>",
        f"<p><i>Guidelines version {escape(guidelines.version)}</i></p>",
    ]
    for control in guidelines.controls.values():
        parts.append(_control(control, len(guidelines.controls) > 1))
    if guidelines.rules:
        parts.append(_rules(guidelines))
    parts.append(_flags(guidelines))
    return "\n".join(parts)


def _control(control: ControlGuide, titled: bool) -> str:
    parts = [f"<h3>{escape(control.name)}</h3>"] if titled else []
    for label in control.labels:
        parts.append(_label(label))
    return "\n".join(parts)


def _label(label: LabelGuide) -> str:
    parts = [
        f"<hr><h4>{escape(label.value)}</h4>",
        f"<p><b>Definition:</b> {escape(label.definition)}</p>",
    ]
    if label.why:
        parts.append(f"<p><b>Why it matters:</b> {escape(label.why)}</p>")
    if label.do or label.dont:
        parts.append(
            f"<table {TABLE}><tr><th {CELL}>Do label as {escape(label.value)}</th>"
            f"<th {CELL}>Don't label as {escape(label.value)}</th></tr>"
            f"<tr><td {CELL}>{_examples(label.do)}</td><td {CELL}>{_examples(label.dont)}</td></tr></table>"
        )
    if label.edge_cases:
        rows = "".join(
            f"<tr><td {CELL}>{escape(case.situation)}</td><td {CELL}><b>{escape(case.label)}</b>"
            f"{': ' + escape(case.why) if case.why else ''}</td></tr>"
            for case in label.edge_cases
        )
        parts.append(f"<p><b>Edge cases</b></p><table {TABLE}><tr><th {CELL}>Situation</th><th {CELL}>Label, and why</th></tr>{rows}</table>")
    return "\n".join(parts)


def _examples(examples: tuple[Example, ...]) -> str:
    if not examples:
        return "<i>none yet</i>"
    items = []
    for example in examples:
        item = f"&ldquo;{escape(example.text)}&rdquo;" if example.text else ""
        if example.image:
            item += f'<br><img src="{escape(example.image, quote=True)}" alt="example" height="160">'
        if example.explanation:
            item += f"<br><i>{escape(example.explanation)}</i>"
        items.append(f"<li>{item}</li>")
    return f"<ul>{''.join(items)}</ul>"


def _rules(guidelines: Guidelines) -> str:
    items = "".join(
        f"<li><b>{escape(rule.label)}</b>: {escape(rule.rationale)}"
        f"{' <i>(' + escape(rule.reference) + ')</i>' if rule.reference else ''}</li>"
        for rule in guidelines.rules
    )
    return f"<hr><h3>Decision rules</h3><p>The model applies these; check its rationale against them.</p><ul>{items}</ul>"


def _flags(guidelines: Guidelines) -> str:
    items = "".join(
        f"<li><b>{escape(reason.value)}</b>{': ' + escape(reason.when) if reason.when else ''}</li>"
        for reason in guidelines.flag_reasons
    )
    return (
        "<hr><h3>When in doubt, flag</h3><p>A flag is better than a guess. Pick a reason under "
        "&ldquo;Not sure? Flag it instead of guessing&rdquo;, add a note, and still choose your best label.</p>"
        f"<ul>{items}</ul>"
    )
