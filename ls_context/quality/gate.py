"""The pilot-batch gate: each criterion with its measured value, pass or fail, and who needs help."""

from __future__ import annotations

from dataclasses import dataclass

from ls_context.guidelines import GateThresholds


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


def evaluate(metrics: dict, thresholds: GateThresholds) -> tuple[list[Criterion], list[str]]:
    """The criteria that have a threshold, and alert lines for labelers below the accuracy bar."""
    annotators = metrics["annotators"]
    criteria, alerts = [], []
    minimum_gold = thresholds.min_gold_per_labeler or 0
    if thresholds.min_gold_per_labeler is not None:
        counts = {name: a["gold_n"] for name, a in annotators.items()}
        short = sorted(name for name, n in counts.items() if n < minimum_gold)
        criteria.append(Criterion(
            "gold answers per labeler (minimum)", minimum_gold, min(counts.values(), default=None), not short,
            f"too few: {', '.join(short)}" if short else "",
        ))
    if thresholds.min_accuracy is not None:
        judged = {name: a for name, a in annotators.items() if a["gold_n"] and a["gold_n"] >= max(minimum_gold, 1)}
        # Judged by the interval: a labeler fails only when even the optimistic end is below the bar.
        below = sorted(name for name, a in judged.items() if a["gold_ci_high"] < thresholds.min_accuracy)
        right = sum(a["gold_accuracy"] * a["gold_n"] for a in judged.values())
        total = sum(a["gold_n"] for a in judged.values())
        criteria.append(Criterion(
            "gold accuracy per labeler", thresholds.min_accuracy, right / total if total else None,
            bool(total) and not below,
            f"below the bar: {', '.join(below)}" if below else ("no labeler has enough gold answers" if not total else "pooled accuracy shown"),
        ))
        alerts = [_alert(name, annotators[name], metrics) for name in below]
    if thresholds.min_alpha is not None:
        alphas = {control: a["krippendorff_alpha"] for control, a in metrics["agreement"].items()}
        low = sorted(control for control, alpha in alphas.items() if alpha is None or alpha < thresholds.min_alpha)
        measured = [alpha for alpha in alphas.values() if alpha is not None]
        criteria.append(Criterion(
            "Krippendorff's alpha per control (lowest)", thresholds.min_alpha, min(measured) if measured else None,
            bool(alphas) and not low, f"too low: {', '.join(low)}" if low else "",
        ))
    if thresholds.max_flag_rate is not None:
        flags = sum((a["flag_rate"] or 0) * a["annotations"] for a in annotators.values())
        total = sum(a["annotations"] for a in annotators.values())
        rate = flags / total if total else None
        criteria.append(Criterion("flag rate (maximum)", thresholds.max_flag_rate, rate, rate is not None and rate <= thresholds.max_flag_rate))
    return criteria, alerts


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
