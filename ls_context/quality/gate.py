"""The pilot-batch gate: each criterion with its measured value, pass or fail, and who needs help."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ls_context.guidelines import GateThresholds
from ls_context.onboarding.standing import CERTIFIED

from .metrics import wilson_interval

DEFAULT_MIN_GOLD_PER_LABEL = 5


def confidently_below(right: int, n: int, bar: float, minimum: int = 1) -> bool:
    """The gate's rule for one labeler's share of right gold answers (overall, or on one label).

    Judged only from `minimum` answers on, and failed only when even the upper end of the Wilson
    95% interval is under the bar: a labeler is never failed on bad luck with a handful of tasks.
    The model's trust in labelers (ml_backend.trust) applies the same rule.
    """
    return n >= max(minimum, 1) and wilson_interval(right, n)[1] < bar


@dataclass(frozen=True)
class Criterion:
    name: str
    threshold: float
    measured: float | None
    passed: bool
    detail: str = ""

    def line(self) -> str:
        measured = "n/a" if self.measured is None else f"{self.measured:.3g}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: measured {measured}, threshold {self.threshold:g}{detail}"


@dataclass(frozen=True)
class LabelRecall:
    """One labeler's recall on one gold label: what the gate judges, and the facts of its alert line."""

    labeler: str
    control: str
    label: str
    recall: dict  # the metrics' per_label entry: gold_n, right, recall, ci_low, ci_high, became


def evaluate(metrics: dict, thresholds: GateThresholds) -> tuple[list[Criterion], list[str]]:
    """The criteria that have a threshold (see `GateThresholds`), and alert lines for labelers below a bar.

    The rules, each left out when its threshold is None:

    - gold answers per labeler: every labeler has at least `min_gold_per_labeler` gold answers.
    - gold accuracy per labeler: each labeler with enough gold answers has the upper end of the
      Wilson 95% interval of their pooled gold accuracy at or above `min_accuracy`.
    - gold recall per labeler and label (whenever `min_accuracy` is set): on every label where a
      labeler has at least `min_gold_per_label` gold answers (5 when unset), the upper end of the
      Wilson 95% interval of their recall is at or above `min_accuracy`. This catches a labeler who
      is fine on average but turns one label into another. Labels with fewer gold answers are not
      judged (0 right of 2 still has an upper end of 66%), and a batch where nothing can be judged
      passes this criterion: the other criteria already speak for too little gold.
    - Krippendorff's alpha per control: at least `min_alpha` on every control.
    - flag rate: the share of flagged annotations is at most `max_flag_rate`.
    - region IoU per labeler: on every region control (boxes, polygons, spans), the mean IoU of a
      labeler's regions that matched gold has the upper end of its 95% interval (normal, from the
      spread of the IoUs) at or above `min_region_iou`, judged from `min_gold_per_label` matches
      (5 when unset). This catches a labeler whose boxes are found but drawn loosely.

    - labelers certified (whenever the project has an onboarding course): every labeler with
      annotations in the batch is certified by the course; the others are named with their standing.

    Judging by the interval's upper end means a labeler fails only when even the optimistic
    reading of their answers is below the bar, never on bad luck with a handful of tasks.
    """
    annotators = metrics["annotators"]
    criteria, below, misses, loose = [], [], [], []
    minimum = thresholds.min_gold_per_label if thresholds.min_gold_per_label is not None else DEFAULT_MIN_GOLD_PER_LABEL
    if thresholds.min_gold_per_labeler is not None:
        criteria.append(_gold_count(annotators, thresholds.min_gold_per_labeler))
    if thresholds.min_accuracy is not None:
        criterion, below = _gold_accuracy(annotators, thresholds.min_accuracy, thresholds.min_gold_per_labeler or 0)
        criteria.append(criterion)
        criterion, misses = _gold_recall(annotators, thresholds.min_accuracy, minimum)
        criteria.append(criterion)
    if thresholds.min_alpha is not None:
        criteria.append(_alpha(metrics["agreement"], thresholds.min_alpha))
    if thresholds.max_flag_rate is not None:
        criteria.append(_flag_rate(annotators, thresholds.max_flag_rate))
    if thresholds.min_region_iou is not None:
        criterion, loose = _region_iou(metrics.get("regions") or {}, thresholds.min_region_iou, minimum)
        criteria.append(criterion)
    uncertified = []
    if metrics.get("onboarding") is not None:
        criterion, uncertified = _certified(metrics["onboarding"])
        criteria.append(criterion)
    return criteria, (_alerts(metrics, below, misses) + [_loose_alert(row) for row in loose]
                      + [f"{name}: annotates without the onboarding course's certification ({standing['describe']}); "
                         "kept, but left out of training and consensus" for name, standing in uncertified])


