"""All quality metrics of a dataset, as one JSON-ready dict: labelers, agreement, consensus, gaps."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping

import numpy as np

from ls_context.checks.compare import DEFAULT_PASS, REGION_KINDS, by_control, compare, text_similarity
from ls_context.checks.processor import first_label
from ls_context.onboarding.standing import CERTIFIED, NOT_STARTED
from ls_context.quality.agreement import MISSING, cohen_matrix, fleiss_kappa, krippendorff_alpha, mean_pairwise, per_label_agreement
from ls_context.quality.export import ControlLabels, Dataset
from ls_context.quality.regions import Region, RegionAgreement, RegionConsensus, RegionScore, match, regions_of
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


def compute(dataset: Dataset, thresholds: dict | None = None, onboarding: dict | None = None) -> dict:
    """Every metric the report and the gate read, from one pass over each control.

    `thresholds`: the gold check's pass mark per control name or type (the guidelines' `gate.match`);
    for regions it is also the IoU at which two regions match.
    `onboarding`: where the project has an onboarding course, each labeler's standing in it by name
    (`Standing.as_dict()`); labelers it has not certified are measured like the others but left out
    of the consensus.
    """
    thresholds = {**DEFAULT_PASS, **(thresholds or {})}
    standing = _standing(dataset, onboarding)
    uncertified = {w for w, name in enumerate(dataset.labelers) if standing and standing[name]["status"] != CERTIFIED}
    checks = defaultdict(lambda: {"gold": [0, 0], "consensus": [0, 0], "weeks": defaultdict(lambda: [0, 0]), "per_label": {}})
    week_of = _WeekOf(dataset)
    agreement, consensus, confusions, gaps = {}, Consensus(dataset.task_ids), {}, []
    for control in dataset.controls.values():
        if not control.labels:
            continue
        result = _control(dataset, control, checks, week_of, uncertified)
        agreement[control.name] = result["agreement"]
        confusions[control.name] = result["confusions"]
        for w, name in enumerate(dataset.labelers):
            table = result["confusions"]["by_labeler_vs_gold"].get(name)
            if table:
                checks[w]["per_label"][control.name] = per_label_recall(table, result["confusions"]["labels"])
        consensus.add(control, *result["consensus"])
        gaps.extend(result["gaps"])
    answered = _answered_by(dataset, set(dataset.compared) | set(dataset.compared_gold))
    _compared_on_gold(dataset, checks, week_of, thresholds, answered)
    regions = _regions(dataset, checks, consensus, gaps, thresholds, answered, uncertified)
    texts = _texts(dataset)
    gaps.extend(_flag_gaps(dataset))
    return {
        "annotators": _annotators(dataset, checks),
        "onboarding": standing,
        "agreement": agreement,
        "consensus": consensus,
        "confusions": confusions,
        "regions": regions,
        "texts": texts,
        "guideline_gaps": gaps,
        "skipped": dict(dataset.skipped),
        "counts": {"tasks": len(dataset.task_ids), "labelers": len(dataset.labelers), "annotations": len(dataset.annotations)},
    }


def _standing(dataset: Dataset, onboarding: dict | None) -> dict | None:
    """Each labeler's course standing by name, "not started" for those the course never saw; None without a course."""
    if onboarding is None:
        return None
    return {name: onboarding.get(name) or {"status": NOT_STARTED, "describe": NOT_STARTED, "weakest": None}
            for name in dataset.labelers}


def _control(dataset: Dataset, control: ControlLabels, checks, week_of, uncertified: set = frozenset()) -> dict:
    tasks, labelers, labels = control.arrays()
    n_tasks, n_labels, n_labelers = len(dataset.task_ids), len(control.values), len(dataset.labelers)
    matrix = np.full((n_tasks, n_labelers), MISSING, dtype=np.int32)
    matrix[tasks, labelers] = labels
    gold = np.full(n_tasks, -1)
    for task, code in control.gold.items():
        gold[task] = code
    kappas = cohen_matrix(matrix, n_labels) if control.kind == "nominal" else np.full((n_labelers, n_labelers), np.nan)
    values = np.asarray(control.values, dtype=float) if control.kind == "interval" else None
    voting = ~np.isin(labelers, list(uncertified)) if uncertified else np.ones(len(labelers), dtype=bool)
    truth = DawidSkene().fit(tasks[voting], labelers[voting], labels[voting], n_tasks, n_labels, n_labelers, gold)
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
            dataset.labelers[w]: [[round(float(p), 4) for p in row] for row in truth.errors_[w]] for w in np.unique(labelers[voting])
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
        self.regions: dict[str, dict] = {}  # region control -> task index -> (fused regions, confidence)
        self._index: dict[str, int] | None = None

    def add(self, control: ControlLabels, codes: np.ndarray, confidence: np.ndarray) -> None:
        self.controls[control.name] = (control.values, codes, confidence)

    def add_regions(self, control: str, t: int, regions: list, confidence: float) -> None:
        self.regions.setdefault(control, {})[t] = (regions, confidence)

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
        answered = np.zeros(len(self.task_ids), dtype=bool)
        for _, codes, _ in self.controls.values():
            answered |= codes >= 0
        for tasks in self.regions.values():
            answered[list(tasks)] = True
        return np.flatnonzero(answered)

    def _answers(self, t: int) -> dict:
        found = {name: {"label": _value(values[codes[t]]), "confidence": round(float(confidence[t]), 4)}
                 for name, (values, codes, confidence) in self.controls.items() if codes[t] >= 0}
        for name, tasks in self.regions.items():
            if t in tasks:
                regions, confidence = tasks[t]
                found[name] = {"regions": [{"label": r.label, "value": r.value, "confidence": r.confidence} for r in regions],
                               "confidence": confidence}
        return found


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


