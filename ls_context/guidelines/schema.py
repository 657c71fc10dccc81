"""Guidelines as code, the data: what every label means, the decision rules, flag reasons and gate.

One versioned YAML file per project holds, per control of the label config, each label's definition,
why it matters, do/don't examples and edge cases; decision rules over the task data; the reasons a
labeler may flag a task for; and the thresholds of the pilot gate. `loader` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import LSContextError

DEFAULT_FLAG_REASONS = {
    "Unsure": "You read the definitions and still cannot choose between two labels.",
    "Guideline unclear": "The guidelines do not cover this case, or two rules contradict each other.",
    "Needs domain expert": "Deciding needs knowledge the guidelines do not give (legal, medical, technical).",
}
COMPARISONS = ("gt", "gte", "lt", "lte", "eq")
# A pre-selected answer anchors the labeler: the model pre-selects only labels it gets right this often.
DEFAULT_MIN_PRECISION = 0.85


class GuidelinesError(LSContextError):
    """A guidelines file that cannot be used; the message lists every problem, one per line."""


@dataclass(frozen=True)
class Example:
    text: str = ""
    image: str = ""
    explanation: str = ""


@dataclass(frozen=True)
class EdgeCase:
    situation: str
    label: str
    why: str = ""
    line: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True)
class LabelGuide:
    value: str
    definition: str
    why: str = ""
    do: tuple[Example, ...] = ()
    dont: tuple[Example, ...] = ()
    edge_cases: tuple[EdgeCase, ...] = ()

    @property
    def hint(self) -> str:
        """The one-paragraph text a labeler sees when hovering the label."""
        return f"{self.definition} Why it matters: {self.why}" if self.why else self.definition


@dataclass(frozen=True)
class ControlGuide:
    """One control's labels, and `min_precision`: how often a pre-selected answer must be right.

    0 pre-selects the top label whatever the calibration says (wherever a rule fires or a word is known).
    """

    name: str
    labels: tuple[LabelGuide, ...]
    min_precision: float = DEFAULT_MIN_PRECISION

    def label(self, value: str) -> LabelGuide | None:
        return next((label for label in self.labels if label.value == value), None)


@dataclass(frozen=True)
class Condition:
    """A test on task data: a leaf (keywords, regex or a numeric comparison on one field) or any/all/not of others."""

    field: str = ""
    keywords: tuple[str, ...] = ()
    regex: str = ""
    compare: tuple[str, float] | None = None
    any: tuple["Condition", ...] = ()
    all: tuple["Condition", ...] = ()
    negate: "Condition | None" = None


@dataclass(frozen=True)
class Rule:
    id: str
    control: str
    label: str
    when: Condition
    rationale: str
    reference: str = ""


@dataclass(frozen=True)
class FlagReason:
    value: str
    when: str = ""


@dataclass(frozen=True)
class GateThresholds:
    """The pilot gate's bars; None leaves a criterion out.

    `min_gold_per_label`: gold answers a labeler needs on one label before their recall on it is
    judged against `min_accuracy` (default 5 when judged); also the matched gold regions needed
    before a labeler's mean IoU is judged against `min_region_iou`.
    `match`: the gold check's pass mark per control name or control type (for regions, the IoU at
    which two regions match); the webhook's feedback, the report and the gate all read it.
    """

    min_accuracy: float | None = None
    min_alpha: float | None = None
    max_flag_rate: float | None = None
    min_gold_per_labeler: int | None = None
    min_gold_per_label: int | None = None
    min_region_iou: float | None = None
    match: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Onboarding:
    """The course a labeler takes before real data (`ls-context onboard`), and the bar that certifies them.

    Certified: at least `min_tasks` course tasks answered, every label of the course among them,
    and `min_accuracy` of the answers right. `gold_share` of the project's gold joins the course.
    """

    min_accuracy: float = 0.9
    min_tasks: int = 15
    gold_share: float = 0.2


@dataclass(frozen=True)
class Guidelines:
    project: str
    version: str
    controls: dict[str, ControlGuide]
    rules: tuple[Rule, ...] = ()
    flag_reasons: tuple[FlagReason, ...] = field(
        default_factory=lambda: tuple(FlagReason(reason, when) for reason, when in DEFAULT_FLAG_REASONS.items())
    )
    gate: GateThresholds = field(default_factory=GateThresholds)
    onboarding: Onboarding = field(default_factory=Onboarding)

    def hints(self) -> dict[str, dict[str, str]]:
        """control name -> label value -> hint text."""
        return {name: {label.value: label.hint for label in control.labels} for name, control in self.controls.items()}
