"""What the model learns from: gold answers and the consensus of the labelers it can trust.

Per classification control, the model learns
- each gold task's expected answer, from the Gold table (the lead's answer, never a labeler's:
  labelers' answers on gold tasks are what the gold checks them on, and are left out of training);
- one example per other task: the weighted consensus of its annotations, where each labeler's
  answer counts by their measured gold accuracy, and a labeler confidently below the gate's bar
  (overall, or on one label) counts for nothing until they recover; where the project has an
  onboarding course, so does every labeler it has not certified.
Flagged (unsure) and cancelled annotations are never training truth.

Annotations arrive with Label Studio's webhooks and are recorded and processed into the store
after the answer; the model is refitted later by the `trainer`, never inside the request that
Label Studio gives one second.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from typing import NamedTuple

from ls_context.checks.processor import flag_of

from .examples import Example
from .trust import GoldAnswer, LabelerTrust, consensus

log = logging.getLogger(__name__)


def examples_from_store(store, project_id: int, field_by_control: dict[str, str], guidelines=None) -> dict[str, list[Example]]:
    """Training examples per control: the gold answers, then the trusted consensus of every other task.

    `guidelines` hold the project's thresholds (`gate`), which decide whom to trust, and the bar of its course.
    """
    return lessons_from_store(store, project_id, field_by_control, guidelines)[0]


def lessons_from_store(store, project_id: int, field_by_control: dict[str, str], guidelines=None):
    """(examples per control, labeler trust per control): what a full fit learns, and how later answers will count."""
    known = _read(store, project_id, guidelines)
    found: dict[str, list[Example]] = {}
    trusts: dict[str, LabelerTrust] = {}
    for control, field in field_by_control.items():
        trust = trusts[control] = _trust(known, control, guidelines)
        if trust.below_:
            log.info("project %s, control %s: not learning from labelers below the bar until they recover: %s", project_id,
                     control, "; ".join(f"labeler {labeler} ({why})" for labeler, why in sorted(trust.below_.items(), key=str)))
        found[control] = _gold_examples(known, control, field) + _consensus_examples(known, control, field, trust)
    return found, trusts


def labeler_trust(store, project_id: int, control: str, guidelines=None) -> LabelerTrust:
    """How much the model trusts each labeler of a project on one control, from the store's gold checks and its course."""
    return _trust(_read(store, project_id, guidelines), control, guidelines)


def _trust(known: "_Known", control: str, guidelines) -> LabelerTrust:
    """The gate's rule over the gold answers on one control, and the course's certification."""
    return LabelerTrust.for_gate(guidelines.gate if guidelines is not None else None, known.certified).fit(_gold_answers(known, control))


class _Known(NamedTuple):
    """What the store knows about one project, read in one transaction."""

    annotations: list  # (id, task_id, labeler_id, result, cancelled), oldest first
    gold: dict  # task id -> (task_id, result, data) of its Gold row
    task_data: dict  # task id -> data as last seen
    checks: list  # (task_id, labeler_id, control, passed): the latest verdict per annotation and control
    certified: set | None  # the labelers the project's onboarding course certified; None without a course


def _read(store, project_id: int, guidelines=None) -> _Known:
    from sqlalchemy import select

    from ls_context.guidelines.schema import Onboarding
    from ls_context.onboarding import certified_labelers
    from ls_context.store import Annotation, Check, Gold, TaskData

    with store.reading() as session:
        annotations = session.execute(
            select(Annotation.id, Annotation.task_id, Annotation.labeler_id, Annotation.result, Annotation.cancelled)
            .where(Annotation.project_id == project_id).order_by(Annotation.id)
        ).all()
        gold = {row.task_id: row for row in session.execute(
            select(Gold.task_id, Gold.result, Gold.data).where(Gold.project_id == project_id))}
        task_data = dict(session.execute(select(TaskData.task_id, TaskData.data).where(TaskData.project_id == project_id)).all())
        verdicts = session.execute(
            select(Check.annotation_id, Check.task_id, Check.labeler_id, Check.control, Check.passed)
            .where(Check.project_id == project_id).order_by(Check.id)
        ).all()
        certified = certified_labelers(session, project_id, guidelines.onboarding if guidelines is not None else Onboarding())
    usable = [row for row in annotations if well_formed(row.result)]
    if len(usable) < len(annotations):
        # Intake refuses such results now; a store written by an older version may still hold some.
        log.warning("project %s: %d annotation(s) left out of learning: their result is not a list of region objects",
                    project_id, len(annotations) - len(usable))
    annotations = usable
    # An annotation changed after its first check has a check per version; the latest counts, as in the report.
    latest = {(row.annotation_id, row.control): row for row in verdicts}
    checks = [(row.task_id, row.labeler_id, row.control, row.passed) for row in latest.values()]
    return _Known(annotations, gold, task_data, checks, certified)


