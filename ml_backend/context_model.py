"""The default context model: guideline rules + a learned classifier + reference examples.

For each classification control of a project it suggests a label with a score and a short
rationale: the rule that fired (or the words that pushed the classifier), the closest reference
example with the guideline's "why", and, when the top two labels are close, the edge case that
separates them. For span controls on text it marks what the rules' keywords and patterns match.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer

import ls_context.guidelines.rules as rule_engine
from ls_context.errors import LSContextError
from ls_context.guidelines import ControlGuide, Guidelines
from ls_context.labelstudio.label_config import INJECTED_CONTROLS, RATIONALE, REGION_RATIONALE, RULES_KEY

from .classifier import TextClassifier

log = logging.getLogger(__name__)
TEXT_OBJECTS = {"text", "hypertext"}
CLOSE_CALL = 0.15  # top-two probability gap under which the labeler is told it is a close call
MIN_SIMILARITY = 0.1  # below this cosine similarity a "closest example" would mislead more than help
# An example with another label than the suggestion is shown only when it is this close: on the
# example scenarios, below it such an example agreed with the right answer less than half the time.
STRONG_SIMILARITY = 0.5
TAGS = re.compile(r"<[^>]+>")


class CannotPredict(Exception):
    """This task cannot get a prediction (missing field, not text); the reason is logged, never a 500."""


@dataclass(frozen=True)
class Example:
    """A text with its label(s): from the guidelines, a gold task or a labeler's annotation."""

    text: str
    labels: tuple[str, ...]
    source: str
    why: str = ""


@dataclass
class Suggestion:
    labels: list[str]
    score: float
    lines: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)  # ids of the decision rules that fired


class ChoiceModel:
    """Suggests a choice for one Choices control that labels a text."""

    def __init__(self, name: str, to_name: str, field_name: str, labels: list[str], multilabel: bool,
                 guide: ControlGuide | None, rules: tuple, classifier_factory=None):
        self.name, self.to_name, self.field = name, to_name, field_name
        self.labels, self.multilabel, self.guide, self.rules = labels, multilabel, guide, rules
        self.classifier_factory = classifier_factory or (lambda multilabel: TextClassifier(multilabel=multilabel))
        self.classifier = None
        self.references: list[Example] = []
        self.reference_index = None
        self._lines: dict = {}  # rationale lines that depend only on the guidelines and references, made once

    def fit(self, examples: list[Example]) -> "ChoiceModel":
        known = [e for e in examples if e.labels and set(e.labels) <= set(self.labels)]
        targets = [list(e.labels) if self.multilabel else e.labels[0] for e in known]
        self.classifier = None
        if TextClassifier.can_fit(targets, self.multilabel):
            self.classifier = self.classifier_factory(self.multilabel).fit([e.text for e in known], targets)
        self.references = [e for e in known if e.source in ("guideline", "gold")]
        self.reference_index = None
        if self.references:
            reference_texts = [e.text for e in self.references]
            if isinstance(self.classifier, TextClassifier):
                # The classifier's own features serve for similarity too: one transform per request, not two.
                self.reference_index = self.classifier.vectorizer_
                self.reference_matrix = self.reference_index.transform(reference_texts)
            else:
                self.reference_index = TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", stop_words="english",
                )
                self.reference_matrix = self.reference_index.fit_transform(reference_texts)
        return self

    def learned(self) -> dict:
        """What fitting produced, to be saved and restored without refitting."""
        return {key: getattr(self, key, None) for key in ("classifier", "references", "reference_index", "reference_matrix")}

    def restore(self, learned: dict) -> None:
        for key, value in learned.items():
            setattr(self, key, value)

    def suggest(self, texts: list[str], datas: list[dict]) -> list[Suggestion]:
        """One suggestion per text: the numbers for the whole batch at once, then a few lines of text each."""
        probabilities, features = self._probabilities(texts)
        closest = self._closest(texts, features)
        hits = [rule_engine.fire(self.rules, data, self.field) for data in datas]
        combined = self._combine(probabilities, hits, len(texts))
        if features is not None:
            knows_words = np.diff(features.indptr) > 0
        else:
            knows_words = np.full(len(texts), probabilities is not None)
        ranked = np.argsort(-combined, axis=1)[:, :2]  # the top two labels of every row, for the close-call check
        terms = self._evidence(features, ranked[:, 0], hits)
        suggestions = []
        for row in range(len(texts)):
            if not (knows_words[row] or hits[row]):
                suggestions.append(Suggestion([], 0.0, []))  # no rule and no known word: a guess would only echo label frequencies
            else:
                suggestions.append(self._suggest_one(combined[row], ranked[row], hits[row], terms[row], closest[row]))
        return suggestions

    def _probabilities(self, texts: list[str]):
        if self.classifier is None:
            return None, None
        if hasattr(self.classifier, "transform"):
            features = self.classifier.transform(texts)
            raw = self.classifier.predict_proba_features(features)
        else:
            features, raw = None, np.asarray(self.classifier.predict_proba(texts))
        # Align the classifier's columns with the config's label order.
        aligned = np.zeros((len(texts), len(self.labels)))
        for column, label in enumerate(self.classifier.classes_):
            if label in self.labels:
                aligned[:, self.labels.index(label)] = raw[:, column]
        return aligned, features

    def _closest(self, texts: list[str], features) -> list[tuple[Example, float] | None]:
        if self.reference_index is None:
            return [None] * len(texts)
        shared = features is not None and self.reference_index is getattr(self.classifier, "vectorizer_", None)
        vectors = features if shared else self.reference_index.transform(texts)
        # TF-IDF rows are L2-normalised, so the dot product is the cosine similarity.
        similarity = (vectors @ self.reference_matrix.T).toarray()
        best = similarity.argmax(axis=1)
        return [(self.references[i], similarity[row, i]) if similarity[row, i] >= MIN_SIMILARITY else None
                for row, i in enumerate(best)]

    def _suggest_one(self, combined: np.ndarray, ranked: np.ndarray, hits, terms: list[str],
                     closest: tuple[Example, float] | None) -> Suggestion:
        if self.multilabel:
            chosen = [self.labels[i] for i in np.flatnonzero(combined >= 0.5)] or [self.labels[int(combined.argmax())]]
            score = float(np.mean([combined[self.labels.index(label)] for label in chosen]))
        else:
            chosen = [self.labels[ranked[0]]]
            score = float(combined[ranked[0]])
        lines = [self._why_line(chosen, score, hits, terms)]
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

    def _evidence(self, features, top: np.ndarray, hits: list) -> list[list[str]]:
        """The words that pushed the classifier towards each text's top label (only where no rule explains it)."""
        if features is None or not hasattr(self.classifier, "evidence_batch"):
            return [[] for _ in range(len(top))]
        wanted = [self.labels[i] if not hits[row] else None for row, i in enumerate(top)]
        return self.classifier.evidence_batch(features, wanted)

    def _why_line(self, chosen, score, hits, terms: list[str]) -> str:
        head = f"{', '.join(chosen)} ({score:.0%})"
        if hits:
            hit = hits[0]
            reference = f" [{hit.rule.reference}]" if hit.rule.reference else ""
            evidence = f" Evidence: {', '.join(hit.evidence)}." if hit.evidence else ""
            return f"{head}: rule '{hit.rule.id}': {hit.rule.rationale}{reference}{evidence}"
        said = f" Words that point to it: {', '.join(repr(t) for t in terms)}." if terms else ""
        return f"{head}: learned from {self.classifier_source()}.{said}"

    def classifier_source(self) -> str:
        return "labeled examples" if isinstance(self.classifier, TextClassifier) else "the project's model"

    def _reference_line(self, example: Example) -> str:
        key = ("reference", example)
        if key not in self._lines:
            self._lines[key] = self._describe_reference(example)
        return self._lines[key]

    def _describe_reference(self, example: Example) -> str:
        text = example.text if len(example.text) <= 90 else example.text[:87] + "..."
        why = ""
        label = self.guide.label(example.labels[0]) if self.guide else None
        if example.why:
            why = f" ({example.why})"
        elif label is not None and label.why:
            why = f" ({label.why})"
        return f'Closest {example.source} example: "{text}" -> {", ".join(example.labels)}{why}'

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


