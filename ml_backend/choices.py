"""Suggestions for one Choices control on a text: rules, a learned classifier, reference examples, a rationale.

Gold answers are learned but never shown: a rationale is visible to every labeler of a task, so
reference examples come only from the guidelines and from tasks that trusted labelers agree on,
and a gold task itself is pre-annotated by a second classifier that never saw the gold answers.
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.model_selection import KFold

import ls_context.guidelines.rules as rule_engine
from ls_context.guidelines import ControlGuide
from ls_context.guidelines.schema import DEFAULT_MIN_PRECISION
from ls_context.labelstudio.label_config import RULES_KEY

from .calibration import Calibration
from .classifier import TextClassifier, words_vectorizer
from .examples import Example
from .fields import FieldWords
from .rationale import Rationale

MIN_SIMILARITY = 0.2  # below this cosine similarity a "closest example" shares a word or two, not a meaning
EVIDENCE_WEIGHT = 0.1  # a word's pull (TF-IDF x coefficient) below which naming it tells the labeler nothing
FOLDS = 4  # cross-validation folds that give the calibration its held-out answers
MAX_UNRANKED = 4  # labels whose definitions all fit in a rationale when the text gives nothing to rank them by


@dataclass
class Learned:
    """What one fit produced: a classifier (None when there was nothing to learn) and the indexed references.

    `index` turns texts into unit-length rows: TF-IDF (the classifier's own vectorizer when it has
    one, so a request transforms its texts once) or sentence embeddings when the classifier offers a
    `similarity_index`; `matrix` holds the references' rows; `row_of_task` finds
    the reference that comes from a task, so a task is never shown itself as its closest example.
    """

    classifier: object | None
    references: list[Example]
    index: object | None = None
    matrix: object | None = None
    row_of_task: dict = field(default_factory=dict)
    rows_of_label: dict = field(default_factory=dict)  # label -> rows of `matrix` whose reference carries it
    recent: object | None = None  # rows of references learned since the fit, after `matrix`'s (kept apart: no copy of it)

    # Saved as one JSON text: skops would write each reference as an object of its own, slowly.

    def __getstate__(self) -> dict:
        state = {key: value for key, value in self.__dict__.items() if key not in ("references", "row_of_task")}
        state["references_json"] = json.dumps([_example_data(e) for e in self.references])
        if self.index is not None and self.index is getattr(self.classifier, "vectorizer_", None):
            state["index"] = "the classifier's vectorizer"  # one vocabulary in the file, read back as one object
        return state

    def __setstate__(self, state: dict) -> None:
        references = json.loads(state.pop("references_json", "[]"))
        self.__dict__.update(state)
        self.references = [_example_from(data) for data in references]
        if self.index == "the classifier's vectorizer":
            self.index = self.classifier.vectorizer_
        self.row_of_task = {e.task_id: row for row, e in enumerate(self.references) if e.task_id is not None}

    def similarity(self, vectors) -> np.ndarray:
        """Cosine similarity of each vector (row) to every reference, the recent ones included."""
        parts = [vectors @ self.matrix.T] + ([vectors @ self.recent.T] if self.recent is not None else [])
        dense = [part.toarray() if hasattr(part, "toarray") else np.asarray(part) for part in parts]
        return np.hstack(dense) if len(dense) > 1 else dense[0]

    def add_reference(self, example: Example, row) -> None:
        """Cite this task's example (`row`: its text as `index` turns it) from now on, in place of what the task taught before."""
        self.drop_reference(example.task_id)
        if self.matrix is None:
            self.matrix = row
        else:
            self.recent = row if self.recent is None else (
                sparse.vstack([self.recent, row], format="csr") if sparse.issparse(row) else np.vstack([self.recent, row]))
        number = len(self.references)
        self.references.append(example)
        if example.task_id is not None:
            self.row_of_task[example.task_id] = number
        for label in example.labels:
            self.rows_of_label[label] = np.append(self.rows_of_label.get(label, np.array([], dtype=int)), number)

    def drop_reference(self, task_id) -> None:
        """Stop citing a task (its consensus changed or is gone); its row stays, unreachable."""
        row = self.row_of_task.pop(task_id, None) if task_id is not None else None
        if row is not None:
            self.rows_of_label = {label: rows[rows != row] for label, rows in self.rows_of_label.items()}


