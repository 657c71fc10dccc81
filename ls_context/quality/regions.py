"""Regions (spans, boxes, polygons): scored against gold, agreed on between labelers, fused into a consensus.

Two regions match when their overlap (IoU) reaches the control's threshold, the same one the gold
check passes a region at (`checks.compare.DEFAULT_PASS`, or the guidelines' `gate.match`), and
their labels are the same. Matching is one-to-one and maximises the total overlap (Hungarian).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from ls_context.checks.compare import BOX_KINDS, SPAN_KINDS, numbers, overlap_of, region_labels

MISSED = "(missed)"  # what a gold region "became" when the labeler drew nothing over it
MISPLACED = "(misplaced)"  # ... when the labeler's region with its label overlaps it, but under the threshold


@dataclass(frozen=True)
class Region:
    """One region as Label Studio stores it: its label(s) joined, and its value (coordinates, offsets)."""

    label: str
    value: dict


def regions_of(items: list[dict], kind: str) -> list[Region]:
    return [Region(", ".join(sorted(map(str, region_labels(item, kind)))), item["value"]) for item in items]


def overlaps(a: list[Region], b: list[Region], kind: str) -> np.ndarray:
    """IoU of every region of `a` (rows) with every region of `b` (columns), whatever their labels."""
    overlap = overlap_of(kind)
    return np.array([[overlap(x.value, y.value) for y in b] for x in a], dtype=float).reshape(len(a), len(b))


def match(a: list[Region], b: list[Region], kind: str, threshold: float, same_label: bool = True,
          iou: np.ndarray | None = None) -> list[tuple[int, int, float]]:
    """(index in a, index in b, IoU) of a one-to-one matching with the largest total overlap, pairs at or above threshold."""
    if not a or not b:
        return []
    scores = overlaps(a, b, kind) if iou is None else iou.copy()
    if same_label:
        scores[np.array([[x.label != y.label for y in b] for x in a])] = 0.0
    scores[scores < threshold - 1e-9] = 0.0
    rows, columns = linear_sum_assignment(scores, maximize=True)
    return [(int(i), int(j), float(scores[i, j])) for i, j in zip(rows, columns) if scores[i, j] > 0]


@dataclass
class LabelTally:
    """One label's regions for one labeler against gold."""

    gold: int = 0     # gold regions of this label
    given: int = 0    # regions the labeler drew with this label
    matched: int = 0  # gold regions matched by a region of the same label
    iou_sum: float = 0.0
    became: Counter = field(default_factory=Counter)  # what the unmatched gold regions became: another label, or MISSED
    covered_other: int = 0  # regions drawn over a gold region they did not match (another label, or misplaced)

    def add(self, other: "LabelTally") -> None:
        self.gold, self.given, self.matched = self.gold + other.gold, self.given + other.given, self.matched + other.matched
        self.iou_sum += other.iou_sum
        self.became.update(other.became)
        self.covered_other += other.covered_other


