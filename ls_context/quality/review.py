"""The weekly review: this period against the one before, who needs help on which label, flags to answer, edits to consider.

The export is read once; each annotation goes to the period it was made in (by `created_at`), gold
answers to both, so the two periods are measured alike. What a lead pastes into the team's channel
on Monday: a Markdown text, and the same as an HTML page.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ls_context.errors import LSContextError
from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE

from .export import Reader
from .gate import DEFAULT_MIN_GOLD_PER_LABEL, confidently_below
from .metrics import compute

DEFAULT_BAR = 0.8  # the recall a labeler needs on a label when the guidelines' gate sets no min_accuracy
SHOWN = 10


def period(since: str, until: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the period `since` names: "7d", "36h", or a date such as 2026-11-23."""
    end = until or datetime.now(timezone.utc)
    match = re.fullmatch(r"\s*(\d+)\s*([dh])\s*", since)
    if match:
        amount = int(match.group(1))
        if amount <= 0:
            raise LSContextError(f"--since {since}: the period must be longer than zero")
        return end - (timedelta(days=amount) if match.group(2) == "d" else timedelta(hours=amount)), end
    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        raise LSContextError(f"--since {since}: give days (7d), hours (36h) or a date (2026-11-23)") from None
    start = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
    if start >= end:
        raise LSContextError(f"--since {since}: the date is not in the past")
    return start, end


@dataclass
class Review:
    start: datetime
    end: datetime
    current: dict
    previous: dict
    flags: list[dict] = field(default_factory=list)  # task, labeler, reason, note, created_at

    def labelers(self) -> list[dict]:
        """Per labeler: gold accuracy now and before, and the change, largest gain first."""
        rows = []
        for name, now in self.current["annotators"].items():
            before = self.previous["annotators"].get(name, {})
            change = (now["gold_accuracy"] - before["gold_accuracy"]
                      if now.get("gold_accuracy") is not None and before.get("gold_accuracy") is not None else None)
            rows.append({"name": name, "annotations": now["annotations"], "accuracy": now["gold_accuracy"], "gold_n": now["gold_n"],
                         "before": before.get("gold_accuracy"), "before_n": before.get("gold_n", 0), "change": change})
        return sorted(rows, key=lambda row: (row["change"] is None, -(row["change"] or 0), row["name"]))

    def needs_help(self, bar: float, minimum: int = DEFAULT_MIN_GOLD_PER_LABEL) -> list[str]:
        """`who: Neutral -> Positive on 5 of 6 gold (recall 17%)`, for each label a labeler is confidently below the bar on."""
        lines = []
        for name, annotator in sorted(self.current["annotators"].items()):
            for control, labels in annotator["per_label"].items():
                for label, recall in labels.items():
                    if confidently_below(recall["right"], recall["gold_n"], bar, minimum):
                        became = recall["became"]
                        became = next(iter(became)) if len(became) == 1 else ", ".join(f"{other} {n}" for other, n in became.items())
                        lines.append(f"{name}: {label} -> {became} on {recall['gold_n'] - recall['right']} of {recall['gold_n']} gold "
                                     f"(recall {recall['recall']:.0%}) in {control}")
        return lines

    def edits(self) -> list[str]:
        """Guideline edits to consider, from this period's gaps: confusions, flags, overridden rules."""
        lines = []
        for gap in self.current["guideline_gaps"]:
            if gap["kind"] == "confused_pair" and len(lines) < SHOWN:
                lines.append(f"Add an edge case or a sharper definition between {gap['expected']} and {gap['given']}: "
                             f"{gap['count']} gold answer(s) mixed them up (tasks {', '.join(map(str, gap['example_tasks']))})")
            elif gap["kind"] == "flagged_label" and len(lines) < SHOWN:
                reasons = ", ".join(f"{reason} {n}" for reason, n in gap["reasons"].items())
                lines.append(f"Clarify {gap['label']}: flagged {gap['count']} time(s) ({reasons})")
            elif gap["kind"] == "overridden_rule" and len(lines) < SHOWN:
                lines.append(f"Check rule '{gap['rule']}': labelers changed its suggestion {gap['overridden']} of {gap['fired']} times")
        return lines

    def agreement(self) -> list[dict]:
        rows = []
        for control, now in self.current["agreement"].items():
            before = self.previous["agreement"].get(control, {})
            rows.append({"control": control, "alpha": now["krippendorff_alpha"], "before": before.get("krippendorff_alpha")})
        return rows


