"""Turn recorded events into what a lead and a labeler see: checks on gold, feedback, flags.

Runs after the webhook has answered (a thread of the server, or an RQ worker). Every step is
idempotent, so an event processed twice, or the same annotation seen again by `sync`, changes
nothing the second time. Changes for Label Studio are queued as write-backs, never sent here.
Gold feedback never goes to Label Studio, where every labeler could read it: it stays in the
store, for the labeler's own page.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from ls_context.intake.webhook import ANNOTATION_ACTIONS
from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE
from ls_context.guidelines import parse
from ls_context.guidelines.diff import changes
from ls_context.store import (
    Annotation, AnswersChanged, Check, Course, Event, Feedback, Flag, Gold, GuidelinesVersion, Labeler, Notice, Store, TaskData,
    Writeback, now,
)

from .compare import compare
from .feedback import feedback_text

log = logging.getLogger(__name__)


class Processor:
    """Processes pending events; `guidelines_for(project_id)` gives the guidelines feedback quotes."""

    def __init__(self, store: Store, guidelines_for=lambda project_id: None, learned=lambda project_id: None, alerts=None):
        self.store = store
        self.guidelines_for = guidelines_for
        self.alerts = alerts  # AlertSettings: flags with these reasons are told to the team's channels
        self.learned = learned  # called with a project id when its annotations changed (the model refits)
        # One pass at a time in a process: a caller that processes "now" (tests, the demo) waits for the
        # background thread's pass, told-learned callbacks included, instead of finding nothing to do.
        self._one_pass = threading.Lock()

    def run_pending(self, limit: int | None = None) -> int:
        """Process up to `limit` (default: the store's batch size) pending events in one transaction.

        Each event runs in a savepoint: a failing one is marked failed and the others still commit.
        Events another worker claimed first are left to it.
        """
        with self._one_pass:
            return self._run_pending(limit)

    def _run_pending(self, limit: int | None) -> int:
        learned: set[int] = set()
        with self.store.session() as session:
            mine = self.store.claim_events(session, limit or self.store.batch_size)
            for event in mine:
                status, error = "done", None
                try:
                    learned |= self._in_savepoint(session, event)
                except Exception as failure:  # keep the event for a look; one bad event must not stop the others
                    log.exception("event %s (%s) failed", event.id, event.action)
                    status, error = "failed", f"{type(failure).__name__}: {failure}"[:1000]
                session.execute(update(Event).where(Event.id == event.id).values(
                    status=status, error=error, attempts=Event.attempts + 1))
        for project_id in learned:
            self.learned(project_id)
        return len(mine)

    def _in_savepoint(self, session, event: Event, tries: int = 5) -> set[int]:
        """Apply one event in a savepoint; again when it collided with another worker's transaction
        (the same labeler or task inserted first, a deadlock, a lock wait given up)."""
        for attempt in range(tries):
            try:
                with session.begin_nested():
                    return self._process(session, event)
            except DBAPIError as error:
                if attempt == tries - 1 or not _collision(error):
                    raise
                log.debug("event %s collided with another worker (%s); trying again", event.id, type(error.orig).__name__)
        return set()

    def _process(self, session, event: Event) -> set[int]:
        """Apply one event; the projects whose annotations changed."""
        if event.action in ANNOTATION_ACTIONS:
            return self.annotation(event.payload, event.project_id, session, event.received_at)
        if event.action == "ANNOTATIONS_DELETED":
            return self.deleted(event.payload, event.project_id, session, event.received_at)
        return set()

    def annotation(self, payload: dict, project_id: int | None, session=None, received_at=None) -> set[int]:
        """Record an annotation as last seen, then its flag, its gold check, and the task's answers for the models."""
        if session is None:
            with self.store.session() as own:
                changed = self.annotation(payload, project_id, own, received_at)
            for project in changed:
                self.learned(project)
            return changed
        annotation, task = payload["annotation"], payload["task"]
        project_id = project_id or task.get("project")
        known = session.get(Annotation, annotation["id"])
        if known is not None and (known.updated_at or "") > (annotation.get("updated_at") or ""):
            return set()  # an older version arriving late
        labeler_id = labeler_of(annotation)
        if labeler_id is not None:
            remember_labeler(session, labeler_id, _email(annotation))
        session.merge(TaskData(task_id=task["id"], project_id=project_id, data=task.get("data") or {}))
        session.merge(Annotation(
            id=annotation["id"], project_id=project_id, task_id=task["id"], labeler_id=labeler_id,
            result=annotation.get("result") or [], updated_at=annotation.get("updated_at"),
            lead_time=annotation.get("lead_time"), cancelled=bool(annotation.get("was_cancelled")),
        ))
        self._flag(session, annotation, task, project_id, labeler_id)
        self._gold_check(session, annotation, task, project_id, labeler_id)
        if labeler_id is not None and not annotation.get("was_cancelled"):
            what_changed(session, project_id, labeler_id, annotation["id"])
        answers_changed(session, project_id, task["id"], received_at)
        return {project_id}

    def deleted(self, payload: dict, project_id: int | None, session, received_at=None) -> set[int]:
        ids = [a["id"] for a in payload.get("annotations") or [] if isinstance(a, dict) and isinstance(a.get("id"), int)]
        tasks = set()
        for annotation_id in ids:
            for model in (Annotation, Flag):
                row = session.get(model, annotation_id)
                if row is not None:
                    tasks.add((row.project_id, row.task_id))
                    session.delete(row)
            # Its verdicts go with it: a labeler retaking a course, or a lead removing an answer, starts clean.
            session.execute(delete(Check).where(Check.annotation_id == annotation_id))
            session.execute(delete(Feedback).where(Feedback.annotation_id == annotation_id))
        for project, task_id in sorted(tasks):  # answers_changed flushes the deletions first
            answers_changed(session, project, task_id, received_at)
        return {project_id} if ids and project_id is not None else set()

    def _flag(self, session, annotation, task, project_id, labeler_id) -> None:
        reason, note = flag_of(annotation.get("result") or [])
        existing = session.get(Flag, annotation["id"])
        if reason is None:
            if existing is not None:
                session.delete(existing)
                session.add(Writeback(project_id=project_id, task_id=task["id"], kind="meta",
                                      payload={"ls_flag": None, "ls_flag_note": None}))
            return
        label = first_label(annotation.get("result") or [])
        if existing is not None and (existing.reason, existing.note, existing.label) == (reason, note, label):
            return
        session.merge(Flag(annotation_id=annotation["id"], project_id=project_id, task_id=task["id"],
                           labeler_id=labeler_id, reason=reason, note=note, label=label))
        if self.alerts and reason in self.alerts.flag_reasons and (existing is None or existing.reason != reason):
            who = _email(annotation) or (f"labeler {labeler_id}" if labeler_id is not None else "a labeler")
            self.alerts.queue(session, "flag", f"Task {task['id']} (project {project_id}) flagged '{reason}' by {who}"
                              + (f": {note}" if note else ""), project_id, task["id"])
        session.add(Writeback(project_id=project_id, task_id=task["id"], kind="meta",
                              payload={"ls_flag": reason, "ls_flag_note": note}))

    def _gold_check(self, session, annotation, task, project_id, labeler_id) -> None:
        gold = session.get(Gold, task["id"])
        if gold is None or annotation.get("was_cancelled") or taught(session, project_id, task["id"]):
            return
        updated_at = annotation.get("updated_at")
        already = session.scalar(select(Check.id).where(Check.annotation_id == annotation["id"], Check.updated_at == updated_at))
        if already is not None:
            return
        guidelines = self.guidelines_for(project_id)
        verdicts = compare(gold.result, annotation.get("result") or [], guidelines.gate.match if guidelines else None)
        for verdict in verdicts:
            session.add(Check(
                project_id=project_id, task_id=task["id"], annotation_id=annotation["id"], updated_at=updated_at,
                labeler_id=labeler_id, control=verdict.control, score=verdict.score, passed=verdict.passed,
                expected=verdict.expected, given=verdict.given,
            ))
        checked = [verdict for verdict in verdicts if verdict.checked]
        session.add(Feedback(
            project_id=project_id, task_id=task["id"], annotation_id=annotation["id"], updated_at=updated_at,
            labeler_id=labeler_id, passed=all(v.passed for v in checked) if checked else None,
            text=feedback_text(verdicts, guidelines, gold.explanation),
        ))
        if self.alerts and self.alerts.targets and guidelines and labeler_id is not None:
            self._course_alert(session, project_id, labeler_id, guidelines)
        if self.alerts and self.alerts.targets and guidelines and guidelines.gate.min_accuracy is not None and labeler_id is not None:
            session.flush()
            for line in below_the_bar(session, project_id, labeler_id, guidelines.gate):
                who = _email(annotation) or f"labeler {labeler_id}"
                self.alerts.queue(session, "labeler", f"{who} {line[1]} (project {project_id})", project_id,
                                  key=f"below:{project_id}:{labeler_id}:{line[0]}")


    def _course_alert(self, session, course_project_id: int, labeler_id: int, guidelines) -> None:
        """Tell the team, once each, when a labeler is certified by a project's onboarding course or fails it."""
        from ls_context.onboarding.standing import CERTIFIED, FAILED, prepares_for, standings

        project_id = prepares_for(session, course_project_id)
        if project_id is None:
            return
        session.flush()
        standing = (standings(session, project_id, guidelines.onboarding, [labeler_id]) or {}).get(labeler_id)
        if standing is not None and standing.status in (CERTIFIED, FAILED):
            self.alerts.queue(session, "course", f"{standing.email} {standing.status} the onboarding course of project "
                              f"{project_id}: {standing.describe().split(': ', 1)[1]}", project_id,
                              key=f"course:{project_id}:{labeler_id}:{standing.status}")


def taught(session, project_id: int, task_id: int) -> bool:
    """Whether this gold task was shown with its answer in the project's onboarding course: then it is gold no more."""
    course = session.get(Course, project_id)
    return course is not None and task_id in (course.taught or [])


def below_the_bar(session, project_id: int, labeler_id: int, gate) -> list[tuple[str, str]]:
    """(what, sentence) for a labeler confidently under the gate's bar: on all their gold, or on one expected label.

    Each answer's newest verdict counts, judged by the gate's rule (the whole Wilson interval under the bar).
    """
    from ls_context.quality.gate import DEFAULT_MIN_GOLD_PER_LABEL, confidently_below

    newest = select(func.max(Check.id)).where(Check.project_id == project_id, Check.labeler_id == labeler_id,
                                              Check.passed.is_not(None)).group_by(Check.annotation_id, Check.control)
    rows = session.execute(select(Check.expected, Check.passed).where(Check.id.in_(newest))).all()
    bar, found = gate.min_accuracy, []
    right = sum(bool(passed) for _, passed in rows)
    if confidently_below(right, len(rows), bar, gate.min_gold_per_labeler or 1):
        found.append(("all", f"is below the bar on gold: {right} of {len(rows)} right ({right / len(rows):.0%}, bar {bar:.0%})"))
    per_label = defaultdict(lambda: [0, 0])
    for expected, passed in rows:
        per_label[expected][0] += bool(passed)
        per_label[expected][1] += 1
    minimum = gate.min_gold_per_label or DEFAULT_MIN_GOLD_PER_LABEL
    for label, (hits, n) in sorted(per_label.items()):
        if confidently_below(hits, n, bar, minimum):
            found.append((f"label:{label}", f"misses {label}: {hits} of {n} gold right ({hits / n:.0%}, bar {bar:.0%})"))
    return found


def what_changed(session, project_id: int, labeler_id: int, annotation_id: int) -> None:
    """Tell a labeler, once, what changed in the guidelines since the version they last worked under.

    A labeler who already has other annotations in the project and no notice of the newest version
    worked under an older one (their first answer after a push is what creates the notice); the notice
    lists the changes from the version before the newest, and shows on their personal feedback page.
    """
    newest = session.scalar(select(GuidelinesVersion).where(GuidelinesVersion.project_id == project_id)
                            .order_by(GuidelinesVersion.number.desc()).limit(1))
    if newest is None or newest.number < 2:
        return
    told = session.scalar(select(Notice.id).where(Notice.project_id == project_id, Notice.labeler_id == labeler_id,
                                                  Notice.guidelines_number == newest.number))
    worked_before = session.scalar(select(Annotation.id).where(Annotation.project_id == project_id, Annotation.labeler_id == labeler_id,
                                                                 Annotation.id != annotation_id).limit(1))
    if told is not None or worked_before is None:
        return
    previous = session.scalar(select(GuidelinesVersion).where(GuidelinesVersion.project_id == project_id,
                                                              GuidelinesVersion.number == newest.number - 1))
    lines = changes(parse(previous.text), parse(newest.text)) if previous is not None else []
    # Kept even when empty (a new version number only): it records that this labeler has been told.
    text = f"What changed in the guidelines {newest.version}:\n" + "\n".join(f"- {line}" for line in lines) if lines else ""
    session.add(Notice(project_id=project_id, labeler_id=labeler_id, guidelines_number=newest.number, text=text))


# SQLSTATEs of a transaction that met another one: worth a second try, not a failed event.
COLLISIONS = {"40001", "40P01", "55P03"}  # serialization failure, deadlock, lock not available


def _collision(error: DBAPIError) -> bool:
    return isinstance(error, IntegrityError) or getattr(error.orig, "sqlstate", None) in COLLISIONS


def flag_of(result: list[dict]) -> tuple[str | None, str]:
    reason, note = None, ""
    for item in result if isinstance(result, list) else []:
        value = item.get("value") if isinstance(item, dict) else None
        if not isinstance(value, dict):
            continue
        choices, text = value.get("choices"), value.get("text")
        if item.get("from_name") == FLAG and isinstance(choices, list) and choices:
            reason = str(choices[0])
        elif item.get("from_name") == FLAG_NOTE and text:
            note = " ".join(map(str, text)) if isinstance(text, list) else str(text)
    return reason, note


def first_label(result: list[dict]) -> str:
    """The labeler's answer on the first control that is not ls-context's own, for grouping flags."""
    for item in result:
        value = item.get("value") if isinstance(item, dict) else None
        if isinstance(value, dict) and not str(item.get("from_name", "")).startswith("ls_"):
            for key in ("choices", "labels", "rectanglelabels", "polygonlabels", "taxonomy"):
                if value.get(key):
                    return ", ".join("/".join(v) if isinstance(v, list) else str(v) for v in value[key])
    return ""


def answers_changed(session, project_id: int, task_id: int, received_at=None) -> None:
    """Note the task's answers as they now stand, for every server's model to learn in order (see AnswersChanged)."""
    session.flush()
    rows = session.execute(select(Annotation.id, Annotation.labeler_id, Annotation.result)
                           .where(Annotation.task_id == task_id, Annotation.cancelled.is_(False)).order_by(Annotation.id)).all()
    answers = [{"labeler": row.labeler_id, "annotation": row.id, "result": row.result} for row in rows]
    data = session.get(TaskData, task_id)
    session.add(AnswersChanged(project_id=project_id, task_id=task_id, answers=answers,
                               data=data.data if data is not None else {}, received_at=received_at or now()))


def remember_labeler(session, labeler_id: int, email: str) -> None:
    """Record a labeler; an email learned later (webhooks carry only the id) fills the empty one."""
    known = session.get(Labeler, labeler_id)
    if known is None:
        session.add(Labeler(id=labeler_id, email=email))
    elif email and known.email != email:
        known.email = email


def labeler_of(annotation: dict) -> int | None:
    """The Label Studio user id of an annotation's author (a bare id, or an object with an id)."""
    completed_by = annotation.get("completed_by")
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id")
    return completed_by if isinstance(completed_by, int) else None


def _email(annotation: dict) -> str:
    completed_by = annotation.get("completed_by")
    if isinstance(completed_by, dict) and completed_by.get("email"):
        return str(completed_by["email"])
    # Label Studio's webhook names the author as " email, id".
    return str(annotation.get("created_username") or "").strip().split(",")[0].strip()