@dataclass
class Suggestion:
    """`labels` to pre-select ([] when the model is not sure enough), the rationale's lines, the rules that fired.

    `score` is the calibrated probability that the top label is right where the model can tell.
    `candidates` are the model's two likeliest labels; `ranked` is False where the text gave nothing
    to rank them by, and the rationale named every label instead.
    """

    labels: list[str]
    score: float
    lines: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    ranked: bool = True


class ChoiceModel:
    """Suggests a choice for one Choices control that labels a text.

    Fitted attributes: `learned_` (from every example), `without_gold_` (from every example but the
    gold answers; None when there were none), `gold_tasks_` (the gold tasks `learned_` learned from:
    their own predictions come from `without_gold_`, so a prediction never hands back a gold answer),
    `calibration_` (how often the top label is right, from cross-validation on the non-guideline examples).
    """

    calibration_method = "platt"

    def __init__(self, name: str, to_name: str, field_name: str, labels: list[str], multilabel: bool,
                 guide: ControlGuide | None, rules: tuple, classifier_factory=None):
        self.name, self.to_name, self.field = name, to_name, field_name
        self.labels, self.multilabel, self.guide, self.rules = labels, multilabel, guide, rules
        self.classifier_factory = classifier_factory or (lambda multilabel: TextClassifier(multilabel=multilabel))
        self.learned_ = Learned(None, [])
        self.without_gold_: Learned | None = None
        self.gold_tasks_: frozenset = frozenset()
        self.min_precision = guide.min_precision if guide is not None else DEFAULT_MIN_PRECISION
        self.calibration_ = Calibration(self.calibration_method)
        self.fields_ = FieldWords(field_name)
        self._rationale: Rationale | None = None

    @property
    def classifier(self):
        """The classifier that predicts every task but the gold ones."""
        return self.learned_.classifier

    def fit(self, examples: list[Example]) -> "ChoiceModel":
        known = [e for e in examples if e.labels and set(e.labels) <= set(self.labels) and e.weight > 0]
        references = [e for e in known if e.citable()]
        self.fields_ = FieldWords(self.field).fit([e.data for e in known])
        self.learned_ = self._learn(known, references)
        self.gold_tasks_ = frozenset(e.task_id for e in known if e.source == "gold" and e.task_id is not None)
        self.without_gold_ = self._learn([e for e in known if e.source != "gold"], references) if self.gold_tasks_ else None
        self.calibration_ = self._calibrate(known)
        self._rationale = None
        return self

    def _calibrate(self, known: list[Example]) -> Calibration:
        """Fit the calibration on cross-validated answers: each non-guideline example predicted by a model that never saw it.

        Guideline examples always stay in training: they are written to be clear, so as held-out
        answers they would make the model look surer than it is on the project's own tasks.
        """
        calibration = Calibration(self.calibration_method)
        held = [row for row, e in enumerate(known) if e.source != "guideline"]
        if len(held) < calibration.min_answers:
            return calibration.fit([], [], [])
        outcomes = []
        for _, test_rows in KFold(n_splits=FOLDS, shuffle=True, random_state=0).split(held):
            test_ids = {held[i] for i in test_rows}
            classifier = self._fit_classifier([e for row, e in enumerate(known) if row not in test_ids])
            test = [known[row] for row in sorted(test_ids)]
            probabilities, _ = self._probabilities(classifier, [self._input(e.text, e.data) for e in test])
            hits = [rule_engine.fire(self.rules, e.data or {self.field: e.text}, self.field) for e in test]
            combined = self._combine(probabilities, hits, len(test))
            outcomes.extend(self._outcomes(combined, hits, test))
        confidence, fired, correct, weight = (list(column) for column in zip(*outcomes))
        return calibration.fit(confidence, fired, correct, sample_weight=weight)

    def _outcomes(self, combined: np.ndarray, hits: list, test: list[Example]):
        """(confidence, a rule fired for it, right, weight) per held-out answer: its top label, or (multilabel) each label."""
        for row, example in enumerate(test):
            columns = range(len(self.labels)) if self.multilabel else [int(np.argmax(combined[row]))]
            for column in columns:
                label = self.labels[column]
                yield combined[row, column], _fired_for(label, hits[row]), label in example.labels, example.weight

    def _learn(self, examples: list[Example], references: list[Example]) -> Learned:
        learned = Learned(self._fit_classifier(examples), references)
        if hasattr(learned.classifier, "similarity_index"):
            learned.index = learned.classifier.similarity_index()  # sentence embeddings: closest in meaning, not in words
        elif isinstance(learned.classifier, TextClassifier):
            # The classifier's own features serve for similarity too: one transform per request, not two.
            learned.index = learned.classifier.vectorizer_
        if not references:
            return learned
        reference_texts = [e.text for e in references]
        if learned.index is None:
            learned.index = words_vectorizer()
            learned.matrix = learned.index.fit_transform(reference_texts)
        else:
            learned.matrix = learned.index.transform(reference_texts)
        learned.row_of_task = {e.task_id: row for row, e in enumerate(references) if e.task_id is not None}
        for row, example in enumerate(references):
            for label in example.labels:
                learned.rows_of_label.setdefault(label, []).append(row)
        learned.rows_of_label = {label: np.array(rows) for label, rows in learned.rows_of_label.items()}
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
        texts = [self._input(e.text, e.data) for e in examples]
        if weighted:
            return classifier.fit(texts, targets, sample_weight=[e.weight for e in examples])
        return classifier.fit(texts, targets)

    def lesson(self, task_id, example: Example | None) -> dict | None:
        """What one task teaches now (example None: nothing any more), as data every process can apply (`learn`).

        The classifier takes a few gradient steps on the example (vocabulary, calibration and task
        fields stay as fitted) and the task becomes a reference example; the next full fit learns
        everything again from the store. None for a gold task: its answer comes from the lead.
        """
        if task_id in self.gold_tasks_:
            return None
        usable = example is not None and example.labels and set(example.labels) <= set(self.labels) and example.weight > 0
        lesson = {"task_id": task_id, "example": _example_data(example) if usable else None, "parts": {}}
        for name, learned in (("learned_", self.learned_), ("without_gold_", self.without_gold_)):
            if learned is None or not usable:
                continue
            part = lesson["parts"][name] = {}
            if hasattr(learned.classifier, "lesson"):
                target = list(example.labels) if self.multilabel else example.labels[0]
                part["classifier"] = learned.classifier.lesson(self._input(example.text, example.data), target, weight=example.weight)
            if example.citable() and learned.index is not None:
                part["reference"] = _row_data(learned.index.transform([example.text]))
        return lesson

    def learn(self, lesson: dict) -> None:
        """Apply a lesson (see `lesson`): cheap, and the same model in every process that applies the same ones."""
        example = _example_from(lesson["example"]) if lesson["example"] else None
        for name in ("learned_", "without_gold_"):
            learned = getattr(self, name)
            if learned is None:
                continue
            part = lesson["parts"].get(name) or {}
            if part.get("classifier"):
                learned.classifier.learn(part["classifier"])
            if part.get("reference") is not None:
                learned.add_reference(example, _row(part["reference"]))
            else:
                learned.drop_reference(lesson["task_id"])

    def learned(self) -> dict:
        """What fitting produced, to be saved and restored without refitting."""
        return {"learned_": self.learned_, "without_gold_": self.without_gold_, "gold_tasks_": self.gold_tasks_,
                "calibration_": self.calibration_, "fields_": self.fields_}

    def restore(self, learned: dict) -> None:
        for key, value in learned.items():
            setattr(self, key, value)
        self._rationale = None

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
        inputs = [self._input(text, data) for text, data in zip(texts, datas)] if self.fields_ else texts
        probabilities, features = self._probabilities(learned.classifier, inputs)
        hits = [rule_engine.fire(self.rules, data, self.field) for data in datas]
        combined = self._combine(probabilities, hits, len(texts))
        if features is not None:
            knows_text = np.diff(features.indptr) > 0
        else:
            knows_text = np.full(len(texts), probabilities is not None)
        ranked = np.argsort(-combined, axis=1, kind="stable")[:, :2]  # the top two labels of every row
        sure = self._calibrated(combined, ranked, hits)
        closest = self._closest(learned, texts, features, task_ids, ranked)
        terms = self._evidence(learned.classifier, features, ranked[:, 0], hits)
        writer = self._writer(learned.classifier)
        return [self._suggest_one(combined[row], ranked[row], sure[row], hits[row], terms[row], closest[row],
                                  bool(knows_text[row] or hits[row]), writer) for row in range(len(texts))]

    def _calibrated(self, combined: np.ndarray, ranked: np.ndarray, hits: list) -> np.ndarray:
        """Per row, how likely the top label is right (per label, multilabel); NaN while the model cannot tell."""
        if self.multilabel:
            fired = np.array([[_fired_for(label, row_hits) for label in self.labels] for row_hits in hits])
            if not len(combined):
                return combined
            return self.calibration_.predict(combined.ravel(), fired.ravel()).reshape(combined.shape)
        top = ranked[:, 0]
        fired = [_fired_for(self.labels[i], row_hits) for i, row_hits in zip(top, hits)]
        return self.calibration_.predict(combined[np.arange(len(top)), top], fired)

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

    def _closest(self, learned: Learned, texts: list[str], features, task_ids: list, ranked: np.ndarray) -> list[dict]:
        """Per row, the closest reference example of each of the two top labels, with its similarity (close ones only)."""
        if learned.matrix is None:
            return [{} for _ in texts]
        shared = features is not None and learned.index is getattr(learned.classifier, "vectorizer_", None)
        vectors = features if shared else learned.index.transform(texts)
        # Both kinds of rows are L2-normalised, so the dot product is the cosine similarity.
        similarity = learned.similarity(vectors)
        least = getattr(learned.index, "min_similarity", MIN_SIMILARITY)
        for row, task_id in enumerate(task_ids):
            itself = learned.row_of_task.get(task_id) if task_id is not None else None
            if itself is not None:
                similarity[row, itself] = -1.0  # showing a task its own labels would hand its labeler the others' answers
        found = []
        for row in range(len(texts)):
            best = {}
            for i in ranked[row]:
                label = self.labels[i]
                columns = learned.rows_of_label.get(label)
                if columns is not None and len(columns):
                    column = columns[similarity[row, columns].argmax()]
                    if similarity[row, column] >= least:
                        best[label] = (learned.references[column], float(similarity[row, column]))
            found.append(best)
        return found

    def _suggest_one(self, combined: np.ndarray, ranked: np.ndarray, sure, hits, terms: list[str],
                     closest: dict, knows_text: bool, writer: Rationale) -> Suggestion:
        rules = [hit.rule.id for hit in hits]
        top = [self.labels[i] for i in ranked]
        if not knows_text:
            chosen = []  # no rule and no known word: a guess would only echo label frequencies
        elif self.multilabel:
            chosen = [label for label, p in zip(self.labels, sure) if self._vouched(p)]
            probability = float(np.mean([sure[self.labels.index(label)] for label in chosen])) if chosen else 0.0
        else:
            chosen = [top[0]] if self._vouched(sure) else []
            probability = float(sure) if chosen else 0.0
        if chosen:
            probability = round(probability if not np.isnan(probability) else float(combined[ranked[0]]), 4)
            lines = [writer.suggested(chosen, probability, hits, terms)]
            example = closest.get(chosen[0])
            if example is not None:
                lines.append(writer.reference(example[0]))
            return Suggestion(chosen, probability, lines, rules)
        unranked = not knows_text and len(self.labels) <= MAX_UNRANKED
        # Nothing in the text to rank by: naming two labels would steer the labeler by label frequency alone.
        shown = list(self.labels) if unranked else top
        lines = [writer.not_sure(shown, hits, terms, knows_text), writer.definitions(shown)]
        if len(shown) == 2:
            lines.append(writer.edge_case(shown[0], shown[1]))
        lines.extend(writer.reference(closest[label][0]) for label in shown if label in closest)
        score = float(np.nanmax(sure)) if not np.all(np.isnan(sure)) else float(combined[ranked[0]])
        return Suggestion([], round(score, 4), [line for line in lines if line], rules, candidates=top, ranked=not unranked)

    def _vouched(self, probability) -> bool:
        """May this label be pre-selected? Only where calibration says it is right often enough."""
        if self.min_precision <= 0:
            return True
        return bool(not np.isnan(probability) and probability >= self.calibration_.threshold(self.min_precision))

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
        found = classifier.evidence_batch(features, wanted, min_weight=EVIDENCE_WEIGHT)
        if not self.fields_:
            return found
        return [[self._in_words(term) for term in terms] for terms in found]

    def _in_words(self, term: str) -> str:
        """A learned term as the labeler reads it: field words described, in a word pair as in a single word."""
        parts = term.split(" ")
        described = [self.fields_.describe(part) for part in parts]
        if not any(described):
            return term
        return " + ".join(text or part for part, text in zip(parts, described))

    def _input(self, text: str, data: dict | None) -> str:
        """What the classifier reads: the text, then the task's other fields as words (see `fields`)."""
        words = self.fields_.words(data) if self.fields_ else ""
        return f"{text} {words}" if words else text

    def _writer(self, classifier) -> Rationale:
        source = classifier_source(classifier)
        if self._rationale is None or self._rationale.source != source:
            self._rationale = Rationale(self.guide, source)
        return self._rationale

    def result(self, suggestion: Suggestion) -> dict:
        result = {
            "from_name": self.name, "to_name": self.to_name, "type": "choices",
            "value": {"choices": suggestion.labels}, "score": suggestion.score,
        }
        if suggestion.rules:
            result[RULES_KEY] = suggestion.rules
        return result


def _fired_for(label: str, hits: list) -> bool:
    """Did a decision rule for this label fire? The calibration learns how far such rules can be trusted."""
    return any(hit.rule.label == label for hit in hits)


def _example_data(example: Example) -> dict:
    """An example as JSON (in a lesson, in a saved model); `_example_from` reads it back."""
    return {"text": example.text, "labels": list(example.labels), "source": example.source, "why": example.why,
            "weight": example.weight, "task_id": example.task_id, "agreed_by": example.agreed_by, "data": example.data}


def _example_from(data: dict) -> Example:
    return Example(**{**data, "labels": tuple(data["labels"])})


def _row_data(row) -> dict:
    """A reference row as JSON: the non-zero entries of a TF-IDF row, or an embedding."""
    if sparse.issparse(row):
        row = row.tocsr()
        return {"width": row.shape[1], "indices": row.indices.tolist(), "values": row.data.tolist()}
    return {"dense": np.asarray(row)[0].tolist()}


def _row(data: dict):
    if "dense" in data:
        return np.asarray([data["dense"]])
    return sparse.csr_matrix((data["values"], data["indices"], [0, len(data["indices"])]), shape=(1, data["width"]))


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
