"""All quality metrics of a dataset, as one JSON-ready dict: labelers, agreement, consensus, gaps."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping

import numpy as np

from ls_context.checks.compare import compare
from ls_context.quality.agreement import MISSING, cohen_matrix, fleiss_kappa, krippendorff_alpha, mean_pairwise, per_label_agreement
from ls_context.quality.export import ControlLabels, Dataset
from ls_context.quality.truth import DawidSkene

LOW_CONFIDENCE = 0.6  # consensus below this is listed as a guideline gap


def wilson_interval(correct, n, z: float = 1.96) -> tuple:
    """Wilson score interval for a proportion: honest for small n and for 0% or 100%.

    Takes numbers, or NumPy arrays of counts (all n > 0) for many intervals at once.
    """
    if np.ndim(n) == 0 and n == 0:
        return (float("nan"), float("nan"))
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    if np.ndim(n) == 0:
        return (max(0.0, float(centre - half)), min(1.0, float(centre + half)))
    return (np.maximum(0.0, centre - half), np.minimum(1.0, centre + half))


def compute(dataset: Dataset) -> dict:
    """Every metric the report and the gate read, from one pass over each control."""
    checks = defaultdict(lambda: {"gold": [0, 0], "consensus": [0, 0], "weeks": defaultdict(lambda: [0, 0]), "per_label": {}})
    week_of = _WeekOf(dataset)
    agreement, consensus, confusions, gaps = {}, Consensus(dataset.task_ids), {}, []
    for control in dataset.controls.values():
        if not control.labels:
            continue
        result = _control(dataset, control, checks, week_of)
        agreement[control.name] = result["agreement"]
        confusions[control.name] = result["confusions"]
        for w, name in enumerate(dataset.labelers):
            table = result["confusions"]["by_labeler_vs_gold"].get(name)
            if table:
                checks[w]["per_label"][control.name] = per_label_recall(table, result["confusions"]["labels"])
        consensus.add(control, *result["consensus"])
        gaps.extend(result["gaps"])
    _compared_on_gold(dataset, checks, week_of)
    gaps.extend(_flag_gaps(dataset))
    return {
        "annotators": _annotators(dataset, checks),
        "agreement": agreement,
        "consensus": consensus,
        "confusions": confusions,
        "guideline_gaps": gaps,
        "skipped": dict(dataset.skipped),
        "counts": {"tasks": len(dataset.task_ids), "labelers": len(dataset.labelers), "annotations": len(dataset.annotations)},
    }


def _control(dataset: Dataset, control: ControlLabels, checks, week_of) -> dict:
    tasks, labelers, labels = control.arrays()
    n_tasks, n_labels, n_labelers = len(dataset.task_ids), len(control.values), len(dataset.labelers)
    matrix = np.full((n_tasks, n_labelers), MISSING, dtype=np.int32)
    matrix[tasks, labelers] = labels
    gold = np.full(n_tasks, -1)
    for task, code in control.gold.items():
        gold[task] = code
    kappas = cohen_matrix(matrix, n_labels) if control.kind == "nominal" else np.full((n_labelers, n_labelers), np.nan)
    values = np.asarray(control.values, dtype=float) if control.kind == "interval" else None
    truth = DawidSkene().fit(tasks, labelers, labels, n_tasks, n_labels, n_labelers, gold)
    agreement = {
        "krippendorff_alpha": _num(krippendorff_alpha(matrix, n_labels, control.kind, values)),
        "fleiss_kappa": _num(fleiss_kappa(matrix, n_labels)) if control.kind == "nominal" else None,
        "cohen_kappa_mean": _num(mean_pairwise(kappas)),
        "cohen_kappa_matrix": {"labelers": dataset.labelers, "values": [[_num(v) for v in row] for row in kappas]},
        "per_label": dict(zip(map(str, control.values), map(_num, per_label_agreement(matrix, n_labels)))),
        "metric": control.kind,
    }
    has_gold = gold[tasks] >= 0
    right_gold = labels == gold[tasks]
    right_consensus = labels == truth.labels_[tasks]
    counts = [np.bincount(labelers[mask], weights=weights[mask], minlength=n_labelers).astype(int)
              for mask, weights in ((has_gold, right_gold), (has_gold, has_gold), (labels >= 0, right_consensus), (labels >= 0, labels >= 0))]
    for w in range(n_labelers):
        record = checks[w]
        record["gold"][0] += int(counts[0][w])
        record["gold"][1] += int(counts[1][w])
        record["consensus"][0] += int(counts[2][w])
        record["consensus"][1] += int(counts[3][w])
    for t, w, ok, week in zip(tasks[has_gold], labelers[has_gold], right_gold[has_gold], week_of(tasks[has_gold], labelers[has_gold])):
        if week:
            checks[int(w)]["weeks"][week][0] += int(ok)
            checks[int(w)]["weeks"][week][1] += 1
    answered = np.flatnonzero(truth.labels_ >= 0)
    confidence = np.full(n_tasks, np.nan)
    confidence[answered] = np.nanmax(truth.probas_[answered], axis=1) if len(answered) else []
    confusions = {
        "labels": [str(v) for v in control.values],
        "vs_gold": _confusion(gold[tasks][has_gold], labels[has_gold], n_labels),
        "vs_consensus": _confusion(truth.labels_[tasks], labels, n_labels),
        "by_labeler_vs_gold": {
            dataset.labelers[w]: _confusion(gold[tasks][has_gold & (labelers == w)], labels[has_gold & (labelers == w)], n_labels)
            for w in np.unique(labelers[has_gold])
        },
        # Dawid-Skene's estimate of each labeler's confusion matrix (rows: true label, columns: given).
        "by_labeler_estimated": {
            dataset.labelers[w]: [[round(float(p), 4) for p in row] for row in truth.errors_[w]] for w in np.unique(labelers)
        },
    }
    gaps = _confused_pairs(control, gold, tasks, labelers, labels, has_gold, dataset) + _overridden_rules(control, tasks, labels, dataset)
    lowest = answered[np.argsort(confidence[answered], kind="stable")][:10]
    gaps += [{"kind": "low_consensus", "control": control.name, "task": dataset.task_ids[t], "confidence": round(float(confidence[t]), 4)}
             for t in lowest if round(float(confidence[t]), 4) < LOW_CONFIDENCE]
    return {"agreement": agreement, "consensus": (truth.labels_, confidence), "confusions": confusions, "gaps": gaps}


class Consensus(Mapping):
    """Each task's consensus, read as {task id: {control: {"label", "confidence"}}}, kept as arrays.

    A million tasks as nested dicts take half a gigabyte; as arrays, a few megabytes per control.
    """

    def __init__(self, task_ids: list):
        self.task_ids = task_ids
        self.controls: dict[str, tuple] = {}  # name -> (values, label code per task or -1, confidence per task)
        self._index: dict[str, int] | None = None

    def add(self, control: ControlLabels, codes: np.ndarray, confidence: np.ndarray) -> None:
        self.controls[control.name] = (control.values, codes, confidence)

    def __getitem__(self, task_id: str) -> dict:
        if self._index is None:
            self._index = {str(task): t for t, task in enumerate(self.task_ids)}
        found = self._answers(self._index[str(task_id)])
        if not found:
            raise KeyError(task_id)
        return found

    def __iter__(self):
        return (str(self.task_ids[t]) for t in self._answered())

    def __len__(self) -> int:
        return len(self._answered())

    def items(self):
        """(task id, answers) of every task with a consensus, in the export's order."""
        return ((str(self.task_ids[t]), self._answers(t)) for t in self._answered())

    def _answered(self) -> np.ndarray:
        if not self.controls:
            return np.array([], dtype=np.int64)
        return np.flatnonzero(np.logical_or.reduce([codes >= 0 for _, codes, _ in self.controls.values()]))

    def _answers(self, t: int) -> dict:
        return {name: {"label": _value(values[codes[t]]), "confidence": round(float(confidence[t]), 4)}
                for name, (values, codes, confidence) in self.controls.items() if codes[t] >= 0}


