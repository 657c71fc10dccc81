"""Whom the model learns from: each labeler's weight from their gold answers, and each task's consensus.

A labeler confidently below the gate's bar (overall, or on one label) counts for nothing until they
recover, by the same rule `ls-context gate` applies (`ls_context.quality.gate.confidently_below`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import NamedTuple

from ls_context.quality.gate import DEFAULT_MIN_GOLD_PER_LABEL, confidently_below

from .examples import Example

DEFAULT_BAR = 0.7  # the accuracy bar when the guidelines' gate sets none
NEUTRAL_WEIGHT = 0.5  # (0 + 1) / (0 + 2): a labeler with no gold answers yet, neither trusted nor doubted


class GoldAnswer(NamedTuple):
    """One labeler's checked answer on one gold task: what the gold expected, and whether they gave it."""

    labeler: int
    expected: tuple[str, ...]
    passed: bool


class LabelerTrust:
    """How much each labeler's answers teach the model, from their gold answers on one control.

    A labeler's weight is their smoothed gold accuracy, (right + 1) / (n + 2): 0.5 before any gold.
    It is 0 while they are confidently below the bar, by the rule `ls-context gate` applies: the
    upper end of the Wilson 95% interval of their gold accuracy (judged from `min_gold` answers),
    or of their recall on one gold label (judged from `min_gold_per_label` answers with that label),
    is under `bar`. New gold answers lift the bound, and the weight comes back with it.

    `certified`: where the project has an onboarding course, the labelers it certified; anyone else
    counts for nothing, whatever their gold says (None: no course, nobody needs certifying).

    Fitted attributes: `weights_` (labeler id -> weight, for labelers with gold answers) and
    `below_` (labeler id -> why they count for nothing, for a log line a lead can act on).
    """

    def __init__(self, bar: float = DEFAULT_BAR, min_gold: int = 1, min_gold_per_label: int = DEFAULT_MIN_GOLD_PER_LABEL,
                 certified: set | None = None):
        self.bar = bar
        self.min_gold = max(min_gold, 1)
        self.min_gold_per_label = min_gold_per_label
        self.certified = None if certified is None else set(certified)
        self.weights_: dict = {}
        self.below_: dict = {}

    @classmethod
    def for_gate(cls, gate, certified: set | None = None) -> "LabelerTrust":
        """The trust that applies a project's gate thresholds (the defaults where it sets none)."""
        def setting(name, default):
            value = getattr(gate, name, None)
            return default if value is None else value

        return cls(setting("min_accuracy", DEFAULT_BAR), setting("min_gold_per_labeler", 1),
                   setting("min_gold_per_label", DEFAULT_MIN_GOLD_PER_LABEL), certified)

    @classmethod
    def with_weights(cls, weights: dict, certified: list | None = None) -> "LabelerTrust":
        """The trust a fit computed, read back from a saved model: weights, and who was certified."""
        trust = cls(certified=None if certified is None else set(certified))
        trust.weights_ = dict(weights)
        return trust

    def fit(self, answers: list[GoldAnswer]) -> "LabelerTrust":
        overall = defaultdict(lambda: [0, 0])
        per_label = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        for answer in answers:
            overall[answer.labeler][0] += answer.passed
            overall[answer.labeler][1] += 1
            for label in answer.expected:
                per_label[answer.labeler][label][0] += answer.passed
                per_label[answer.labeler][label][1] += 1
        self.weights_, self.below_ = {}, {}
        for labeler, (right, n) in overall.items():
            reason = self._below(right, n, per_label[labeler])
            if reason:
                self.below_[labeler] = reason
            self.weights_[labeler] = 0.0 if reason else (right + 1) / (n + 2)
        for labeler in set(overall) - (self.certified if self.certified is not None else set(overall)):
            self.below_.setdefault(labeler, "not certified by the onboarding course")
        return self

    def _below(self, right: int, n: int, per_label: dict) -> str | None:
        """Why a labeler is confidently below the bar, or None."""
        if confidently_below(right, n, self.bar, self.min_gold):
            return f"gold accuracy {right} of {n}"
        for label, (label_right, label_n) in sorted(per_label.items()):
            if confidently_below(label_right, label_n, self.bar, self.min_gold_per_label):
                return f"recall on {label} {label_right} of {label_n}"
        return None

    def weight(self, labeler) -> float:
        if self.certified is not None and labeler not in self.certified:
            return 0.0
        return self.weights_.get(labeler, NEUTRAL_WEIGHT)


def consensus(task_id: int, text: str, answers: dict, trust: LabelerTrust) -> Example | None:
    """One task's annotations as one example: the label its labelers' weighted votes choose.

    `answers` maps each labeler to their labels. Each answer votes with its labeler's weight; the
    example's weight is the winner's votes minus all the others' (at most 1, as a gold answer), so
    a lone careful labeler teaches almost as much as gold, and a disputed task teaches little or,
    on a tie, nothing. `agreed_by` counts the labelers behind the label when no trusted one disagrees.
    """
    votes, voters = defaultdict(float), defaultdict(int)
    for labeler, labels in answers.items():
        weight = trust.weight(labeler)
        if weight > 0:
            votes[labels] += weight
            voters[labels] += 1
    if not votes:
        return None
    winner = max(votes, key=lambda labels: (votes[labels], voters[labels], labels))
    weight = min(1.0, 2 * votes[winner] - sum(votes.values()))
    if weight < 1e-9:  # a tie (up to rounding): the task teaches nothing
        return None
    return Example(text, winner, "consensus", weight=weight, task_id=task_id, agreed_by=voters[winner] if len(votes) == 1 else 0)