class SpanModel:
    """Marks spans of text that the guidelines' keyword and pattern rules match, each with its rationale."""

    def __init__(self, name: str, to_name: str, field_name: str, tag: str, labels: list[str], rules: tuple, region_rationale: bool):
        self.name, self.to_name, self.field, self.tag = name, to_name, field_name, tag
        self.labels, self.rules, self.region_rationale = labels, rules, region_rationale

    def results(self, text: str) -> list[dict]:
        results = []
        for rule in self.rules:
            for number, (start, end) in enumerate(rule_engine.spans(rule.when, text)):
                region_id = f"{rule.id}-{start}-{end}"[:40]
                value = {"start": start, "end": end, "text": text[start:end], self.tag: [rule.label]}
                results.append({"id": region_id, "from_name": self.name, "to_name": self.to_name,
                                "type": self.tag, "value": value, "score": 0.9})
                if self.region_rationale:
                    reference = f" [{rule.reference}]" if rule.reference else ""
                    results.append({"id": region_id, "from_name": REGION_RATIONALE, "to_name": self.to_name,
                                    "type": "textarea", "value": {"text": [f"{rule.rationale}{reference}"]}})
        return results


class ContextModel:
    """Everything the backend suggests for one project, fitted once and reused for every request."""

    def __init__(self, label_config: str, guidelines: Guidelines | None = None, classifier_factory=None):
        from label_studio_sdk.label_interface import LabelInterface

        self.label_config = label_config
        self.guidelines = guidelines
        try:
            self.interface = LabelInterface(label_config)
        except Exception as error:  # the SDK raises several unrelated types for a bad config
            raise LSContextError(f"the label config cannot be read: {error}") from None
        self.objects = {obj.name: obj for obj in self.interface.objects}
        self.control_names = {control.name for control in self.interface.controls}
        self.has_rationale = RATIONALE in self.control_names
        self.choices: list[ChoiceModel] = []
        self.spans: list[SpanModel] = []
        self.examples_used = 0
        self._verdicts: dict[str, list[str]] = {}
        for control in self.interface.controls:
            self._add_control(control, classifier_factory)

    def _add_control(self, control, classifier_factory) -> None:
        if control.name in INJECTED_CONTROLS or not control.to_name:
            return
        obj = self.objects.get(control.to_name[0])
        if obj is None or obj.tag.lower() not in TEXT_OBJECTS or not obj.value:
            return
        field_name = obj.value.lstrip("$")
        rules = tuple(rule for rule in (self.guidelines.rules if self.guidelines else ()) if rule.control == control.name)
        labels = list(control.labels or [])
        guide = self.guidelines.controls.get(control.name) if self.guidelines else None
        tag = control.tag.lower()
        if tag == "choices":
            multilabel = control.attr.get("choice", "single") == "multiple"
            self.choices.append(ChoiceModel(control.name, obj.name, field_name, labels, multilabel, guide, rules, classifier_factory))
        elif tag in ("labels", "hypertextlabels") and rules:
            self.spans.append(SpanModel(control.name, obj.name, field_name, tag, labels, rules,
                                        REGION_RATIONALE in self.control_names))

    def fit(self, examples_by_control: dict[str, list[Example]]) -> "ContextModel":
        guideline_examples = guideline_references(self.guidelines)
        self.examples_used = 0
        for model in self.choices:
            examples = guideline_examples.get(model.name, []) + examples_by_control.get(model.name, [])
            self.examples_used += len(examples)
            model.fit(examples)
        return self

    def predict(self, tasks: list[dict]) -> list[dict | None]:
        """One prediction per task, in order; None where the task cannot get one."""
        # TF-IDF features are finite by construction: skip scikit-learn's per-call check of every value.
        with sklearn.config_context(assume_finite=True):
            return self._predict(tasks)

    def _predict(self, tasks: list[dict]) -> list[dict | None]:
        rows = []
        for task in tasks:
            try:
                rows.append(self._texts(task))
            except CannotPredict as reason:
                log.info("task %s: no prediction: %s", task.get("id"), reason)
                rows.append(None)
        good = [index for index, row in enumerate(rows) if row is not None]
        per_control = {}
        for model in self.choices:
            texts = [rows[i][model.field] for i in good]
            datas = [tasks[i].get("data") or {} for i in good]
            per_control[model.name] = dict(zip(good, model.suggest(texts, datas))) if good else {}
        return [self._prediction(tasks[i], rows[i], per_control, i) if rows[i] is not None else None for i in range(len(tasks))]

    def _texts(self, task: dict) -> dict[str, str]:
        data = task.get("data")
        if not isinstance(data, dict):
            raise CannotPredict("the task has no data")
        texts = {}
        for model in [*self.choices, *self.spans]:
            value = data.get(model.field)
            if not isinstance(value, str) or not value.strip():
                raise CannotPredict(f"field '{model.field}' is missing or not text")
            if re.match(r"^(https?|s3|gs)://\S+$", value.strip()):
                raise CannotPredict(f"field '{model.field}' is a URL, not text")
            texts[model.field] = TAGS.sub(" ", value)
        return texts

    def _prediction(self, task: dict, texts: dict, per_control: dict, index: int) -> dict | None:
        result, scores, lines = [], [], []
        for model in self.choices:
            suggestion = per_control[model.name].get(index)
            if suggestion is None or not suggestion.labels:
                continue
            result.append(model.result(suggestion))
            scores.append(suggestion.score)
            prefix = f"{model.name}: " if len(self.choices) > 1 else ""
            lines.extend(prefix + line for line in suggestion.lines)
        for model in self.spans:
            regions = model.results(texts[model.field])
            result.extend(regions)
            scores.extend(region["score"] for region in regions if "score" in region)
        if not result:
            return None
        if self.has_rationale and lines:
            rationale_target = self.interface.get_control(RATIONALE).to_name[0]
            result.append({"from_name": RATIONALE, "to_name": rationale_target, "type": "textarea",
                           "readonly": True, "value": {"text": ["\n".join(lines[:3])]}})
        return {"result": result, "score": round(sum(scores) / len(scores), 4)}

    def validate(self, prediction: dict) -> list[str]:
        """Label Studio's own check of a prediction against the config; [] when it is valid.

        Validity depends on controls, types and label values, not on the rationale's wording, so the
        verdict is kept per shape: most predictions of a project share a handful of shapes.
        """
        shape = tuple(_shape(item) for item in prediction["result"])
        if shape not in self._verdicts:
            if len(self._verdicts) > 4096:
                self._verdicts.clear()
            self._verdicts[shape] = self.interface.validate_prediction(prediction, return_errors=True) or []
        return self._verdicts[shape]


def _shape(item: dict) -> tuple:
    value = item.get("value")
    if item.get("type") == "textarea" and isinstance(value, dict) and isinstance(value.get("text"), list):
        value = {"text": [type(text).__name__ for text in value["text"]]}
    # repr tells any two different values apart; a key order it does not normalise only costs a cache miss.
    return item.get("from_name"), item.get("to_name"), item.get("type"), repr(value), item.get("id")


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