def _compared_on_gold(dataset: Dataset, checks, week_of, thresholds: dict, answered: dict) -> None:
    """Gold answers on boxes, polygons, spans and text, judged by the same comparison as the labeler's feedback.

    A labeler who answered a gold task and drew nothing is compared too: they missed every region.
    """
    for t, expected in dataset.compared_gold.items():
        given = dict(dataset.compared.get(t, []))
        for w in answered.get(t, []):
            week = week_of(np.array([t]), np.array([w]))[0]
            try:
                verdicts = compare(expected, given.get(w, []), thresholds)
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


def _answered_by(dataset: Dataset, tasks: set) -> dict[int, list[int]]:
    """The labelers who submitted an annotation of each of these tasks, in the export's order."""
    if not tasks:
        return {}
    columns = dataset.annotations.columns()
    keep = np.isin(columns["tasks"], np.fromiter(tasks, dtype=np.int64))
    found: dict[int, list[int]] = defaultdict(list)
    for t, w in zip(columns["tasks"][keep].tolist(), columns["labelers"][keep].tolist()):
        if w not in found[t]:
            found[t].append(w)
    return found


def _region_answers(dataset: Dataset, answered: dict) -> dict[str, tuple[str, dict, dict]]:
    """control -> (type, {task: {labeler: regions}}, {task: gold regions}); an answer without regions is an empty list."""
    kinds, gold, given = {}, defaultdict(dict), defaultdict(lambda: defaultdict(dict))
    for t, items in dataset.compared_gold.items():
        for control, found in by_control(items).items():
            kind = kinds.setdefault(control, str(found[0]["type"]).lower())
            if kind in REGION_KINDS:
                gold[control][t] = regions_of(found, kind)
    for t, answers in dataset.compared.items():
        for w, items in answers:
            for control, found in by_control(items).items():
                kind = kinds.setdefault(control, str(found[0]["type"]).lower())
                if kind in REGION_KINDS:
                    given[control][t][w] = regions_of(found, kind)
    controls = {}
    for control, kind in kinds.items():
        if kind not in REGION_KINDS:
            continue
        for t in set(gold[control]) | set(given[control]):
            for w in answered.get(t, []):
                given[control][t].setdefault(w, [])
        controls[control] = (kind, given[control], gold[control])
    return controls


def _regions(dataset: Dataset, checks, consensus: "Consensus", gaps: list, thresholds: dict, answered: dict,
             uncertified: set = frozenset()) -> dict:
    """Per region control: each labeler against gold, agreement between labelers, consensus, worst tasks."""
    found = {}
    for control, (kind, given, gold) in sorted(_region_answers(dataset, answered).items()):
        threshold = thresholds.get(control, thresholds.get(kind))
        scores = defaultdict(lambda: RegionScore(kind, threshold))
        for t, expected in gold.items():
            for w, regions in given.get(t, {}).items():
                scores[w].add(expected, regions, task=(t, w))
        agreement = RegionAgreement(len(dataset.labelers), kind, threshold)
        for answers in given.values():
            agreement.add(sorted(answers.items()))
        summaries = {w: score.summary() for w, score in scores.items()}
        matrix = agreement.matrix()
        weights = _reliability(summaries, matrix)
        weights = {w: 0.0 if w in uncertified else weight for w, weight in weights.items()}
        alpha, low = _region_consensus(dataset, control, kind, threshold, given, weights, consensus, checks)
        for w, summary in summaries.items():
            checks[w]["per_label"][control] = {label: _recall(figures) for label, figures in summary["per_label"].items() if figures["gold_regions"]}
        gaps += _region_confusions(dataset, control, scores) + low
        found[control] = {
            "kind": kind, "iou_threshold": threshold,
            "labelers": {dataset.labelers[w]: summaries[w] for w in sorted(summaries)},
            "per_label": _pooled(scores.values()),
            "agreement": {
                "f1": agreement.overall(), "per_label": agreement.per_label(), "krippendorff_alpha": alpha,
                "f1_matrix": {"labelers": dataset.labelers, "values": [[_num(v) for v in row] for row in matrix]},
            },
            "worst": _worst(dataset, scores, given, gold),
        }
    return found


