"""Read a Label Studio JSON export (and optional gold) into integer-coded arrays per control.

The export is read one task at a time (ijson), and what the report needs is kept as compact
columns: a million labels take tens of megabytes, not the gigabytes of the parsed JSON.
Bad rows are skipped and counted, never fatal: an annotation without `completed_by`, a
cancelled one, a result of a control type the analytics do not measure.
"""

from __future__ import annotations

import codecs
import itertools
import json
import math
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ls_context.checks.compare import DEFAULT_PASS, REGION_KINDS, readable
from ls_context.errors import LSContextError
from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE, INJECTED_CONTROLS, RULES_KEY

NOMINAL = {"choices": "choices", "taxonomy": "taxonomy"}
INTERVAL = {"rating": "rating", "number": "number"}
COMPARED = set(DEFAULT_PASS) - set(NOMINAL) - set(INTERVAL)  # measured on gold by the gold check's comparison
NOT_MEASURED = (set(INJECTED_CONTROLS) | {FLAG_NOTE}) - {FLAG}


class ExportError(LSContextError):
    """The export cannot be read at all (not JSON, not a list of tasks)."""


@dataclass
class ControlLabels:
    """Every label given on one control, as parallel arrays; `gold[t]` is -1 where task t has no gold."""

    name: str
    kind: str  # "nominal" or "interval"
    values: list = field(default_factory=list)
    tasks: array = field(default_factory=lambda: array("i"))  # 32-bit columns: 12 bytes a label
    labelers: array = field(default_factory=lambda: array("i"))
    labels: array = field(default_factory=lambda: array("i"))
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
        """(tasks, labelers, labels) as NumPy views on the columns (int32, no copies)."""
        return np.asarray(self.tasks), np.asarray(self.labelers), np.asarray(self.labels)

    def sort_values(self) -> None:
        """Codes in a stable, readable order (numbers ascending, text alphabetical)."""
        order = sorted(range(len(self.values)), key=lambda code: (isinstance(self.values[code], str), self.values[code]))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        self.values = [self.values[code] for code in order]
        self._codes = {value: code for code, value in enumerate(self.values)}
        codes = np.asarray(self.labels)  # a view: the codes are rewritten in place
        codes[:] = remap.astype(np.int32)[codes]
        self.gold = {task: int(remap[code]) for task, code in self.gold.items()}
        self.predictions = {task: (int(remap[code]), rule) for task, (code, rule) in self.predictions.items()}


@dataclass
class Annotations:
    """One row per annotation, kept as columns: millions of rows without millions of Python tuples.

    A flag's reason and an ISO week are stored as codes into `reasons` and `weeks` (-1: none);
    an unknown lead time is NaN.
    """

    tasks: array = field(default_factory=lambda: array("i"))  # 32-bit columns: 20 bytes an annotation
    labelers: array = field(default_factory=lambda: array("i"))
    reason_codes: array = field(default_factory=lambda: array("i"))
    lead_times: array = field(default_factory=lambda: array("f"))
    week_codes: array = field(default_factory=lambda: array("i"))
    reasons: list = field(default_factory=list)
    weeks: list = field(default_factory=list)

    def add(self, t: int, w: int, reason: str, lead_time: float | None, week: str | None) -> None:
        self.tasks.append(t)
        self.labelers.append(w)
        self.reason_codes.append(_code(self.reasons, reason) if reason else -1)
        self.lead_times.append(math.nan if lead_time is None else lead_time)
        self.week_codes.append(_code(self.weeks, week) if week else -1)

    def __len__(self) -> int:
        return len(self.tasks)

    def columns(self) -> dict[str, np.ndarray]:
        """The columns as NumPy arrays (views on the same memory, no copies)."""
        return {name: np.asarray(getattr(self, name)) for name in ("tasks", "labelers", "reason_codes", "lead_times", "week_codes")}


def _code(values: list, value: str) -> int:
    # Few distinct reasons and weeks: a list scan is cheaper than keeping a second dict per column.
    try:
        return values.index(value)
    except ValueError:
        values.append(value)
        return len(values) - 1


@dataclass
class Dataset:
    task_ids: list = field(default_factory=list)
    labelers: list = field(default_factory=list)
    controls: dict = field(default_factory=dict)  # name -> ControlLabels
    annotations: Annotations = field(default_factory=Annotations)
    skipped: Counter = field(default_factory=Counter)
    projects: set = field(default_factory=set)  # the Label Studio project ids the tasks name
    # Results the gold check compares whole (boxes, polygons, spans, text), by task index: each labeler's, and gold's.
    compared: dict = field(default_factory=dict)  # task index -> [(labeler index, result items)]
    compared_gold: dict = field(default_factory=dict)  # task index -> gold result items
    images: dict = field(default_factory=dict)  # task index -> the image URL of a task with regions, for the report's pictures


def load_export(path: str | Path, gold_path: str | Path | None = None) -> Dataset:
    gold = read_json(gold_path, "gold file") if gold_path else []
    with open_export(path) as handle:
        return build(iter_export(handle, path), gold)


