"""`ls-context onboard`: the course a labeler takes before real data, built from the guidelines.

Every do-example is a task whose answer is its label; a don't-example whose label is known (the
control has two labels, or its explanation names exactly one other label) is one too; every edge
case is a task asking for its label; and a share of the project's gold joins them. The tasks go
into a companion Label Studio project ("<name>: onboarding") with the project's own extended
config and instructions, each with its expected answer stored as gold of that project: the server
checks every answer and explains it on the labeler's own page, as it does for gold.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from label_studio_sdk.label_interface import LabelInterface
from sqlalchemy import select

from ls_context.checks.gold import import_gold
from ls_context.errors import LSContextError
from ls_context.guidelines import Guidelines
from ls_context.guidelines.schema import Onboarding
from ls_context.store import Course as CourseRow
from ls_context.store import Gold, Store

from .standing import prepares_for

# Every labeler answers every course task: a task is done only when this many labelers answered it.
EVERY_LABELER = 1000
SUFFIX = ": onboarding"


@dataclass(frozen=True)
class CourseTask:
    """One task of the course: its data, the expected result, what the feedback explains, and where it came from."""

    data: dict
    result: list
    explanation: str
    source: str  # "do example", "don't example", "edge case" or "gold"
    label: str = ""  # the expected label, for tasks from the guidelines
    gold_task: int | None = None  # the project's gold task it copies


@dataclass
class Course:
    """What `build_course` did: the companion project, its tasks by source, and what a lead should know."""

    project_id: int
    title: str
    created: bool
    imported: int
    already: int
    by_source: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)  # label -> course tasks expecting it
    taught: list = field(default_factory=list)  # the project's gold task ids shown in the course
    warnings: list = field(default_factory=list)
    size: int = 0  # the course's tasks built from the guidelines and gold now
    bar: Onboarding = field(default_factory=Onboarding)  # what certifies a labeler


def course_tasks(guidelines: Guidelines, label_config: str, gold: list, share: float, seed: int = 0) -> tuple[list[CourseTask], list[str]]:
    """The course's tasks for a project with this label config, and warnings; `gold`: the project's Gold rows."""
    interface = LabelInterface(label_config)
    objects = {obj.name: obj for obj in interface.objects}
    found, warnings = [], []
    for control in interface.controls:
        guide = guidelines.controls.get(control.name)
        target = objects.get(control.to_name[0]) if control.to_name else None
        if guide is None or target is None or control.tag.lower() not in ("choices", "taxonomy") or not target.value:
            continue
        field_name, picture = target.value.lstrip("$"), target.tag.lower() == "image"
        values = [label.value for label in guide.labels]
        for label in guide.labels:
            for kind, examples in (("do example", label.do), ("don't example", label.dont)):
                for example in examples:
                    content = example.image if picture else example.text
                    answer = label.value if kind == "do example" else _other_label(label.value, values, example.explanation)
                    if not content:
                        continue
                    if answer is None:
                        warnings.append(f"don't-example of {label.value} left out (its explanation names no single other label): "
                                        f"{_short(content)}")
                        continue
                    found.append(_task(control, target, field_name, content, answer, example.explanation, kind))
            for case in label.edge_cases if not picture else ():
                found.append(_task(control, target, field_name, case.situation, case.label, case.why, "edge case"))
    found += _gold_share(gold, share, seed)
    random.Random(seed).shuffle(found)  # labels mixed, never a block of one label
    return found, warnings


def _task(control, target, field_name: str, content: str, label: str, explanation: str, source: str) -> CourseTask:
    value_key = "taxonomy" if control.tag.lower() == "taxonomy" else "choices"
    result = [{"from_name": control.name, "to_name": target.name, "type": value_key,
               "value": {value_key: [[label]] if value_key == "taxonomy" else [label]}}]
    return CourseTask({field_name: content}, result, explanation, source, label)


def _other_label(label: str, values: list[str], explanation: str) -> str | None:
    """The label a don't-example of `label` has: the other one of two, or the only other label its explanation names."""
    others = [value for value in values if value != label]
    if len(others) == 1:
        return others[0]
    named = [value for value in others if re.search(rf"(?<!\w){re.escape(value)}(?!\w)", explanation or "", re.IGNORECASE)]
    return named[0] if len(named) == 1 else None