def _texts(dataset: Dataset) -> dict:
    """Per text control: how alike labelers' texts are (pairwise, on tasks both wrote on) and how alike each is to gold.

    Similarity is the gold check's own (difflib's ratio after lower-casing and dropping punctuation),
    so it reads on the same scale as the pass mark. A labeler who wrote nothing is left out of the
    pairs: text fields are often optional, and an empty note is not a disagreement.
    """
    n = len(dataset.labelers)
    found: dict = defaultdict(lambda: {"pairs": np.zeros((n, n)), "counts": np.zeros((n, n)), "gold": defaultdict(list)})
    for t, answers in dataset.compared.items():
        written = defaultdict(dict)
        for w, items in answers:
            for control, texts in by_control(items).items():
                if str(texts[0]["type"]).lower() == "textarea":
                    written[control][w] = texts
        expected = {control: texts for control, texts in by_control(dataset.compared_gold.get(t, [])).items()
                    if str(texts[0]["type"]).lower() == "textarea"}
        for control, by_labeler in written.items():
            record, labelers = found[control], sorted(by_labeler)
            for x, a in enumerate(labelers):
                for b in labelers[x + 1:]:
                    similarity = text_similarity(by_labeler[a], by_labeler[b])
                    record["pairs"][[a, b], [b, a]] += similarity
                    record["counts"][[a, b], [b, a]] += 1
                if control in expected:
                    record["gold"][a].append(text_similarity(expected[control], by_labeler[a]))
    texts = {}
    for control, record in sorted(found.items()):
        with np.errstate(invalid="ignore", divide="ignore"):
            matrix = np.where(record["counts"] > 0, record["pairs"] / record["counts"], np.nan)
        np.fill_diagonal(matrix, 1.0)
        pairs = record["counts"][np.triu_indices(n, k=1)].sum()
        texts[control] = {
            "similarity": _num(record["pairs"][np.triu_indices(n, k=1)].sum() / pairs) if pairs else None,
            "matrix": {"labelers": dataset.labelers, "values": [[_num(v) for v in row] for row in matrix]},
            "labelers": {dataset.labelers[w]: {"gold_similarity": _num(np.mean(values)), "gold_n": len(values)}
                         for w, values in sorted(record["gold"].items())},
        }
    return texts


def _reliability(summaries: dict, f1: np.ndarray) -> dict[int, float]:
    """Each labeler's weight in the consensus: their region F1 on gold, else their mean F1 with the others.

    Smoothed towards one half, so a labeler seen on two regions is neither trusted nor dismissed.
    """
    weights = {}
    for w in range(f1.shape[0]):
        summary = summaries.get(w)
        if summary and summary["gold_regions"]:
            weights[w] = (2 * summary["matched"] + 1) / (summary["gold_regions"] + summary["given_regions"] + 2)
        else:
            others = np.delete(f1[w], w)
            others = others[~np.isnan(others)]
            weights[w] = (float(others.mean()) * len(others) + 0.5) / (len(others) + 1) if len(others) else 0.5
    return weights


def _region_consensus(dataset, control, kind, threshold, given, weights, consensus, checks) -> tuple[float | None, list[dict]]:
    """Fuse every task's regions; Krippendorff's alpha over the clusters; the lowest-consensus tasks as gaps.

    Each labeler's agreement with the consensus counts their regions that match a fused one (same
    label, IoU at the threshold) against all regions on both sides, as region F1 does.

    Alpha's units are the clusters (one object each, as the labelers jointly saw it); a labeler who
    answered the task but drew nothing there gives the value "no region". Chance agreement is then
    how often labels, or "no region", would coincide at random: well defined, unlike for raw F1.
    """
    codes: dict[str, int] = {"": 0}
    rows, confidence = [], {}
    for t, answers in given.items():
        order = [w for w in sorted(answers) if weights[w] > 0]  # a labeler the course has not certified does not vote
        if not order:
            continue
        fitted = RegionConsensus(kind, threshold).fit([(weights[w], answers[w]) for w in order])
        consensus.add_regions(control, t, fitted.regions_, fitted.confidence_)
        confidence[t] = fitted.confidence_
        fused = [Region(region.label, region.value) for region in fitted.regions_]
        for w in sorted(answers):
            checks[w]["consensus"][0] += 2 * len(match(answers[w], fused, kind, threshold))
            checks[w]["consensus"][1] += len(answers[w]) + len(fused)
        for cluster in fitted.clusters_:
            row = np.full(len(dataset.labelers), MISSING, dtype=np.int32)
            row[order] = 0  # "no region" for everyone who answered ...
            for k, region in cluster:  # ... but those who drew it
                row[order[k]] = codes.setdefault("label:" + region.label, len(codes))
            rows.append(row)
    alpha = _num(krippendorff_alpha(np.array(rows), len(codes))) if rows else None
    lowest = sorted(confidence.items(), key=lambda item: item[1])[:10]
    low = [{"kind": "low_consensus", "control": control, "task": dataset.task_ids[t], "confidence": c}
           for t, c in lowest if c < LOW_CONFIDENCE]
    return alpha, low


