"""Finished annotations that the newest guidelines' decision rules contradict: what to send back for review.

After a push, a rule may now point to another label than the one a labeler gave. An answer is
contradicted when a rule of its control fires on the task's data for a different label and no rule
fires for the label given (where the rules disagree among themselves, the labeler's choice stands).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select

from ls_context.guidelines import Guidelines
from ls_context.guidelines.rules import fire
from ls_context.store import Annotation, Labeler, Store, TaskData

RECHECK_KEY = "ls_recheck"  # task meta a lead filters on in the Data Manager


@dataclass(frozen=True)
class Contradiction:
    task_id: int
    annotation_id: int
    labeler: str
    control: str
    given: str
    rule: str
    expected: str
    evidence: tuple[str, ...]

    def meta(self, version: str) -> str:
        """The task meta value: short, and enough to see why the task came back."""
        return f"guidelines {version}: rule '{self.rule}' says {self.expected}, answered {self.given}"


def contradictions(store: Store, project_id: int, guidelines: Guidelines, fields: dict[str, str]) -> list[Contradiction]:
    """Every stored, not cancelled annotation of the project whose choice a rule now contradicts, by task.

    `fields`: control name -> the task data field its rules read when they name none (the label config's object).
    """
    with store.reading() as session:
        rows = session.execute(select(Annotation, TaskData.data, Labeler.email)
                               .join(TaskData, TaskData.task_id == Annotation.task_id)
                               .outerjoin(Labeler, Labeler.id == Annotation.labeler_id)
                               .where(Annotation.project_id == project_id, Annotation.cancelled.is_(False))
                               .order_by(Annotation.task_id, Annotation.id)).all()
    found = []
    for annotation, data, email in rows:
        who = email or (f"labeler {annotation.labeler_id}" if annotation.labeler_id is not None else "unknown")
        for control, given in _choices(annotation.result):
            rules = tuple(rule for rule in guidelines.rules if rule.control == control)
            if not rules or control not in fields:
                continue
            hits = fire(rules, data or {}, fields[control])
            if not hits or any(hit.rule.label == given for hit in hits):
                continue
            hit = hits[0]
            found.append(Contradiction(annotation.task_id, annotation.id, who, control, given, hit.rule.id, hit.rule.label, hit.evidence))
    return found


def _choices(result: Iterable) -> list[tuple[str, str]]:
    """(control, the single choice) of each single-choice answer in a result."""
    found = []
    for item in result or []:
        if isinstance(item, dict) and item.get("type") == "choices" and not str(item.get("from_name", "")).startswith("ls_"):
            chosen = (item.get("value") or {}).get("choices") or []
            if len(chosen) == 1 and isinstance(chosen[0], str):
                found.append((item["from_name"], chosen[0]))
    return found