class RegionScore:
    """One labeler's regions on one control against gold: precision, recall and IoU, per label and overall."""

    def __init__(self, kind: str, threshold: float):
        self.kind, self.threshold = kind, threshold
        self.labels: dict[str, LabelTally] = defaultdict(LabelTally)
        self.ious: list[float] = []  # IoU of every matched region, for the gate's interval
        self.tasks: list[tuple[float, object]] = []  # (task F1, task key), to find the worst tasks
        self.confusions: list[tuple[object, str, str]] = []  # (task key, gold label, label drawn over it)

    def add(self, gold: list[Region], given: list[Region], task=None) -> float:
        """Score one task; returns its region F1 (1.0 when both drew nothing)."""
        for region in gold:
            self.labels[region.label].gold += 1
        for region in given:
            self.labels[region.label].given += 1
        iou = overlaps(gold, given, self.kind)
        gold_left, given_left = list(range(len(gold))), list(range(len(given)))
        # In turn: same label at the threshold (a match), another label at the threshold (a confusion, not a
        # miss), then the same label under it (misplaced); what is left of gold was missed.
        same, gold_left, given_left = self._match_left(gold, given, iou, gold_left, given_left, True, self.threshold)
        confused, gold_left, given_left = self._match_left(gold, given, iou, gold_left, given_left, False, self.threshold)
        placed, gold_left, given_left = self._match_left(gold, given, iou, gold_left, given_left, True, 1e-6)
        for i, _, value in same:
            self.labels[gold[i].label].matched += 1
            self.labels[gold[i].label].iou_sum += value
            self.ious.append(value)
        for i, j, _ in confused:
            self.labels[gold[i].label].became[given[j].label] += 1
            self.labels[given[j].label].covered_other += 1
            self.confusions.append((task, gold[i].label, given[j].label))
        for i, j, _ in placed:
            self.labels[gold[i].label].became[MISPLACED] += 1
            self.labels[given[j].label].covered_other += 1
        for i in gold_left:
            self.labels[gold[i].label].became[MISSED] += 1
        f1 = 2 * len(same) / (len(gold) + len(given)) if gold or given else 1.0
        self.tasks.append((f1, task))
        return f1

    def _match_left(self, gold, given, iou, gold_left: list[int], given_left: list[int], same_label: bool, threshold: float):
        """Match the regions still unmatched: (pairs by their indices in gold and given, gold left, given left)."""
        if not gold_left or not given_left:
            return [], gold_left, given_left
        pairs = [(gold_left[i], given_left[j], value) for i, j, value in
                 match([gold[i] for i in gold_left], [given[j] for j in given_left], self.kind, threshold, same_label,
                       iou=iou[np.ix_(gold_left, given_left)])]
        taken_gold, taken_given = {i for i, _, _ in pairs}, {j for _, j, _ in pairs}
        return pairs, [i for i in gold_left if i not in taken_gold], [j for j in given_left if j not in taken_given]

    def summary(self) -> dict:
        total = LabelTally()
        for tally in self.labels.values():
            total.add(tally)
        ious = np.asarray(self.ious)
        return {**_figures(total), "iou_sd": _round(ious.std(ddof=1)) if len(ious) > 1 else None,
                "per_label": {label: _figures(tally) for label, tally in sorted(self.labels.items())}}


def _figures(tally: LabelTally) -> dict:
    return {
        "gold_regions": tally.gold, "given_regions": tally.given, "matched": tally.matched,
        "precision": _round(tally.matched / tally.given) if tally.given else None,
        "recall": _round(tally.matched / tally.gold) if tally.gold else None,
        "f1": _round(2 * tally.matched / (tally.gold + tally.given)) if tally.gold + tally.given else None,
        "mean_iou": _round(tally.iou_sum / tally.matched) if tally.matched else None,
        "missed": tally.became[MISSED], "misplaced": tally.became[MISPLACED], "extra": tally.given - tally.matched - tally.covered_other,
        "became": dict(tally.became.most_common()),
    }


class RegionAgreement:
    """Pairwise agreement between labelers as region F1 at the threshold, per label and overall.

    For two labelers on one task, F1 = 2 x matched / (regions of one + regions of the other); pooled
    over tasks by summing both parts, so a task with many regions weighs more than a task with one.
    """

    def __init__(self, n_labelers: int, kind: str, threshold: float):
        self.kind, self.threshold = kind, threshold
        self.matched = np.zeros((n_labelers, n_labelers))
        self.drawn = np.zeros((n_labelers, n_labelers))
        self.labels: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def add(self, answers: list[tuple[int, list[Region]]]) -> None:
        for x, (a, regions_a) in enumerate(answers):
            for b, regions_b in answers[x + 1:]:
                if a == b:
                    continue
                pairs = match(regions_a, regions_b, self.kind, self.threshold)
                for matrix, value in ((self.matched, 2 * len(pairs)), (self.drawn, len(regions_a) + len(regions_b))):
                    matrix[a, b] += value
                    matrix[b, a] += value
                for i, _, _ in pairs:
                    self.labels[regions_a[i].label][0] += 2
                for region in regions_a + regions_b:
                    self.labels[region.label][1] += 1

    def matrix(self) -> np.ndarray:
        """Labeler x labeler F1 (nan where two labelers never met on a task with a region); 1 on the diagonal."""
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.where(self.drawn > 0, self.matched / self.drawn, np.nan)
        np.fill_diagonal(f1, 1.0)
        return f1

    def overall(self) -> float | None:
        drawn = self.drawn.sum()
        return _round(self.matched.sum() / drawn) if drawn else None

    def per_label(self) -> dict[str, float | None]:
        return {label: _round(m / n) if n else None for label, (m, n) in sorted(self.labels.items())}


