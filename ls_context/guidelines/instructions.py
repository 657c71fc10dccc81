"""Render the guidelines as HTML for Label Studio's project instructions (`expert_instruction`).

Label Studio shows this HTML in the labeling view (it pops up by itself in the label stream).
It strips scripts and inline styles, so the template `templates/instructions.html` is plain HTML
with table attributes. Every text from the guidelines file is escaped.
"""

from __future__ import annotations

from jinja2 import Environment, PackageLoader

from .schema import Guidelines

# Autoescape on: definitions and examples are quoted messages, which may hold anything.
TEMPLATES = Environment(loader=PackageLoader("ls_context.guidelines", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)


def render(guidelines: Guidelines) -> str:
    """Definitions, why each label matters, do/don't examples, edge cases, rules, flags and where feedback appears."""
    return TEMPLATES.get_template("instructions.html").render(guidelines=guidelines).strip()