def dump(metrics: dict, handle) -> None:
    """The metrics as JSON; the consensus is written task by task, never held as one string."""
    handle.write("{")
    for number, (key, value) in enumerate(metrics.items()):
        handle.write(("," if number else "") + f"\n {json.dumps(key)}: ")
        if isinstance(value, Consensus):
            handle.write("{")
            for row, (task, answers) in enumerate(value.items()):
                handle.write(("," if row else "") + f"\n  {json.dumps(task)}: {json.dumps(answers)}")
            handle.write("\n }")
        else:
            handle.write(json.dumps(value, indent=1).replace("\n", "\n "))
    handle.write("\n}\n")


def _compared_on_gold(dataset: Dataset, checks, week_of) -> None:
    """Gold answers on boxes, polygons, spans and text, judged by the same comparison as the labeler's feedback."""
    for t, expected in dataset.compared_gold.items():
        for w, given in dataset.compared.get(t, []):
            week = week_of(np.array([t]), np.array([w]))[0]
            try:
                verdicts = compare(expected, given)
            except (TypeError, ValueError, AttributeError):  # an export edited by hand may hold anything
                dataset.skipped["result the gold comparison cannot read"] += 1
                continue
            for verdict in verdicts:
                if verdict.checked:
                    checks[w]["gold"][0] += int(verdict.passed)
                    checks[w]["gold"][1] += 1
                    if week:
                        checks[w]["weeks"][week][0] += int(verdict.passed)
                        checks[w]["weeks"][week][1] += 1