def _recall(figures: dict) -> dict:
    """A label's region figures in the shape of `per_label_recall`, for the gate's per-label rule."""
    low, high = wilson_interval(figures["matched"], figures["gold_regions"])
    return {"gold_n": figures["gold_regions"], "right": figures["matched"], "recall": figures["recall"],
            "ci_low": _num(low), "ci_high": _num(high), "became": figures["became"],
            "precision": figures["precision"], "mean_iou": figures["mean_iou"]}


def _pooled(scores) -> dict:
    """All labelers' regions against gold, per label."""
    pooled = RegionScore("", 0.0)
    for score in scores:
        for label, tally in score.labels.items():
            pooled.labels[label].add(tally)
    return pooled.summary()["per_label"]


def _region_confusions(dataset, control: str, scores: dict) -> list[dict]:
    """Gold regions drawn with another label, as confused pairs (the same gap as for choices)."""
    pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for w, score in scores.items():
        for (t, _), expected, given in score.confusions:
            pairs[(expected, given)].append((t, w))
    return _pair_gaps(dataset, control, pairs)


WORST = 6  # gold-vs-labeler pictures per control


def _image_size(items: list[dict]) -> list[float] | None:
    """The image's pixel size as Label Studio records it with each region, for the picture's proportions."""
    for item in items:
        width, height = item.get("original_width"), item.get("original_height")
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in (width, height)):
            return [float(width), float(height)]
    return None


def _worst(dataset, scores: dict, given: dict, gold: dict) -> list[dict]:
    """The gold comparisons with the lowest region F1, each labeler's worst first, with what to draw them."""
    ranked = sorted((f1, t, w) for score in scores.values() for f1, (t, w) in score.tasks if f1 < 1)
    firsts = list({w: (f1, t, w) for f1, t, w in reversed(ranked)}.values())[::-1]
    rows = sorted(firsts + [row for row in ranked if row not in firsts][:max(0, WORST - len(firsts))])[:WORST]
    return [{"task": dataset.task_ids[t], "labeler": dataset.labelers[w], "f1": _num(f1), "image": dataset.images.get(t),
             "image_size": _image_size(dataset.compared_gold.get(t, [])),
             "gold": [{"label": r.label, "value": r.value} for r in gold[t]],
             "given": [{"label": r.label, "value": r.value} for r in given[t][w]]} for f1, t, w in rows]


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
    pairs: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for t, w, expected, given in zip(tasks[has_gold], labelers[has_gold], gold[tasks][has_gold], labels[has_gold]):
        if expected != given:
            pairs[(str(control.values[expected]), str(control.values[given]))].append((int(t), int(w)))
    return _pair_gaps(dataset, control.name, pairs)


def _pair_gaps(dataset: Dataset, control: str, pairs: dict) -> list[dict]:
    """(gold label, label given) -> [(task, labeler)], as the ten most frequent confused-pair gaps."""
    ranked = sorted(pairs.items(), key=lambda item: -len(item[1]))[:10]
    return [{
        "kind": "confused_pair", "control": control, "expected": expected, "given": given, "count": len(found),
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
    for t, w, reason in zip(columns["tasks"][flagged].tolist(), columns["labelers"][flagged].tolist(),
                            columns["reason_codes"][flagged].tolist()):
        label = str(given[t].most_common(1)[0][0]) if given[t] else _first_region_label(dataset, t, w)
        by_label[label][dataset.annotations.reasons[reason]] += 1
    ranked = sorted(by_label.items(), key=lambda item: -sum(item[1].values()))
    return [{"kind": "flagged_label", "label": label, "count": sum(reasons.values()), "reasons": dict(reasons.most_common())}
            for label, reasons in ranked]


def _first_region_label(dataset: Dataset, t: int, w: int) -> str:
    """The label of the first region the flagging labeler drew, as `ls-context flags` names it; else "(no label)"."""
    return next((first_label(items) for labeler, items in dataset.compared.get(t, []) if labeler == w), "") or "(no label)"


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