def _gold_count(annotators: dict, minimum: int) -> Criterion:
    """Every labeler answered enough gold to be judged at all."""
    counts = {name: a["gold_n"] for name, a in annotators.items()}
    short = sorted(name for name, n in counts.items() if n < minimum)
    return Criterion("gold answers per labeler (minimum)", minimum, min(counts.values(), default=None), not short,
                     f"too few: {', '.join(short)}" if short else "")


def _gold_accuracy(annotators: dict, bar: float, minimum_gold: int) -> tuple[Criterion, list[str]]:
    """Pooled gold accuracy per labeler, judged by the upper end of its interval; returns who is below."""
    judged = {name: a for name, a in annotators.items() if a["gold_n"] and a["gold_n"] >= max(minimum_gold, 1)}
    below = sorted(name for name, a in judged.items() if a["gold_ci_high"] < bar)
    right = sum(a["gold_accuracy"] * a["gold_n"] for a in judged.values())
    total = sum(a["gold_n"] for a in judged.values())
    detail = f"below the bar: {', '.join(below)}" if below else ("no labeler has enough gold answers" if not total else "pooled accuracy shown")
    return Criterion("gold accuracy per labeler", bar, right / total if total else None, bool(total) and not below, detail), below


def _gold_recall(annotators: dict, bar: float, minimum_gold: int) -> tuple[Criterion, list[LabelRecall]]:
    """Recall per labeler and gold label, judged like accuracy but label by label; returns the misses."""
    judged = [LabelRecall(name, control, label, recall)
              for name, a in annotators.items()
              for control, labels in a["per_label"].items()
              for label, recall in labels.items() if recall["gold_n"] >= minimum_gold]
    misses = sorted((m for m in judged if confidently_below(m.recall["right"], m.recall["gold_n"], bar, minimum_gold)),
                    key=lambda m: (m.labeler, m.recall["ci_high"], m.control, m.label))
    lowest = min((m.recall["ci_high"] for m in judged), default=None)
    if misses:
        detail = "below the bar: " + ", ".join(f"{m.labeler} on {m.label}" for m in misses) + "; lowest upper 95% bound shown"
    else:
        detail = "lowest upper 95% bound shown" if judged else f"not judged: no labeler has {minimum_gold} gold answers on one label"
    return Criterion("gold recall per labeler and label", bar, lowest, not misses, detail), misses


def _alpha(agreement: dict, bar: float) -> Criterion:
    """Agreement between labelers on every control."""
    alphas = {control: a["krippendorff_alpha"] for control, a in agreement.items()}
    low = sorted(control for control, alpha in alphas.items() if alpha is None or alpha < bar)
    measured = [alpha for alpha in alphas.values() if alpha is not None]
    return Criterion("Krippendorff's alpha per control (lowest)", bar, min(measured) if measured else None,
                     bool(alphas) and not low, f"too low: {', '.join(low)}" if low else "")


def _flag_rate(annotators: dict, bar: float) -> Criterion:
    """The share of annotations flagged as unsure: many flags mean the guidelines leave too much open."""
    flags = sum((a["flag_rate"] or 0) * a["annotations"] for a in annotators.values())
    total = sum(a["annotations"] for a in annotators.values())
    rate = flags / total if total else None
    return Criterion("flag rate (maximum)", bar, rate, rate is not None and rate <= bar)


def _certified(onboarding: dict) -> tuple[Criterion, list[tuple[str, dict]]]:
    """Every labeler of the batch passed the project's onboarding course; returns the others with their standing."""
    uncertified = sorted((name, standing) for name, standing in onboarding.items() if standing["status"] != CERTIFIED)
    share = (len(onboarding) - len(uncertified)) / len(onboarding) if onboarding else None
    detail = "not certified: " + ", ".join(f"{name} ({standing['status']})" for name, standing in uncertified) if uncertified else ""
    return Criterion("labelers certified by the onboarding course (share)", 1, share, not uncertified, detail), uncertified


