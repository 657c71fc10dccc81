"""Where each labeler stands in a project's onboarding course: certified, in progress, failed or not started.

Read from the course project's gold checks, the newest verdict per answer, counting only answers
that still exist in Label Studio: a lead lets a labeler retake the course by deleting their answers
there. The standing is recomputed from the record each time; nothing is certified by hand.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ls_context.checks.compare import by_control, describe
from ls_context.guidelines.schema import Onboarding
from ls_context.store import Annotation, Check, Course, Gold, Labeler

CERTIFIED, IN_PROGRESS, FAILED, NOT_STARTED = "certified", "in progress", "failed", "not started"


@dataclass(frozen=True)
class Standing:
    """One labeler's record in the course, and what it makes them."""

    labeler_id: int
    email: str
    status: str
    answered: int  # course tasks answered
    right: int  # answers that passed their check
    checked: int  # answers with a verdict
    course_size: int
    per_label: dict = field(default_factory=dict)  # expected label -> (right, answered)

    @property
    def accuracy(self) -> float | None:
        return self.right / self.checked if self.checked else None

    @property
    def weakest(self) -> tuple[str, int, int] | None:
        """(label, right, answered) of the label they get wrong most often, or None when none is wrong."""
        missed = [(right / n, -n, label, right, n) for label, (right, n) in self.per_label.items() if right < n]
        return min(missed)[2:] if missed else None

    def describe(self) -> str:
        """`failed: 9 of 15 right (60%), weakest Negative (1 of 5)`, as `labelers` and the gate say it."""
        if self.status == NOT_STARTED:
            return f"{NOT_STARTED} (course of {self.course_size} tasks)"
        share = f" ({self.accuracy:.0%})" if self.checked else ""
        text = f"{self.status}: {self.right} of {self.checked} right{share}, {self.answered} of {self.course_size} tasks"
        weakest = self.weakest
        return text + (f", weakest {weakest[0]} ({weakest[1]} of {weakest[2]})" if weakest else "")

    def as_dict(self) -> dict:
        weakest = self.weakest
        return {"status": self.status, "answered": self.answered, "right": self.right, "checked": self.checked,
                "course_size": self.course_size, "accuracy": self.accuracy, "describe": self.describe(),
                "weakest": {"label": weakest[0], "right": weakest[1], "answered": weakest[2]} if weakest else None}


def standings(session, project_id: int, bar: Onboarding, labeler_ids=()) -> dict[int, Standing] | None:
    """Each labeler's standing in the project's course (those with course answers, and `labeler_ids`); None without a course."""
    course = session.get(Course, project_id)
    if course is None:
        return None
    course_id = course.course_project_id
    size = session.scalar(select(func.count()).select_from(Gold).where(Gold.project_id == course_id)) or 0
    labels = _course_labels(session, course_id)
    newest = (select(func.max(Check.id)).join(Annotation, Annotation.id == Check.annotation_id)
              .where(Check.project_id == course_id, Annotation.cancelled.is_(False), Check.labeler_id.is_not(None))
              .group_by(Check.annotation_id, Check.control))
    rows = session.execute(select(Check.labeler_id, Check.task_id, Check.expected, Check.passed).where(Check.id.in_(newest))).all()
    records = defaultdict(lambda: {"tasks": set(), "right": 0, "checked": 0, "per_label": defaultdict(lambda: [0, 0])})
    for labeler_id, task_id, expected, passed in rows:
        record = records[labeler_id]
        record["tasks"].add(task_id)
        if passed is not None:
            record["checked"] += 1
            record["right"] += bool(passed)
            record["per_label"][expected][0] += bool(passed)
            record["per_label"][expected][1] += 1
    emails = dict(session.execute(select(Labeler.id, Labeler.email).where(Labeler.id.in_(set(records) | set(labeler_ids)))).all())
    found = {}
    for labeler_id in set(records) | set(labeler_ids):
        record = records.get(labeler_id) or {"tasks": set(), "right": 0, "checked": 0, "per_label": {}}
        per_label = {label: tuple(counts) for label, counts in record["per_label"].items()}
        status = _status(len(record["tasks"]), record["right"], record["checked"], size, set(per_label), labels, bar)
        found[labeler_id] = Standing(labeler_id, emails.get(labeler_id) or f"labeler {labeler_id}", status, len(record["tasks"]),
                                     record["right"], record["checked"], size, per_label)
    return found


def _status(answered: int, right: int, checked: int, size: int, covered: set, labels: set, bar: Onboarding) -> str:
    """Certified once enough tasks, every label and the accuracy bar are met; failed once the bar is out of reach."""
    if answered == 0:
        return NOT_STARTED
    needed = min(bar.min_tasks, size)
    if answered >= needed and labels <= covered and checked and right / checked >= bar.min_accuracy - 1e-9:
        return CERTIFIED
    remaining = max(size - answered, 0)
    if (right + remaining) / max(checked + remaining, 1) < bar.min_accuracy - 1e-9:
        return FAILED  # even every remaining task right would not bring them to the bar
    return IN_PROGRESS


def _course_labels(session, course_id: int) -> set[str]:
    """The expected answers of the course's tasks, as the checks write them: each must be answered once to certify."""
    labels = set()
    for (result,) in session.execute(select(Gold.result).where(Gold.project_id == course_id)):
        labels.update(describe(items) for items in by_control(result or []).values())
    return labels


def prepares_for(session, project_id: int) -> int | None:
    """The project whose onboarding course this project is, or None when it is no course."""
    return session.scalar(select(Course.project_id).where(Course.course_project_id == project_id))


def certified_labelers(session, project_id: int, bar: Onboarding) -> set[int] | None:
    """The labelers the course certified; None when the project has no course (then nobody needs certifying)."""
    found = standings(session, project_id, bar)
    return None if found is None else {labeler for labeler, standing in found.items() if standing.status == CERTIFIED}


def standings_by_name(store, project_id: int, guidelines) -> dict | None:
    """Each course standing as the report names labelers (email, else "labeler <id>" or the bare id); None without a course."""
    if guidelines is None:
        return None
    with store.reading() as session:
        found = standings(session, project_id, guidelines.onboarding)
    if found is None:
        return None
    named = {}
    for labeler_id, standing in found.items():
        for name in (str(labeler_id), f"labeler {labeler_id}", standing.email):
            named[name] = standing.as_dict()
    return named
