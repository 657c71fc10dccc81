"""Labeled examples the model learns from and may cite: from the guidelines, gold tasks and trusted labelers."""

from __future__ import annotations

from dataclasses import dataclass, field

from ls_context.guidelines import Guidelines


@dataclass(frozen=True)
class Example:
    """A text with its label(s), and how much the model should trust them.

    source: "guideline" (a do-example or edge case), "gold" (a gold task's expected answer),
        "consensus" (what the trusted labelers of a task answered), or "annotation" (a plain
        labeled text, as the benchmarks make).
    why: the guideline's explanation, shown with the example.
    weight: how much the example counts when fitting, in [0, 1] (1 for guidelines and gold).
    task_id: the Label Studio task the text comes from, when it comes from one.
    agreed_by: how many trusted labelers gave these labels when none gave others (0 otherwise).
    data: the whole task data when known, so that rules on other fields can be checked against it.
    """

    text: str
    labels: tuple[str, ...]
    source: str
    why: str = ""
    weight: float = 1.0
    task_id: int | None = None
    agreed_by: int = 0
    data: dict | None = field(default=None, compare=False, hash=False, repr=False)

    def citable(self) -> bool:
        """May a rationale show it? Guideline examples, and labels that at least two trusted labelers agree on.

        Never a gold task (its answer would reach every labeler of it) and never one labeler's lone answer.
        """
        return self.source == "guideline" or (self.source == "consensus" and self.agreed_by >= 2)


def guideline_references(guidelines: Guidelines | None) -> dict[str, list[Example]]:
    """The guidelines' do-examples and edge cases, as labeled examples per control."""
    found: dict[str, list[Example]] = {}
    if guidelines is None:
        return found
    for name, control in guidelines.controls.items():
        examples = found.setdefault(name, [])
        for label in control.labels:
            examples.extend(Example(e.text, (label.value,), "guideline", e.explanation) for e in label.do if e.text)
            examples.extend(Example(c.situation, (c.label,), "guideline", c.why) for c in label.edge_cases)
    return found