@dataclass(frozen=True)
class RegionFit:
    """How tightly one labeler's matched regions on one control fit gold: mean IoU and its 95% interval."""

    labeler: str
    control: str
    mean_iou: float
    matched: int
    ci_low: float
    ci_high: float


def _region_iou(regions: dict, bar: float, minimum: int) -> tuple[Criterion, list[RegionFit]]:
    """Mean IoU with gold of each labeler's matched regions, per region control; returns who draws loosely."""
    judged = []
    for control, found in regions.items():
        for name, summary in found["labelers"].items():
            n, mean, sd = summary["matched"], summary["mean_iou"], summary["iou_sd"] or 0.0
            if n >= max(minimum, 2) and mean is not None:
                half = 1.96 * sd / math.sqrt(n)
                judged.append(RegionFit(name, control, mean, n, max(0.0, mean - half), min(1.0, mean + half)))
    loose = sorted((fit for fit in judged if fit.ci_high < bar), key=lambda fit: (fit.labeler, fit.control))
    lowest = min((fit.mean_iou for fit in judged), default=None)
    if loose:
        detail = "below the bar: " + ", ".join(f"{fit.labeler} on {fit.control}" for fit in loose) + "; lowest mean shown"
    else:
        detail = "lowest mean shown" if judged else f"not judged: no labeler has {max(minimum, 2)} regions matched to gold"
    return Criterion("region IoU with gold per labeler (mean of matched regions)", bar, lowest, not loose, detail), loose


def _loose_alert(fit: RegionFit) -> str:
    return (f"{fit.labeler}: regions drawn loosely in {fit.control}: mean IoU {fit.mean_iou:.2f} with gold over "
            f"{fit.matched} matched regions (95% interval {fit.ci_low:.2f}-{fit.ci_high:.2f})")


def _alerts(metrics: dict, below: list[str], misses: list[LabelRecall]) -> list[str]:
    """Alert lines grouped by labeler: the pooled-accuracy line first, then one line per label missed."""
    several_controls = len(metrics["confusions"]) + len(metrics.get("regions") or {}) > 1
    lines = [(name, 0, _alert(name, metrics["annotators"][name], metrics)) for name in below]
    lines += [(miss.labeler, 1 + i, _label_alert(miss, several_controls)) for i, miss in enumerate(misses)]
    # dict.fromkeys keeps the order and drops a repeated line.
    return list(dict.fromkeys(line for _, _, line in sorted(lines, key=lambda item: item[:2])))


def _alert(name: str, annotator: dict, metrics: dict) -> str:
    """One line a lead acts on: who, how accurate, and what they confuse most."""
    confused = []
    for control, confusion in metrics["confusions"].items():
        table = confusion["by_labeler_vs_gold"].get(name)
        if not table:
            continue
        labels = confusion["labels"]
        for expected, row in enumerate(table):
            for given, count in enumerate(row):
                if expected != given and count:
                    confused.append((count, f"{labels[expected]} -> {labels[given]}"))
    top = ", ".join(f"{text} ({count}x)" for count, text in sorted(confused, reverse=True)[:3])
    return (f"{name}: gold accuracy {annotator['gold_accuracy']:.0%} on {annotator['gold_n']} gold answers "
            f"(95% interval {annotator['gold_ci_low']:.0%}-{annotator['gold_ci_high']:.0%})"
            + (f"; confuses {top}" if top else ""))


def _label_alert(miss: LabelRecall, name_control: bool) -> str:
    """`who: Neutral -> Positive on 5 of 6 gold (recall 17%, 95% interval 3%-56%)`; several targets get their counts."""
    recall, became = miss.recall, miss.recall["became"]
    target = next(iter(became)) if len(became) == 1 else ", ".join(f"{label} {count}" for label, count in became.items())
    where = f" in control {miss.control}" if name_control else ""
    return (f"{miss.labeler}: {miss.label} -> {target} on {recall['gold_n'] - recall['right']} of {recall['gold_n']} gold{where} "
            f"(recall {recall['recall']:.0%}, 95% interval {recall['ci_low']:.0%}-{recall['ci_high']:.0%})")
