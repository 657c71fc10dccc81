"""Gold tasks in and flags out: the two things a lead reads and writes through the store."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select

from ls_context.errors import LSContextError
from ls_context.quality.export import data_key
from ls_context.store import Course, Flag, Gold, Store


def import_gold(studio, store: Store, project_id: int, items: list[dict]) -> tuple[int, int]:
    """Import gold tasks (data only) and keep their expected results; (imported, already there)."""
    expected = [_expected(item, index) for index, item in enumerate(items)]
    existing = {data_key(task["data"]): task["id"] for task in studio.tasks(project_id)}
    with store.session() as session:
        known_gold = set(session.scalars(select(Gold.task_id).where(Gold.project_id == project_id)))
    fresh = [row for row in expected if existing.get(data_key(row[0])) not in known_gold]
    task_ids = studio.import_tasks(project_id, [data for data, _, _ in fresh]) if fresh else []
    with store.session() as session:
        for task_id, (data, result, explanation) in zip(task_ids, fresh):
            session.merge(Gold(task_id=task_id, project_id=project_id, result=result, explanation=explanation, data=data))
    return len(task_ids), len(expected) - len(fresh)


def _expected(item: dict, index: int) -> tuple[dict, list, str]:
    data = item.get("data")
    annotations = item.get("annotations") or []
    if not isinstance(data, dict) or not data:
        raise LSContextError(f"gold task {index}: needs a non-empty 'data' object")
    if not annotations or not isinstance(annotations[0], dict) or not isinstance(annotations[0].get("result"), list):
        raise LSContextError(f"gold task {index}: needs 'annotations' with the expected 'result'")
    explanation = item.get("explanation") or (item.get("meta") or {}).get("explanation") or annotations[0].get("explanation") or ""
    return data, annotations[0]["result"], str(explanation)


def stored_gold(store: Store, projects: set[int]) -> dict[int, list]:
    """The gold answers `gold import` stored for these projects: task id -> expected result.

    Gold tasks a project's onboarding course showed with their answers are no longer gold there.
    """
    with store.reading() as session:
        found = dict(session.execute(select(Gold.task_id, Gold.result).where(Gold.project_id.in_(projects))).all())
        taught = {task for (shown,) in session.execute(select(Course.taught).where(Course.project_id.in_(projects)))
                  for task in shown or []}
    return {task_id: result for task_id, result in found.items() if task_id not in taught}


def stored_gold_items(store: Store, projects: set[int]) -> list[dict]:
    """The stored gold answers as gold tasks in Label Studio's format, matched to an export by task id."""
    return [{"id": task_id, "annotations": [{"result": result}]} for task_id, result in stored_gold(store, projects).items()]


def flags_by_reason(store: Store, project_id: int) -> list[tuple[tuple[str, str], list[Flag]]]:
    """Flags grouped by (reason, label), largest group first."""
    with store.reading() as session:
        rows = list(session.scalars(select(Flag).where(Flag.project_id == project_id).order_by(Flag.task_id)))
    groups = defaultdict(list)
    for row in rows:
        groups[(row.reason, row.label)].append(row)
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))