def _gold_answers(known: _Known, control: str) -> list[GoldAnswer]:
    found = []
    for task_id, labeler_id, checked_control, passed in known.checks:
        gold = known.gold.get(task_id)
        expected = _labels(gold.result, control) if gold is not None else None
        if checked_control == control and passed is not None and labeler_id is not None and expected:
            found.append(GoldAnswer(labeler_id, expected, bool(passed)))
    return found


def _gold_examples(known: _Known, control: str, field: str) -> list[Example]:
    """Each gold task's expected answer, with the text it was imported with (else as last seen)."""
    found = []
    for task_id, gold in sorted(known.gold.items()):
        data = gold.data if gold.data is not None else known.task_data.get(task_id) or {}
        text, labels = data.get(field), _labels(gold.result, control)
        if isinstance(text, str) and labels:
            found.append(Example(text, labels, "gold", task_id=task_id, data=data))
    return found


def _consensus_examples(known: _Known, control: str, field: str, trust: LabelerTrust) -> list[Example]:
    """One example per non-gold task with usable annotations: its labelers' weighted consensus."""
    rows_by_task: dict[int, list] = defaultdict(list)
    for annotation_id, task_id, labeler_id, result, cancelled in known.annotations:
        if task_id not in known.gold and not cancelled:
            rows_by_task[task_id].append((annotation_id, labeler_id, result))
    found = []
    for task_id, rows in sorted(rows_by_task.items()):
        example = task_example(task_id, rows, known.task_data.get(task_id) or {}, control, field, trust)
        if example is not None:
            found.append(example)
    return found


def task_example(task_id: int, rows: list, data: dict, control: str, field: str, trust: LabelerTrust) -> Example | None:
    """What one task teaches on one control: the weighted consensus of its (annotation id, labeler, result) rows.

    Flagged answers and results that are not region lists teach nothing; a labeler's later
    annotation of the task replaces their earlier one; annotations without an author count apart.
    """
    answers = {}
    for annotation_id, labeler_id, result in rows:
        if not well_formed(result) or flag_of(result)[0] is not None:
            continue
        labels = _labels(result, control)
        if labels:
            answers[labeler_id if labeler_id is not None else f"annotation {annotation_id}"] = labels
    text = data.get(field) if isinstance(data, dict) else None
    if not answers or not isinstance(text, str):
        return None
    example = consensus(task_id, text, answers, trust)
    return replace(example, data=data) if example is not None else None


def _labels(result: list, control: str) -> tuple[str, ...] | None:
    """The labels a result gives on one Choices control (sorted, so equal answers compare equal), or None."""
    labels = set()
    for item in result if isinstance(result, list) else []:
        value = item.get("value") if isinstance(item, dict) and item.get("from_name") == control else None
        choices = value.get("choices") if isinstance(value, dict) else None
        if isinstance(choices, list):
            labels.update(str(label) for label in choices if isinstance(label, (str, int, float)))
    return tuple(sorted(labels)) or None


def well_formed(result) -> bool:
    """A result ls-context can read: a list of region objects whose `value` is an object."""
    return isinstance(result, list) and all(isinstance(item, dict) and isinstance(item.get("value", {}), dict) for item in result)
