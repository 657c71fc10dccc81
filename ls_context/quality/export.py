"""Read a Label Studio JSON export (and optional gold) into integer-coded arrays per control.

Bad rows are skipped and counted, never fatal: an annotation without `completed_by`, a
cancelled one, a result of a control type the analytics do not measure.
"""

from __future__ import annotations

import json
from functools import lru_cache
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from ls_context.errors import LSContextError
from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE, INJECTED_CONTROLS, RULES_KEY

NOMINAL = {"choices": "choices", "taxonomy": "taxonomy"}
INTERVAL = {"rating": "rating", "number": "number"}
NOT_MEASURED = (set(INJECTED_CONTROLS) | {FLAG_NOTE}) - {FLAG}


class ExportError(LSContextError):
    """The export cannot be read at all (not JSON, not a list of tasks)."""


@dataclass
class ControlLabels:
    """Every label given on one control, as parallel arrays; `gold[t]` is -1 where task t has no gold."""

    name: str
    kind: str  # "nominal" or "interval"
    values: list = field(default_factory=list)
    tasks: list = field(default_factory=list)
    labelers: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    gold: dict = field(default_factory=dict)  # task index -> label code
    predictions: dict = field(default_factory=dict)  # task index -> (label code, rule id or "")

    def code(self, value) -> int:
        if value not in self._codes:
            self._codes[value] = len(self.values)
            self.values.append(value)
        return self._codes[value]

    def __post_init__(self):
        self._codes = {}

    def arrays(self):
        return np.asarray(self.tasks, dtype=np.int64), np.asarray(self.labelers, dtype=np.int64), np.asarray(self.labels, dtype=np.int64)

    def sort_values(self) -> None:
        """Codes in a stable, readable order (numbers ascending, text alphabetical)."""
        order = sorted(range(len(self.values)), key=lambda code: (isinstance(self.values[code], str), self.values[code]))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        self.values = [self.values[code] for code in order]
        self._codes = {value: code for code, value in enumerate(self.values)}
        self.labels = list(remap[np.asarray(self.labels, dtype=np.int64)]) if self.labels else []
        self.gold = {task: int(remap[code]) for task, code in self.gold.items()}
        self.predictions = {task: (int(remap[code]), rule) for task, (code, rule) in self.predictions.items()}


@dataclass
class Dataset:
    task_ids: list = field(default_factory=list)
    labelers: list = field(default_factory=list)
    controls: dict = field(default_factory=dict)  # name -> ControlLabels
    annotations: list = field(default_factory=list)  # (task index, labeler index, flagged, reason, lead_time, week)
    skipped: Counter = field(default_factory=Counter)


def load_export(path: str | Path, gold_path: str | Path | None = None, progress=None) -> Dataset:
    tasks = read_json(path, "export")
    gold = read_json(gold_path, "gold file") if gold_path else []
    return build(tasks, gold, progress)


