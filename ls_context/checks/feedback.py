"""The feedback a labeler reads on a gold task: pass or fail, what was expected, and why.

It is kept in the store for that labeler alone and shown on their personal page (`personal`):
one paragraph, no markup, at most a few sentences.
"""

from __future__ import annotations

from ls_context.guidelines import Guidelines
from ls_context.checks.compare import Verdict


def feedback_text(verdicts: list[Verdict], guidelines: Guidelines | None, explanation: str = "") -> str:
    checked = [v for v in verdicts if v.checked]
    if not checked:
        return "Gold task: nothing here could be checked automatically."
    missed = [v for v in checked if not v.passed]
    if not missed:
        return "Gold check PASSED: your answer matches the expected one."
    parts = ["Gold check FAILED."]
    for verdict in missed:
        name = f" on {verdict.control}" if len(checked) > 1 else ""
        parts.append(f"Expected{name}: {verdict.expected}; you gave: {verdict.given}.")
    if explanation:
        # The lead's note on this very task says the most; the general guideline follows it.
        parts.append(f"This task: {explanation.strip().rstrip('.')}.")
    for verdict in missed:
        parts.extend(_guideline_lines(verdict, guidelines))
    return " ".join(parts)


def _guideline_lines(verdict: Verdict, guidelines: Guidelines | None) -> list[str]:
    """The guideline's why for the expected label, and an edge case that involves the label given."""
    control = guidelines.controls.get(verdict.control) if guidelines else None
    label = control.label(verdict.expected) if control else None
    if label is None:
        return []
    lines = [f"Why: {label.why}"] if label.why else []
    given = control.label(verdict.given)
    cases = list(label.edge_cases) + list(given.edge_cases if given else ())
    case = next((c for c in cases if c.label == verdict.expected), None)
    if case:
        lines.append(f"Edge case: {case.situation} -> {case.label}" + (f" ({case.why})" if case.why else "") + ".")
    return lines
