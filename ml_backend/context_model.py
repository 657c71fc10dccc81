"""The default context model: guideline rules + a learned classifier + reference examples.

For each classification control of a project it suggests a label with a score and a short
rationale: the rule that fired (or the words that pushed the classifier), the closest reference
example with the guideline's "why", and, when the top two labels are close, the edge case that
separates them. For span controls on text it marks what the rules' keywords and patterns match.

One model per control lives in its own module: `choices` (classification) and `spans` (text spans);
this one reads the label config, routes each task's text to them, and assembles Label Studio's
prediction with its rationale.
"""

from __future__ import annotations

import logging
import re

import sklearn

from ls_context.errors import LSContextError
from ls_context.guidelines import Guidelines
from ls_context.labelstudio.label_config import CANDIDATES_KEY, INJECTED_CONTROLS, RATIONALE, REGION_RATIONALE, RULES_KEY

from .choices import ChoiceModel
from .examples import Example, guideline_references
from .spans import SpanModel

log = logging.getLogger(__name__)
TEXT_OBJECTS = {"text", "hypertext"}
TAGS = re.compile(r"<[^>]+>")
MAX_LINES = 5  # rationale lines per control: the verdict, definitions, the edge case and two examples

__all__ = ["CannotPredict", "ChoiceModel", "ContextModel", "Example", "SpanModel"]


class CannotPredict(Exception):
    """This task cannot get a prediction (missing field, not text); the reason is logged, never a 500."""


class ContextModel:
    """Everything the backend suggests for one project, fitted once and reused for every request."""

    def __init__(self, label_config: str, guidelines: Guidelines | None = None, classifier_factory=None,
                 min_precision: float | None = None):
        """`min_precision` overrides every control's bar for pre-selecting (0: the top label, whatever the calibration says)."""
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
        self.min_precision = min_precision
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
            model = ChoiceModel(control.name, obj.name, field_name, labels, multilabel, guide, rules, classifier_factory)
            if self.min_precision is not None:
                model.min_precision = self.min_precision
            self.choices.append(model)
        elif tag in ("labels", "hypertextlabels") and rules:
            self.spans.append(SpanModel(control.name, obj.name, field_name, tag, labels, rules,
                                        REGION_RATIONALE in self.control_names))

    def fit(self, examples_by_control: dict[str, list[Example]]) -> "ContextModel":
        """Fit every Choices control on the guidelines' examples plus its own (gold answers, consensus: see `learning`)."""
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
            task_ids = [_task_id(tasks[i]) for i in good]
            per_control[model.name] = dict(zip(good, model.suggest(texts, datas, task_ids))) if good else {}
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
        """Label Studio's prediction: pre-selected answers where the model is sure, and the rationale everywhere.

        A task where nothing is sure enough still gets the rationale alone (context without an
        answer), so the labeler reads the definitions and examples instead of a guess.
        """
        result, scores, lines, unsure = [], [], [], {}
        for model in self.choices:
            suggestion = per_control[model.name].get(index)
            if suggestion is None:
                continue
            if suggestion.labels:
                result.append(model.result(suggestion))
            else:
                unsure = unsure or {RULES_KEY: suggestion.rules, CANDIDATES_KEY: suggestion.candidates if suggestion.ranked else []}
            scores.append(suggestion.score)
            prefix = f"{model.name}: " if len(self.choices) > 1 else ""
            lines.extend(prefix + line for line in suggestion.lines[:MAX_LINES])
        for model in self.spans:
            regions = model.results(texts[model.field])
            result.extend(regions)
            scores.extend(region["score"] for region in regions if "score" in region)
        if self.has_rationale and lines:
            rationale_target = self.interface.get_control(RATIONALE).to_name[0]
            # Without a pre-selection, the rules that fired and the two candidates ride on the rationale,
            # so that the pilot can still stratify tasks by them.
            result.append({"from_name": RATIONALE, "to_name": rationale_target, "type": "textarea",
                           "readonly": True, "value": {"text": ["\n".join(lines)]},
                           **{key: value for key, value in unsure.items() if value}})
        if not result:
            return None
        return {"result": result, "score": round(sum(scores) / len(scores), 4) if scores else 0.0}

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


def _task_id(task: dict) -> int | None:
    """The task's Label Studio id; what decides whether it is a gold task the model learned from."""
    task_id = task.get("id")
    return task_id if isinstance(task_id, int) and not isinstance(task_id, bool) else None


def _shape(item: dict) -> tuple:
    value = item.get("value")
    if item.get("type") == "textarea" and isinstance(value, dict) and isinstance(value.get("text"), list):
        value = {"text": [type(text).__name__ for text in value["text"]]}
    # repr tells any two different values apart; a key order it does not normalise only costs a cache miss.
    return item.get("from_name"), item.get("to_name"), item.get("type"), repr(value), item.get("id")