def _confusion(expected: np.ndarray, given: np.ndarray, n_labels: int) -> list[list[int]]:
    table = np.zeros((n_labels, n_labels), dtype=np.int64)
    keep = (expected >= 0) & (given >= 0)
    np.add.at(table, (expected[keep], given[keep]), 1)
    return table.tolist()


def per_label_recall(table: list[list[int]], labels: list[str]) -> dict:
    """Per gold label one labeler met: how often they gave it back (recall), its interval, what the misses became.

    `table` is the labeler's confusion against gold (rows: gold label, columns: given label).
    A pooled accuracy hides a labeler who turns one label into another; this does not.
    """
    recall = {}
    for expected, row in enumerate(table):
        gold_n = sum(row)
        if not gold_n:
            continue
        right = row[expected]
        low, high = wilson_interval(right, gold_n)
        misses = sorted(((count, given) for given, count in enumerate(row) if given != expected and count), key=lambda miss: -miss[0])
        recall[labels[expected]] = {
            "gold_n": gold_n, "right": right, "recall": _num(right / gold_n), "ci_low": _num(low), "ci_high": _num(high),
            "became": {labels[given]: count for count, given in misses},
        }
    return recall


def _confused_pairs(control, gold, tasks, labelers, labels, has_gold, dataset) -> list[dict]:
    """Label pairs labelers mix up on gold, most frequent first, with example tasks and who mixes them up."""
    pairs: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for t, w, expected, given in zip(tasks[has_gold], labelers[has_gold], gold[tasks][has_gold], labels[has_gold]):
        if expected != given:
            pairs[(int(expected), int(given))].append((int(t), int(w)))
    ranked = sorted(pairs.items(), key=lambda item: -len(item[1]))[:10]
    return [{
        "kind": "confused_pair", "control": control.name, "expected": str(control.values[expected]),
        "given": str(control.values[given]), "count": len(found),
        "example_tasks": [dataset.task_ids[t] for t in sorted({t for t, _ in found})[:5]],
        "by_labeler": {dataset.labelers[w]: count for w, count in Counter(w for _, w in found).most_common()},
    } for (expected, given), found in ranked]


def _overridden_rules(control, tasks, labels, dataset) -> list[dict]:
    """Decision rules whose suggestion labelers changed, most often first."""
    if not control.predictions:
        return []
    suggested = np.full(len(dataset.task_ids), -1)
    rule_of = np.full(len(dataset.task_ids), -1)
    rules = sorted({rule for _, rule in control.predictions.values() if rule})
    for t, (code, rule) in control.predictions.items():
        if rule:
            suggested[t], rule_of[t] = code, rules.index(rule)
    fired_rule = rule_of[tasks]
    fired = np.bincount(fired_rule[fired_rule >= 0], minlength=len(rules))
    overridden = np.bincount(fired_rule[(fired_rule >= 0) & (suggested[tasks] != labels)], minlength=len(rules))
    ranked = sorted(((int(overridden[r]), rules[r], int(fired[r])) for r in range(len(rules)) if overridden[r]), key=lambda row: -row[0])
    return [{"kind": "overridden_rule", "control": control.name, "rule": rule, "overridden": count,
             "fired": n, "rate": round(count / n, 4)} for count, rule, n in ranked[:10]]