def read_json(path, what: str) -> list:
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except OSError as error:
        raise ExportError(f"{path}: cannot read the {what}: {error.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ExportError(f"{path}: the {what} is not valid JSON: {error}") from None
    except RecursionError:
        raise ExportError(f"{path}: the {what} nests too deeply to be a Label Studio export") from None
    if not isinstance(data, list) or not all(isinstance(task, dict) for task in data):
        raise ExportError(f"{path}: the {what} must be a JSON list of tasks (Label Studio's JSON export)")
    return data


def build(tasks: list[dict], gold: list[dict] | None = None, progress=None) -> Dataset:
    dataset = Dataset()
    task_index, labeler_index = {}, {}
    for task in (progress(tasks) if progress else tasks):
        if not usable_id(task.get("id")):
            dataset.skipped["task without id"] += 1
            continue
        t = task_index.setdefault(task["id"], len(task_index))
        for annotation in _listed(task.get("annotations")):
            _add_annotation(dataset, t, annotation, labeler_index)
        for prediction in _listed(task.get("predictions")):
            _add_prediction(dataset, t, prediction)
    dataset.task_ids = list(task_index)
    dataset.labelers = list(labeler_index)
    _add_gold(dataset, tasks, gold or [], task_index)
    for control in dataset.controls.values():
        control.sort_values()
    return dataset


def usable_id(value) -> bool:
    """A task id the report can index by: a number or a text (an export edited by hand may hold anything)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _labeler_name(completed_by) -> str | None:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("id")
    return None if completed_by in (None, "") else str(completed_by)


def _add_annotation(dataset: Dataset, t: int, annotation, labeler_index: dict) -> None:
    if not isinstance(annotation, dict) or not isinstance(annotation.get("result", []), list):
        dataset.skipped["malformed annotation"] += 1
        return
    if annotation.get("was_cancelled"):
        dataset.skipped["cancelled (skipped) annotation"] += 1
        return
    name = _labeler_name(annotation.get("completed_by"))
    if name is None:
        dataset.skipped["annotation without completed_by"] += 1
        return
    if annotation.get("ground_truth"):
        return  # read as gold by _add_gold
    w = labeler_index.setdefault(name, len(labeler_index))
    reason = ""
    for item in annotation["result"]:
        if not _well_formed(item):
            dataset.skipped["malformed result"] += 1
            continue
        answer = _answer(item)
        if answer is None:
            if item["from_name"] not in NOT_MEASURED:
                dataset.skipped[f"result of type '{item['type']}' (not measured)"] += 1
            continue
        control_name, kind, value = answer
        if control_name == FLAG:
            reason = value
            continue
        control = dataset.controls.setdefault(control_name, ControlLabels(control_name, kind))
        control.tasks.append(t), control.labelers.append(w), control.labels.append(control.code(value))
    lead_time = annotation.get("lead_time")
    lead_time = float(lead_time) if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool) else None
    dataset.annotations.append((t, w, bool(reason), reason, lead_time, _week(annotation.get("created_at"))))


def _well_formed(item) -> bool:
    """A result item as Label Studio writes it: named, typed, with a value object."""
    return (isinstance(item, dict) and isinstance(item.get("from_name"), str) and isinstance(item.get("type"), str)
            and isinstance(item.get("value"), dict))


def _answer(item):
    """(control, kind, value) of a measurable result item, or None."""
    if not _well_formed(item):
        return None
    kind, name, value = item["type"], item["from_name"], item["value"]
    if name in NOT_MEASURED:
        return None
    if kind in NOMINAL and isinstance(value.get(NOMINAL[kind]), list) and value[NOMINAL[kind]]:
        chosen = value[NOMINAL[kind]]
        label = " | ".join(sorted("/".join(map(str, c)) if isinstance(c, list) else str(c) for c in chosen))
        return name, "nominal", label
    if kind in INTERVAL and isinstance(value.get(INTERVAL[kind]), (int, float)):
        return name, "interval", float(value[INTERVAL[kind]])
    return None


def _add_prediction(dataset: Dataset, t: int, prediction) -> None:
    result = prediction.get("result") if isinstance(prediction, dict) else None
    if not isinstance(result, list):
        return
    for item in result:
        answer = _answer(item)
        if answer and answer[0] != FLAG:
            rules = item.get(RULES_KEY)
            rule = str(rules[0]) if isinstance(rules, list) and rules else ""
            control = dataset.controls.setdefault(answer[0], ControlLabels(answer[0], answer[1]))
            control.predictions[t] = (control.code(answer[2]), rule)


def _add_gold(dataset: Dataset, tasks: list[dict], gold: list[dict], task_index: dict) -> None:
    """Gold answers: ground-truth annotations in the export, and the gold file's tasks matched by id or data."""
    by_data = None
    sources = [(task.get("id"), task) for task in tasks if usable_id(task.get("id"))]
    for item in gold:
        if not isinstance(item, dict):
            dataset.skipped["gold task that is not an object"] += 1
            continue
        task_id = item.get("id") if usable_id(item.get("id")) and item["id"] in task_index else None
        if task_id is None:
            # Gold imported into Label Studio got new ids: find it by its data instead.
            by_data = by_data or {data_key(task.get("data")): task["id"] for task in tasks if usable_id(task.get("id"))}
            task_id = by_data.get(data_key(item.get("data")))
        if task_id is None:
            dataset.skipped["gold task not found in the export"] += 1
            continue
        sources.append((task_id, {"annotations": [{**a, "ground_truth": True} for a in _listed(item.get("annotations")) if isinstance(a, dict)]}))
    for task_id, task in sources:
        for annotation in _listed(task.get("annotations")):
            if not (isinstance(annotation, dict) and annotation.get("ground_truth") and not annotation.get("was_cancelled")):
                continue
            for item in _listed(annotation.get("result")):
                answer = _answer(item)
                if answer and answer[0] != FLAG and task_id in task_index:
                    control = dataset.controls.setdefault(answer[0], ControlLabels(answer[0], answer[1]))
                    control.gold[task_index[task_id]] = control.code(answer[2])


def _listed(value) -> list:
    """A list from the export, or nothing when the field holds something else."""
    return value if isinstance(value, list) else []


def data_key(data) -> str:
    if not isinstance(data, dict):
        return ""
    return json.dumps({k: v for k, v in data.items() if not str(k).startswith("ls_")}, sort_keys=True)


def _week(created_at) -> str | None:
    return _week_of(created_at) if isinstance(created_at, str) else None


@lru_cache(maxsize=65536)
def _week_of(created_at: str) -> str | None:
    try:
        year, week, _ = datetime.fromisoformat(created_at.replace("Z", "+00:00")).isocalendar()
    except ValueError:
        return None
    return f"{year}-W{week:02d}"
