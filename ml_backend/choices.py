"""Suggestions for one Choices control on a text: rules, a learned classifier, reference examples, a rationale.

Gold answers are learned but never shown: a rationale is visible to every labeler of a task, so
reference examples come only from the guidelines and from tasks that trusted labelers agree on,
and a gold task itself is pre-annotated by a second classifier that never saw the gold answers.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

import ls_context.guidelines.rules as rule_engine
from ls_context.guidelines import ControlGuide
from ls_context.labelstudio.label_config import RULES_KEY

from .classifier import TextClassifier
from .examples import Example

CLOSE_CALL = 0.15  # top-two probability gap under which the labeler is told it is a close call
MIN_SIMILARITY = 0.1  # below this cosine similarity a "closest example" would mislead more than help
# An example with another label than the suggestion is shown only when it is this close: on the
# example scenarios, below it such an example agreed with the right answer less than half the time.
STRONG_SIMILARITY = 0.5


@dataclass
class Learned:
    """What one fit produced: a classifier (None when there was nothing to learn) and the indexed references.

    `index` turns texts into TF-IDF rows (the classifier's own vectorizer when it has one, so a
    request transforms its texts once); `matrix` holds the references' rows; `row_of_task` finds
    the reference that comes from a task, so a task is never shown itself as its closest example.
    """

    classifier: object | None
    references: list[Example]
    index: object | None = None
    matrix: object | None = None
    row_of_task: dict = field(default_factory=dict)


@dataclass
class Suggestion:
    labels: list[str]
    score: float
    lines: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # ids of the decision rules that fired


class ChoiceModel:
    """Suggests a choice for one Choices control that labels a text.

    Fitted attributes: `learned_` (from every example), `without_gold_` (from every example but the
    gold answers; None when there were none), `gold_tasks_` (the gold tasks `learned_` learned from:
    their own predictions come from `without_gold_`, so a prediction never hands back a gold answer).
    """

    def __init__(self, name: str, to_name: str, field_name: str, labels: list[str], multilabel: bool,
                 guide: ControlGuide | None, rules: tuple, classifier_factory=None):
        self.name, self.to_name, self.field = name, to_name, field_name
        self.labels, self.multilabel, self.guide, self.rules = labels, multilabel, guide, rules
        self.classifier_factory = classifier_factory or (lambda multilabel: TextClassifier(multilabel=multilabel))
        self.learned_ = Learned(None, [])
        self.without_gold_: Learned | None = None
        self.gold_tasks_: frozenset = frozenset()
        self._lines: dict = {}  # rationale lines that depend only on the guidelines and references, made once

    @property
    def classifier(self):
        """The classifier that predicts every task but the gold ones."""
        return self.learned_.classifier

    def fit(self, examples: list[Example]) -> "ChoiceModel":
        known = [e for e in examples if e.labels and set(e.labels) <= set(self.labels) and e.weight > 0]
        references = [e for e in known if e.citable()]
        self.learned_ = self._learn(known, references)
        self.gold_tasks_ = frozenset(e.task_id for e in known if e.source == "gold" and e.task_id is not None)
        self.without_gold_ = self._learn([e for e in known if e.source != "gold"], references) if self.gold_tasks_ else None
        self._lines = {}
        return self

    def _learn(self, examples: list[Example], references: list[Example]) -> Learned:
        learned = Learned(self._fit_classifier(examples), references)
        if not references:
            return learned
        reference_texts = [e.text for e in references]
        if isinstance(learned.classifier, TextClassifier):
            # The classifier's own features serve for similarity too: one transform per request, not two.
            learned.index = learned.classifier.vectorizer_
            learned.matrix = learned.index.transform(reference_texts)
        else:
            learned.index = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", stop_words="english")
            learned.matrix = learned.index.fit_transform(reference_texts)
        learned.row_of_task = {e.task_id: row for row, e in enumerate(references) if e.task_id is not None}
        return learned

    def _fit_classifier(self, examples: list[Example]):
        """The classifier fitted on the examples, each counted by its weight; None when it cannot learn.

        A classifier brought by the user may not take `sample_weight`: it gets the examples that
        count at least half (a trusted labeler's answer, a consensus, gold, guidelines), unweighted.
        """
        classifier = self.classifier_factory(self.multilabel)
        weighted = takes_sample_weight(classifier)
        if not weighted:
            examples = [e for e in examples if e.weight >= 0.5]
        targets = [list(e.labels) if self.multilabel else e.labels[0] for e in examples]
        if not TextClassifier.can_fit(targets, self.multilabel):
            return None
        texts = [e.text for e in examples]
        if weighted:
            return classifier.fit(texts, targets, sample_weight=[e.weight for e in examples])
        return classifier.fit(texts, targets)

    def learned(self) -> dict:
        """What fitting produced, to be saved and restored without refitting."""
        return {"learned_": self.learned_, "without_gold_": self.without_gold_, "gold_tasks_": self.gold_tasks_}

    def restore(self, learned: dict) -> None:
        for key, value in learned.items():
            setattr(self, key, value)
        self._lines = {}

    def suggest(self, texts: list[str], datas: list[dict], task_ids: list | None = None) -> list[Suggestion]:
        """One suggestion per text; gold tasks the model learned from get theirs from the model without gold."""
        task_ids = list(task_ids) if task_ids is not None else [None] * len(texts)
        gold = [task_id in self.gold_tasks_ for task_id in task_ids]
        if not any(gold):
            return self._suggest_with(self.learned_, texts, datas, task_ids)
        found: list[Suggestion | None] = [None] * len(texts)
        for learned, is_gold in ((self.learned_, False), (self.without_gold_, True)):
            rows = [row for row in range(len(texts)) if gold[row] == is_gold]
            if rows:
                part = self._suggest_with(learned, _pick(texts, rows), _pick(datas, rows), _pick(task_ids, rows))
                for row, suggestion in zip(rows, part):
                    found[row] = suggestion
        return found

    def _suggest_with(self, learned: Learned, texts: list[str], datas: list[dict], task_ids: list) -> list[Suggestion]:
        """The numbers for the whole batch at once, then a few lines of text each."""
        probabilities, features = self._probabilities(learned.classifier, texts)
        closest = self._closest(learned, texts, features, task_ids)
        hits = [rule_engine.fire(self.rules, data, self.field) for data in datas]
        combined = self._combine(probabilities, hits, len(texts))
        if features is not None:
            knows_words = np.diff(features.indptr) > 0
        else:
            knows_words = np.full(len(texts), probabilities is not None)
        ranked = np.argsort(-combined, axis=1)[:, :2]  # the top two labels of every row, for the close-call check
        terms = self._evidence(learned.classifier, features, ranked[:, 0], hits)
        source = classifier_source(learned.classifier)
        suggestions = []
        for row in range(len(texts)):
            if not (knows_words[row] or hits[row]):
                suggestions.append(Suggestion([], 0.0, []))  # no rule and no known word: a guess would only echo label frequencies
            else:
                suggestions.append(self._suggest_one(combined[row], ranked[row], hits[row], terms[row], closest[row], source))
        return suggestions

    def _probabilities(self, classifier, texts: list[str]):
        if classifier is None:
            return None, None
        if hasattr(classifier, "transform"):
            features = classifier.transform(texts)
            raw = classifier.predict_proba_features(features)
        else:
            features, raw = None, np.asarray(classifier.predict_proba(texts))
        # Align the classifier's columns with the config's label order.
        aligned = np.zeros((len(texts), len(self.labels)))
        for column, label in enumerate(classifier.classes_):
            if label in self.labels:
                aligned[:, self.labels.index(label)] = raw[:, column]
        return aligned, features

    def _closest(self, learned: Learned, texts: list[str], features, task_ids: list) -> list[tuple[Example, float] | None]:
        if learned.index is None:
            return [None] * len(texts)
        shared = features is not None and learned.index is getattr(learned.classifier, "vectorizer_", None)
        vectors = features if shared else learned.index.transform(texts)
        # TF-IDF rows are L2-normalised, so the dot product is the cosine similarity.
        similarity = (vectors @ learned.matrix.T).toarray()
        for row, task_id in enumerate(task_ids):
            itself = learned.row_of_task.get(task_id) if task_id is not None else None
            if itself is not None:
                similarity[row, itself] = -1.0  # showing a task its own labels would hand its labeler the others' answers
        best = similarity.argmax(axis=1)
        return [(learned.references[i], similarity[row, i]) if similarity[row, i] >= MIN_SIMILARITY else None
                for row, i in enumerate(best)]

    def _suggest_one(self, combined: np.ndarray, ranked: np.ndarray, hits, terms: list[str],
                     closest: tuple[Example, float] | None, source: str) -> Suggestion:
        if self.multilabel:
            chosen = [self.labels[i] for i in np.flatnonzero(combined >= 0.5)] or [self.labels[int(combined.argmax())]]
            score = float(np.mean([combined[self.labels.index(label)] for label in chosen]))
        else:
            chosen = [self.labels[ranked[0]]]
            score = float(combined[ranked[0]])
        lines = [self._why_line(chosen, score, hits, terms, source)]
        if closest is not None and (closest[1] >= STRONG_SIMILARITY or set(closest[0].labels) & set(chosen)):
            lines.append(self._reference_line(closest[0]))
        close = self._close_call(combined, ranked) if not self.multilabel else None
        if close:
            lines.append(close)
        return Suggestion(chosen, round(score, 4), lines, [hit.rule.id for hit in hits])

    def _combine(self, probabilities, hits: list, n: int) -> np.ndarray:
        """Label probabilities after the rules, one row per text: a rule that fires is a strong prior on its label."""
        k = len(self.labels)
        base = probabilities if probabilities is not None else np.full((n, k), 1.0 / k)
        fired = [row for row in range(n) if hits[row]]
        if not fired:
            return base
        prior = np.zeros((len(fired), k))
        for position, row in enumerate(fired):
            for hit in hits[row]:
                prior[position, self.labels.index(hit.rule.label)] = 1.0
        combined = base.copy()
        if self.multilabel:
            combined[fired] = np.maximum(base[fired], prior)  # a rule switches its label on, whatever the classifier says
        else:
            combined[fired] = (base[fired] + prior / prior.sum(axis=1, keepdims=True)) / 2
        return combined

    def _evidence(self, classifier, features, top: np.ndarray, hits: list) -> list[list[str]]:
        """The words that pushed the classifier towards each text's top label (only where no rule explains it)."""
        if features is None or not hasattr(classifier, "evidence_batch"):
            return [[] for _ in range(len(top))]
        wanted = [self.labels[i] if not hits[row] else None for row, i in enumerate(top)]
        return classifier.evidence_batch(features, wanted)

    def _why_line(self, chosen, score, hits, terms: list[str], source: str) -> str:
        head = f"{', '.join(chosen)} ({score:.0%})"
        if hits:
            hit = hits[0]
            reference = f" [{hit.rule.reference}]" if hit.rule.reference else ""
            evidence = f" Evidence: {', '.join(hit.evidence)}." if hit.evidence else ""
            return f"{head}: rule '{hit.rule.id}': {hit.rule.rationale}{reference}{evidence}"
        said = f" Words that point to it: {', '.join(repr(t) for t in terms)}." if terms else ""
        return f"{head}: learned from {source}.{said}"

    def _reference_line(self, example: Example) -> str:
        key = ("reference", example)
        if key not in self._lines:
            self._lines[key] = self._describe_reference(example)
        return self._lines[key]

    def _describe_reference(self, example: Example) -> str:
        """`Closest guideline example: "..." -> X (why)` or `Closest labeled example: "..." -> X (agreed by 2 labelers)`."""
        text = example.text if len(example.text) <= 90 else example.text[:87] + "..."
        if example.source != "guideline":
            return f'Closest labeled example: "{text}" -> {", ".join(example.labels)} (agreed by {example.agreed_by} labelers)'
        label = self.guide.label(example.labels[0]) if self.guide else None
        why = example.why or (label.why if label is not None else "")
        return f'Closest guideline example: "{text}" -> {", ".join(example.labels)}' + (f" ({why})" if why else "")

    def _close_call(self, combined: np.ndarray, order: np.ndarray) -> str | None:
        if len(order) < 2 or combined[order[0]] - combined[order[1]] >= CLOSE_CALL:
            return None
        first, second = self.labels[order[0]], self.labels[order[1]]
        line = f"Close call between {first} ({combined[order[0]]:.0%}) and {second} ({combined[order[1]]:.0%})."
        key = ("edge case", first, second)
        if key not in self._lines:
            self._lines[key] = self._edge_case(first, second)
        case = self._lines[key]
        return f"{line} Edge case: {case}" if case else line + " Flag it if the guidelines do not settle it."

    def _edge_case(self, first: str, second: str) -> str | None:
        """The guidelines' edge case between the two labels: one filed under either that points to the other, first."""
        if self.guide is None:
            return None
        cases = [(value, case) for value in (first, second) for case in (getattr(self.guide.label(value), "edge_cases", ()))]
        between = [case for value, case in cases if case.label in (first, second) and case.label != value]
        either = [case for _, case in cases if case.label in (first, second)]
        for case in between + either:
            return f"{case.situation} -> {case.label}" + (f" ({case.why})" if case.why else "")
        return None

    def result(self, suggestion: Suggestion) -> dict:
        result = {
            "from_name": self.name, "to_name": self.to_name, "type": "choices",
            "value": {"choices": suggestion.labels}, "score": suggestion.score,
        }
        if suggestion.rules:
            result[RULES_KEY] = suggestion.rules
        return result


def _pick(values: list, rows: list[int]) -> list:
    return [values[row] for row in rows]


def classifier_source(classifier) -> str:
    """How the rationale names what the classifier learned from."""
    return "labeled examples" if isinstance(classifier, TextClassifier) else "the project's model"


def takes_sample_weight(classifier) -> bool:
    """Does the classifier's `fit` take `sample_weight`? Classifiers brought by users may not."""
    try:
        return "sample_weight" in inspect.signature(classifier.fit).parameters
    except (TypeError, ValueError, AttributeError):
        return False