def _gold_share(gold: list, share: float, seed: int) -> list[CourseTask]:
    """`share` of the project's gold tasks (at least one when share > 0), the same ones for the same seed."""
    usable = sorted((row for row in gold if row.data), key=lambda row: row.task_id)
    count = min(len(usable), max(1, round(share * len(usable)))) if share > 0 and usable else 0
    chosen = random.Random(seed).sample(usable, count)
    return [CourseTask(dict(row.data), list(row.result), row.explanation or "", "gold", gold_task=row.task_id)
            for row in sorted(chosen, key=lambda row: row.task_id)]


def build_course(studio, store: Store, book, project_id: int, backend) -> Course:
    """Create (or bring up to date) the project's course in Label Studio; running it again adds only what is new."""
    project = studio.project(project_id)  # a project that does not exist is said first
    with store.reading() as session:
        parent = prepares_for(session, project_id)
    if parent is not None or project.title.endswith(SUFFIX):
        raise LSContextError(f"project {project_id} is itself an onboarding course; give the project labelers will work on"
                             + (f" (project {parent})" if parent is not None else ""))
    guidelines = book.latest(project_id)
    if guidelines is None:
        raise LSContextError(f"no guidelines stored for project {project_id}: run `ls-context setup` (or `guidelines push`) first")
    with store.reading() as session:
        gold = list(session.scalars(select(Gold).where(Gold.project_id == project_id)))
        known = session.get(CourseRow, project_id)
        known_course = known.course_project_id if known else None
    tasks, warnings = course_tasks(guidelines, project.label_config, gold, guidelines.onboarding.gold_share)
    if not tasks:
        raise LSContextError(f"project {project_id}: the guidelines give no do-examples or edge cases for its choice controls, "
                             "and it has no gold: the course would be empty")
    title = f"{project.title}{SUFFIX}"[:50]  # Label Studio's limit on a title
    course_project, created = _course_project(studio, known_course, title, project.label_config)
    studio.update_project(course_project.id, label_config=project.label_config, expert_instruction=project.expert_instruction or "",
                          show_instruction=True, maximum_annotations=EVERY_LABELER, overlap_cohort_percentage=100,
                          show_collab_predictions=False)
    versions = book.versions(project_id)
    text = versions[-1].text if versions else book.default_path.read_text(encoding="utf-8")
    book.push(course_project.id, text, source=f"project {project_id}")  # the feedback quotes the same guidelines
    studio.ensure_webhook(course_project.id, f"{backend.url}/webhook", backend.headers())
    items = [{"data": task.data, "annotations": [{"result": task.result}], "explanation": task.explanation} for task in tasks]
    imported, already = import_gold(studio, store, course_project.id, items)
    taught = sorted(task.gold_task for task in tasks if task.gold_task is not None)
    with store.session() as session:
        session.merge(CourseRow(project_id=project_id, course_project_id=course_project.id, taught=taught))
    course = Course(course_project.id, title, created, imported, already, taught=taught, warnings=warnings, size=len(tasks),
                    bar=guidelines.onboarding)
    for task in tasks:
        course.by_source[task.source] = course.by_source.get(task.source, 0) + 1
        if task.source != "gold":
            course.labels[task.label] = course.labels.get(task.label, 0) + 1
    missing = [label.value for control in guidelines.controls.values() for label in control.labels if label.value not in course.labels]
    if missing:
        course.warnings.append(f"no do-example or edge case for {', '.join(missing)}: add some, or the course teaches "
                               "these labels only through the gold it shows")
    return course


def _course_project(studio, known_id: int | None, title: str, label_config: str):
    """The course's Label Studio project: the one recorded, else one with its title, else a new one; (project, created)."""
    if known_id is not None:
        try:
            return studio.project(known_id), False
        except LSContextError:
            pass  # deleted in Label Studio: made again below
    existing = studio.find_project(title)
    if existing is not None:
        return existing, False
    return studio.create_project(title, label_config), True


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