def _flag_gaps(dataset: Dataset) -> list[dict]:
    """Labels (by consensus) with the most flags, and the reasons given."""
    columns = dataset.annotations.columns()
    flagged = columns["reason_codes"] >= 0
    if not flagged.any():
        return []
    by_label: dict[str, Counter] = defaultdict(Counter)
    first_control = next(iter(dataset.controls.values()), None)
    flagged_tasks = np.unique(columns["tasks"][flagged])
    given: dict[int, Counter] = defaultdict(Counter)
    if first_control is not None and first_control.labels:
        tasks, _, labels = first_control.arrays()
        on_flagged = np.isin(tasks, flagged_tasks)
        for t, code in zip(tasks[on_flagged].tolist(), labels[on_flagged].tolist()):
            given[t][first_control.values[code]] += 1
    for t, reason in zip(columns["tasks"][flagged].tolist(), columns["reason_codes"][flagged].tolist()):
        label = str(given[t].most_common(1)[0][0]) if given[t] else "(no label)"
        by_label[label][dataset.annotations.reasons[reason]] += 1
    ranked = sorted(by_label.items(), key=lambda item: -sum(item[1].values()))
    return [{"kind": "flagged_label", "label": label, "count": sum(reasons.values()), "reasons": dict(reasons.most_common())}
            for label, reasons in ranked]


class _WeekOf:
    """The ISO week of a labeler's annotation of a task (their latest, when they annotated it twice)."""

    def __init__(self, dataset: Dataset):
        self.dataset, self.keys = dataset, None

    def __call__(self, tasks: np.ndarray, labelers: np.ndarray) -> list:
        if not len(tasks):
            return []
        n_labelers = max(1, len(self.dataset.labelers))
        if self.keys is None:  # sorted once, on the first gold answer: a report without gold never pays for it
            columns = self.dataset.annotations.columns()
            keys = columns["tasks"].astype(np.int64) * n_labelers + columns["labelers"]
            order = np.argsort(keys, kind="stable")
            self.keys, self.codes = keys[order], columns["week_codes"][order]
        if not len(self.keys):
            return [None] * len(tasks)
        wanted = tasks.astype(np.int64) * n_labelers + labelers
        at = np.maximum(np.searchsorted(self.keys, wanted, side="right") - 1, 0)
        codes = np.where(self.keys[at] == wanted, self.codes[at], -1)
        return [self.dataset.annotations.weeks[code] if code >= 0 else None for code in codes.tolist()]


def _annotators(dataset: Dataset, checks) -> dict:
    columns = dataset.annotations.columns()
    n_labelers = len(dataset.labelers)
    counted = np.bincount(columns["labelers"], minlength=n_labelers)
    flags = np.bincount(columns["labelers"], weights=columns["reason_codes"] >= 0, minlength=n_labelers)
    timed = ~np.isnan(columns["lead_times"])
    order = np.argsort(columns["labelers"][timed], kind="stable")
    times_by_labeler = np.split(columns["lead_times"][timed][order],
                                np.searchsorted(columns["labelers"][timed][order], np.arange(1, n_labelers))) if n_labelers else []
    annotators = {}
    for w, name in enumerate(dataset.labelers):
        gold_right, gold_n = checks[w]["gold"]
        agree, seen = checks[w]["consensus"]
        low, high = wilson_interval(gold_right, gold_n)
        times = times_by_labeler[w]
        annotators[name] = {
            "gold_accuracy": _num(gold_right / gold_n) if gold_n else None,
            "gold_n": gold_n, "gold_ci_low": _num(low), "gold_ci_high": _num(high),
            "agreement_with_consensus": _num(agree / seen) if seen else None,
            "flag_rate": _num(flags[w] / counted[w]) if counted[w] else None,
            "annotations": int(counted[w]),
            "median_lead_time": _num(float(np.median(times))) if len(times) else None,
            "trend": {week: _num(right / n) for week, (right, n) in sorted(checks[w]["weeks"].items())},
            "per_label": checks[w]["per_label"],  # control -> gold label -> recall; see per_label_recall
        }
    return annotators


def _num(value) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def _value(value):
    return value if isinstance(value, str) else float(value)