def open_export(path) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as error:
        raise ExportError(f"{path}: cannot read the export: {error.strerror}") from None


def iter_export(handle: BinaryIO, path="export") -> Iterator[dict]:
    """The tasks of a Label Studio JSON export, one at a time; the file is never held whole."""
    return iter(_TaskList(handle, path))


class _TaskList:
    """A top-level JSON list read item by item with the standard library's decoder.

    Streaming parsers built on yajl (ijson) grow without bound on a few hundred kilobytes of nested
    brackets; the standard decoder stops those with a RecursionError, and parses tasks faster.
    """

    CHUNK = 1 << 20
    MAX_TASK = 256 << 20  # one task this large is a broken file, not a Label Studio export
    SPACE = re.compile(r"[ \t\n\r]*")

    def __init__(self, handle: BinaryIO, path):
        self.handle, self.path = handle, path
        self.text, self.pos, self.eof = "", 0, False
        self.decode = codecs.getincrementaldecoder("utf-8-sig")().decode  # -sig: a byte-order mark, as some editors save
        self.decoder = json.JSONDecoder()

    def __iter__(self) -> Iterator[dict]:
        if self._next_char() != "[":
            start = self.text[self.pos:self.pos + 5]
            looks_json = start[:1] in ('{', '"', '-') or start[:1].isdigit() or start[:4] in ("true", "fals", "null")
            raise ExportError(f"{self.path}: the export must be a JSON list of tasks (Label Studio's JSON export)" if looks_json
                              else f"{self.path}: the export is not valid JSON: it does not start with '['")
        self.pos += 1
        if self._next_char() == "]":
            self.pos += 1
            return self._closed()
        for number in itertools.count(1):
            task = self._item(number)
            if not isinstance(task, dict):
                raise ExportError(f"{self.path}: item {number} of the export is not a task object; "
                                  "the export must be a JSON list of tasks (Label Studio's JSON export)")
            yield task
            after = self._next_char()
            self.pos += 1
            if after == "]":
                return self._closed()
            if after != ",":
                raise self._invalid(f"expected ',' or ']' after task {number}" if after else "the file ends inside the list")

    def _item(self, number: int):
        if not self._next_char():
            raise self._invalid(f"the file ends inside the list, after task {number - 1}" if number > 1 else "the file ends inside the list")
        while True:
            try:
                item, self.pos = self.decoder.raw_decode(self.text, self.pos)
                return item
            except json.JSONDecodeError as error:
                # Usually the task goes on in the next chunk: read at least as much again, and retry.
                pending = len(self.text) - self.pos
                if pending > self.MAX_TASK or not self._more(max(self.CHUNK, pending)):
                    raise self._invalid(f"{error.msg} (in the list's task number {number})") from None
            except RecursionError:
                raise ExportError(f"{self.path}: the export nests too deeply to be a Label Studio export") from None

    def _closed(self) -> None:
        if self._next_char():
            raise self._invalid("text after the list of tasks")

    def _next_char(self) -> str:
        """The next character that is not white space ("" at the end of the file), not consumed."""
        while True:
            self.pos = self.SPACE.match(self.text, self.pos).end()
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more(self.CHUNK):
                return ""

    def _more(self, size: int) -> bool:
        if self.eof:
            return False
        chunk = self.handle.read(size)
        self.eof = not chunk
        try:
            text = self.decode(chunk, final=self.eof)
        except UnicodeDecodeError as error:
            raise ExportError(f"{self.path}: the export is not valid UTF-8: {error.reason}") from None
        self.text, self.pos = self.text[self.pos:] + text, 0
        return bool(chunk)

    def _invalid(self, why: str) -> ExportError:
        return ExportError(f"{self.path}: the export is not valid JSON: {why}")


def read_json(path, what: str) -> list:
    """A small JSON list of task objects (a gold file), read whole."""
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


def build(tasks: Iterable[dict], gold: list[dict] | None = None,
          stored_gold: Callable[[set], list[dict]] | None = None) -> Dataset:
    """The dataset of an export's tasks (read once, in order) and its gold answers.

    `gold` (a gold file's tasks) is matched to the export by task id, else by task data; the gold
    that `stored_gold(projects)` returns once every task was read is matched by task id.
    """
    reader = Reader(gold or [])
    for task in tasks:
        reader.add(task)
    return reader.finish(stored_gold)