def weekly(tasks: Iterable[dict], gold: list[dict], start: datetime, end: datetime, stored_gold=None,
           thresholds: dict | None = None) -> Review:
    """Measure the period [start, end) and the one of the same length before it, from one pass over the export."""
    length = end - start
    split = _Split(((start, end), (start - length, start)))
    readers = (Reader(gold), Reader(gold))  # one pass over the export feeds both periods
    for task in tasks:
        for reader, part in zip(readers, split.task(task)):
            reader.add(part)
    current, previous = (compute(reader.finish(stored_gold), thresholds) for reader in readers)
    return Review(start, end, current, previous, split.flags)


class _Split:
    """Splits each task's annotations into the two periods by their `created_at`, and collects this period's flags."""

    def __init__(self, windows):
        self.windows = windows
        self.flags: list[dict] = []

    def task(self, task: dict) -> tuple[dict, dict]:
        kept = ([], [])
        for annotation in task.get("annotations") or []:
            if not isinstance(annotation, dict):
                continue
            if annotation.get("ground_truth"):
                kept[0].append(annotation)
                kept[1].append(annotation)
                continue
            when = _moment(annotation.get("created_at"))
            for index, (start, end) in enumerate(self.windows):
                if when is not None and start <= when < end:
                    kept[index].append(annotation)
                    if index == 0:
                        self._flag(task, annotation, when)
        light = {key: value for key, value in task.items() if key != "annotations"}
        return {**light, "annotations": kept[0]}, {**light, "annotations": kept[1]}

    def _flag(self, task: dict, annotation: dict, when: datetime) -> None:
        reason, note = None, ""
        for item in annotation.get("result") or []:
            if isinstance(item, dict) and isinstance(item.get("value"), dict):
                if item.get("from_name") == FLAG:
                    reason = next(iter(item["value"].get("choices") or []), None)
                elif item.get("from_name") == FLAG_NOTE:
                    note = " ".join(t for t in item["value"].get("text") or [] if isinstance(t, str))
        if reason:
            who = annotation.get("completed_by")
            who = who.get("email") or who.get("id") if isinstance(who, dict) else who
            self.flags.append({"task": task.get("id"), "labeler": str(who), "reason": str(reason), "note": note, "created_at": when})


def _moment(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def markdown(review: Review, title: str, bar: float) -> str:
    """The review as Markdown, for the team's channel."""
    lines = [f"# {title}", "", f"{review.start:%Y-%m-%d %H:%M} to {review.end:%Y-%m-%d %H:%M} UTC: "
             f"{review.current['counts']['annotations']} annotations (the period before: {review.previous['counts']['annotations']}).",
             "", "## Gold accuracy per labeler (this period, the one before)"]
    for row in review.labelers():
        now = f"{row['accuracy']:.0%} of {row['gold_n']}" if row["accuracy"] is not None else "no gold"
        before = f"{row['before']:.0%} of {row['before_n']}" if row["before"] is not None else "no gold"
        change = f" ({row['change'] * 100:+.0f} points)" if row["change"] is not None else ""
        lines.append(f"- {row['name']}: {now}, before {before}{change}")
    for row in review.agreement():
        if row["alpha"] is not None:
            before = f", before {row['before']:.2f}" if row["before"] is not None else ""
            lines.append(f"- agreement on {row['control']}: Krippendorff's alpha {row['alpha']:.2f}{before}")
    lines += ["", f"## Who needs help on which label (recall on gold confidently under {bar:.0%})"]
    lines += [f"- {line}" for line in review.needs_help(bar)] or ["- nobody: every label is at the bar or not yet judged"]
    lines += ["", f"## Flags to answer ({len(review.flags)})"]
    for flag in review.flags[:SHOWN * 2]:
        lines.append(f"- task {flag['task']}, {flag['labeler']}: {flag['reason']}" + (f": \u201c{flag['note']}\u201d" if flag["note"] else ""))
    if len(review.flags) > SHOWN * 2:
        lines.append(f"- ... and {len(review.flags) - SHOWN * 2} more (`ls-context flags --project ID`)")
    if not review.flags:
        lines.append("- none this period")
    lines += ["", "## Guideline edits to consider"]
    lines += [f"- {line}" for line in review.edits()] or ["- none: no confusions, flags or overridden rules stand out"]
    return "\n".join(lines) + "\n"


def html(review: Review, title: str, bar: float) -> str:
    """The review as one self-contained HTML page (every text from the data escaped)."""
    from .report import TEMPLATES

    return TEMPLATES.get_template("review.html").render(title=title, review=review, bar=bar, help=review.needs_help(bar),
                                                        edits=review.edits())