@dataclass(frozen=True)
class FusedRegion:
    """A consensus region: the weighted-vote label, fused coordinates, and the share of the weight behind it."""

    label: str
    value: dict
    confidence: float  # weight of the labelers who drew it with this label, over the weight of all who saw the task
    support: int       # labelers who drew it (any label)


class RegionConsensus:
    """Regions of several labelers on one task, clustered at the IoU threshold and fused.

    Labelers are taken from the most reliable down; each one's regions join the clusters they overlap
    most (at most one region per labeler and cluster, whatever the label) or start new ones. A cluster
    is kept when the labelers in it carry at least `min_support` of the task's weight. Its label is
    the weighted vote; a box's edges and a span's offsets are weighted medians, robust to one sloppy
    labeler; a polygon keeps the most reliable member's points, since polygons with different
    point counts have no meaningful average.
    """

    def __init__(self, kind: str, threshold: float = 0.5, min_support: float = 0.5):
        self.kind, self.threshold, self.min_support = kind, threshold, min_support

    def fit(self, answers: list[tuple[float, list[Region]]]) -> "RegionConsensus":
        """`answers`: (labeler weight, their regions) per labeler who answered the task."""
        order = sorted(range(len(answers)), key=lambda k: -answers[k][0])
        self.total_ = sum(weight for weight, _ in answers) or 1.0
        self.clusters_: list[list[tuple[int, Region]]] = []  # (answer index, region); the first is the seed
        for k in order:
            regions = answers[k][1]
            seeds = [cluster[0][1] for cluster in self.clusters_]
            joined = match(seeds, regions, self.kind, self.threshold, same_label=False)
            for c, r, _ in joined:
                self.clusters_[c].append((k, regions[r]))
            for r in sorted(set(range(len(regions))) - {r for _, r, _ in joined}):
                self.clusters_.append([(k, regions[r])])
        self.regions_, agreement = [], []
        for cluster in self.clusters_:
            support = sum(answers[k][0] for k, _ in cluster) / self.total_
            if support + 1e-9 < self.min_support:
                agreement.append(1 - support)  # the labelers who left it out agree it is not there
                continue
            votes = Counter()
            for k, region in cluster:
                votes[region.label] += answers[k][0]
            label = max(votes, key=lambda name: (votes[name], name == cluster[0][1].label))
            fused = FusedRegion(label, self._fuse([(answers[k][0], region) for k, region in cluster]),
                                round(votes[label] / self.total_, 4), len(cluster))
            self.regions_.append(fused)
            agreement.append(fused.confidence)
        self.confidence_ = round(float(np.mean(agreement)), 4) if agreement else 1.0
        return self

    def _fuse(self, members: list[tuple[float, Region]]) -> dict:
        seed = members[0][1].value
        weights = np.array([weight for weight, _ in members], dtype=float)
        try:
            if self.kind in BOX_KINDS and not any(region.value.get("rotation") for _, region in members):
                edges = np.array([numbers(region.value, ("x", "y", "width", "height")) for _, region in members])
                edges[:, 2:] += edges[:, :2]  # x, y, x2, y2
                x, y, x2, y2 = (_weighted_median(edges[:, c], weights) for c in range(4))
                return {**seed, "x": x, "y": y, "width": x2 - x, "height": y2 - y}
            if self.kind in SPAN_KINDS and all(isinstance(r.value.get("start"), int) and isinstance(r.value.get("end"), int)
                                               for _, r in members):
                start = int(_weighted_median(np.array([r.value["start"] for _, r in members]), weights))
                end = int(_weighted_median(np.array([r.value["end"] for _, r in members]), weights))
                same = next((r.value for _, r in members if (r.value["start"], r.value["end"]) == (start, end)), None)
                return dict(same) if same else {**seed, "start": start, "end": end}
        except (KeyError, TypeError, ValueError):
            pass  # coordinates an edited export garbled: the most reliable member's region stands
        return dict(seed)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which half the weight lies below (the lower one on a tie)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    at = int(np.searchsorted(cumulative, cumulative[-1] / 2))
    return float(values[order][min(at, len(values) - 1)])


def _round(value) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), 4)