class Reader:
    """Turns tasks, one at a time, into a Dataset (`build` for one pass; several readers can share a pass)."""

    def __init__(self, gold: list[dict]):
        self.dataset = Dataset()
        self.task_index: dict = {}
        self.labeler_index: dict = {}
        self.gold = [item for item in gold if isinstance(item, dict)]
        if len(self.gold) < len(gold):
            self.dataset.skipped["gold task that is not an object"] += len(gold) - len(self.gold)
        # Gold imported into Label Studio got new ids: such gold is found by its data instead.
        # Only gold that carries data can be found by it: keys of missing data would all be one key.
        self.gold_by_data = {data_key(item["data"]) for item in self.gold if isinstance(item.get("data"), dict) and item["data"]}
        self.task_by_data: dict[str, object] = {}

    def add(self, task: dict) -> None:
        dataset = self.dataset
        if not usable_id(task.get("id")):
            dataset.skipped["task without id"] += 1
            return
        if isinstance(task.get("project"), int):
            dataset.projects.add(task["project"])
        t = self.task_index.setdefault(task["id"], len(self.task_index))
        if t == len(dataset.task_ids):
            dataset.task_ids.append(task["id"])
        for annotation in _listed(task.get("annotations")):
            _add_annotation(dataset, t, annotation, self.labeler_index)
        for prediction in _listed(task.get("predictions")):
            _add_prediction(dataset, t, prediction)
        _add_gold_annotations(dataset, t, task)
        if t in dataset.compared or t in dataset.compared_gold:
            image = image_of(task.get("data"))
            if image:
                dataset.images[t] = image
        if self.gold_by_data and isinstance(task.get("data"), dict) and task["data"]:
            key = data_key(task["data"])
            if key in self.gold_by_data:
                self.task_by_data[key] = task["id"]

    def finish(self, stored_gold=None) -> Dataset:
        dataset = self.dataset
        dataset.labelers = list(self.labeler_index)
        for item in self.gold:
            task_id = item.get("id") if usable_id(item.get("id")) and item["id"] in self.task_index else None
            if task_id is None and isinstance(item.get("data"), dict) and item["data"]:
                task_id = self.task_by_data.get(data_key(item["data"]))
            if task_id is None:
                dataset.skipped["gold task not found in the export"] += 1
                continue
            _add_gold_task(dataset, self.task_index[task_id], item)
        for item in (stored_gold(dataset.projects) if stored_gold else []):
            if item.get("id") in self.task_index:
                _add_gold_task(dataset, self.task_index[item["id"]], item)
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
    reason, regions = "", []
    for item in annotation["result"]:
        if not _well_formed(item):
            dataset.skipped["malformed result"] += 1
            continue
        answer = _answer(item)
        if answer is None:
            if _compared(item):
                if _measurable(item, dataset, ""):
                    regions.append(item)
            elif item["from_name"] not in NOT_MEASURED:
                dataset.skipped[f"result of type '{item['type']}' (not measured)"] += 1
            continue
        control_name, kind, value = answer
        if control_name == FLAG:
            reason = value
            continue
        control = dataset.controls.setdefault(control_name, ControlLabels(control_name, kind))
        control.tasks.append(t), control.labelers.append(w), control.labels.append(control.code(value))
    if regions:
        dataset.compared.setdefault(t, []).append((w, regions))
    lead_time = annotation.get("lead_time")
    lead_time = float(lead_time) if isinstance(lead_time, (int, float)) and not isinstance(lead_time, bool) else None
    dataset.annotations.add(t, w, reason, lead_time, _week(annotation.get("created_at")))


def _compared(item: dict) -> bool:
    """A result the gold check compares as a whole (regions, spans, text) rather than as one label."""
    return item["type"].lower() in COMPARED and item["from_name"] not in NOT_MEASURED


def _measurable(item: dict, dataset: Dataset, whose: str) -> bool:
    """A box, polygon or span whose coordinates can be measured; one that cannot is counted, never guessed at."""
    kind = item["type"].lower()
    if kind in REGION_KINDS and not readable(item, kind):
        dataset.skipped[f"{whose}region with unreadable coordinates ({kind})"] += 1
        return False
    return True


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


def _add_gold_task(dataset: Dataset, t: int, item: dict) -> None:
    """A gold task's expected annotations (a gold file's, or the store's), as gold answers of task index t."""
    _add_gold_annotations(dataset, t, {"annotations": [
        {**a, "ground_truth": True} for a in _listed(item.get("annotations")) if isinstance(a, dict)]})


def _add_gold_annotations(dataset: Dataset, t: int, task: dict) -> None:
    """The task's ground-truth annotations, as gold answers of task index t."""
    for annotation in _listed(task.get("annotations")):
        if not (isinstance(annotation, dict) and annotation.get("ground_truth") and not annotation.get("was_cancelled")):
            continue
        regions = []
        for item in _listed(annotation.get("result")):
            answer = _answer(item)
            if answer and answer[0] != FLAG:
                control = dataset.controls.setdefault(answer[0], ControlLabels(answer[0], answer[1]))
                control.gold[t] = control.code(answer[2])
            elif answer is None and _well_formed(item) and _compared(item) and _measurable(item, dataset, "gold "):
                regions.append(item)
        if regions:
            dataset.compared_gold[t] = regions


MAX_IMAGE_URL = 1 << 20  # a data: URL beyond this is left out of the report rather than copied into it


def image_of(data) -> str | None:
    """The task's first image a report page can show by itself: a web address or a data: URL."""
    if not isinstance(data, dict):
        return None
    for value in data.values():
        if isinstance(value, str) and len(value) <= MAX_IMAGE_URL and value.startswith(("http://", "https://", "data:image/")):
            return value
    return None


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
