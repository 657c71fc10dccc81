"""The words of a rationale: what the labeler reads beside a suggestion, or instead of one.

Two kinds. "Suggested: X (92%)" when the model pre-selects X, with the rule or the words behind it.
"Not sure: X or Y" when it does not, with what a labeler needs to choose: both definitions, the
edge case or rule that separates them, and the closest reference example of each.
"""

from __future__ import annotations

from ls_context.guidelines import ControlGuide

from .examples import Example

MAX_EXAMPLE = 90  # characters of a reference example shown; the labeler needs its gist, not all of it


class Rationale:
    """Writes the lines for one control; lines that depend only on the guidelines are made once."""

    def __init__(self, guide: ControlGuide | None, source: str):
        self.guide = guide
        self.source = source  # how the learned part is named: "labeled examples" or "the project's model"
        self._made: dict = {}

    def suggested(self, chosen: list[str], probability: float, hits: list, terms: list[str]) -> str:
        head = f"Suggested: {', '.join(chosen)} ({probability:.0%})"
        if hits:
            return f"{head}. {_rule_said(hits[0])}"
        said = f" Words that point to it: {', '.join(repr(t) for t in terms)}." if terms else ""
        return f"{head}, learned from {self.source}.{said}"

    def not_sure(self, top: list[str], hits: list, terms: list[str], knows_text: bool) -> str:
        head = f"Not sure: {', '.join(top[:-1])} or {top[-1]}." if len(top) > 1 else f"Not sure: {top[0]}."
        if hits:
            return f"{head} {_rule_said(hits[0])}"
        if not knows_text:
            return f"{head} No rule fires and the model knows no word of this text; read the definitions."
        said = f" Words that point to {top[0]}: {', '.join(repr(t) for t in terms)}." if terms else ""
        return head + said

    def definitions(self, labels: list[str]) -> str | None:
        return self._once(("definitions", *labels), lambda: self._definitions(labels))

    def _definitions(self, labels: list[str]) -> str | None:
        guides = [self.guide.label(value) for value in labels] if self.guide else []
        parts = [f"{guide.value}: {guide.definition.rstrip('.')}." for guide in guides if guide is not None]
        return " ".join(parts) or None

    def reference(self, example: Example) -> str:
        return self._once(("reference", example), lambda: _describe(example, self.guide))

    def edge_case(self, first: str, second: str) -> str | None:
        """The guidelines' edge case between the two labels: one filed under either that points to the other, first."""
        return self._once(("edge case", first, second), lambda: self._edge_case(first, second))

    def _edge_case(self, first: str, second: str) -> str | None:
        if self.guide is None:
            return None
        cases = [(value, case) for value in (first, second) for case in getattr(self.guide.label(value), "edge_cases", ())]
        between = [case for value, case in cases if case.label in (first, second) and case.label != value]
        either = [case for _, case in cases if case.label in (first, second)]
        for case in between + either:
            return f"Edge case: {case.situation} -> {case.label}" + (f" ({case.why})" if case.why else "")
        return None

    def _once(self, key, make):
        if key not in self._made:
            self._made[key] = make()
        return self._made[key]


def _rule_said(hit) -> str:
    reference = f" [{hit.rule.reference}]" if hit.rule.reference else ""
    evidence = f" Evidence: {', '.join(hit.evidence)}." if hit.evidence else ""
    return f"Rule '{hit.rule.id}' points to {hit.rule.label}: {hit.rule.rationale}{reference}{evidence}"


def _describe(example: Example, guide: ControlGuide | None) -> str:
    """`Closest guideline example: "..." -> X (why)` or `Closest labeled example: "..." -> X (agreed by 2 labelers)`."""
    text = example.text if len(example.text) <= MAX_EXAMPLE else example.text[:MAX_EXAMPLE - 3] + "..."
    if example.source != "guideline":
        return f'Closest labeled example: "{text}" -> {", ".join(example.labels)} (agreed by {example.agreed_by} labelers)'
    label = guide.label(example.labels[0]) if guide else None
    why = example.why or (label.why if label is not None else "")
    return f'Closest guideline example: "{text}" -> {", ".join(example.labels)}' + (f" ({why})" if why else "")
