"""The onboarding course without Label Studio: its tasks, each labeler's standing, and what being uncertified costs.

The course in a real Label Studio, taken in the browser, is in test_onboarding_label_studio.py.
"""

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete

from ls_context.checks.processor import Processor
from ls_context.guidelines import load, parse
from ls_context.guidelines.diff import changes
from ls_context.guidelines.schema import GuidelinesError, Onboarding
from ls_context.onboarding import Standing, course_tasks, standings
from ls_context.onboarding.standing import CERTIFIED, FAILED, IN_PROGRESS, NOT_STARTED
from ls_context.quality.export import build
from ls_context.quality.gate import evaluate
from ls_context.quality.metrics import compute
from ls_context.guidelines import GateThresholds
from ls_context.store import Annotation, Check, Course, Gold, Labeler
from ml_backend.learning import examples_from_store

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"
PROJECT, COURSE = 5, 6
BAR = Onboarding(min_accuracy=0.8, min_tasks=4, gold_share=0.5)


def choice(label, control="triage"):
    return [{"from_name": control, "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


class GoldRow:
    def __init__(self, task_id, text, label):
        self.task_id, self.data, self.result, self.explanation = task_id, {"text": text}, choice(label), f"{text} is {label}"


# -- the course's tasks ------------------------------------------------------------------------------


def test_the_course_asks_each_example_and_edge_case_for_its_label_and_adds_a_share_of_gold():
    guidelines = load(GUIDELINES)
    gold = [GoldRow(100 + n, f"gold text {n}", "Routine question") for n in range(6)]

    tasks, warnings = course_tasks(guidelines, CONFIG, gold, share=0.5)

    guide = guidelines.controls["triage"]
    expected = {example.text: label.value for label in guide.labels for example in label.do}
    expected.update({case.situation: case.label for label in guide.labels for case in label.edge_cases})
    asked = {task.data["text"]: task.result[0]["value"]["choices"][0] for task in tasks}
    assert {text: asked[text] for text in expected} == expected
    assert all(task.result[0]["from_name"] == "triage" and task.result[0]["to_name"] == "text" for task in tasks)
    assert sorted(t.source for t in tasks).count("gold") == 3  # half of six
    assert {t.data["text"] for t in tasks if t.source == "gold"} <= {g.data["text"] for g in gold}
    # A don't-example is asked only where its label is known; the one whose explanation names no other label is said.
    donts = {t.data["text"]: t.label for t in tasks if t.source == "don't example"}
    assert donts["Why is my refund still not here after three weeks?"] == "Frustrated but salvageable"
    assert any("The late delivery ruined our event" in warning for warning in warnings)
    # Mixed, not one label after another; and the same course every time.
    assert [t.label for t in tasks] != sorted(t.label for t in tasks)
    assert tasks == course_tasks(guidelines, CONFIG, gold, share=0.5)[0]


def test_a_dont_example_of_one_of_two_labels_is_the_other_label():
    two = parse("""
project: p
version: "1"
controls:
  spam:
    labels:
      - value: Spam
        definition: Unwanted mail.
        dont: [{text: "Your invoice for March", explanation: "A real invoice."}]
      - value: Ham
        definition: Wanted mail.
""")
    config = '<View><Text name="text" value="$body"/><Choices name="spam" toName="text"><Choice value="Spam"/><Choice value="Ham"/></Choices></View>'

    tasks, _ = course_tasks(two, config, [], share=0)

    assert [(t.data, t.label) for t in tasks] == [({"body": "Your invoice for March"}, "Ham")]


# -- the bar in the guidelines --------------------------------------------------------------------------


def test_the_onboarding_bar_is_read_checked_and_diffed():
    text = GUIDELINES.read_text()
    with_bar = text + "\nonboarding:\n  min_accuracy: 0.9\n  min_tasks: 15\n  gold_share: 0.1\n"

    assert parse(text).onboarding == Onboarding()  # the defaults
    assert parse(text + "\nonboarding:\n  # min_tasks: 15\n").onboarding == Onboarding()  # every key commented out
    assert parse(with_bar).onboarding == Onboarding(0.9, 15, 0.1)
    assert "Onboarding: min_tasks 15 -> 12." in changes(parse(with_bar), parse(with_bar.replace("min_tasks: 15", "min_tasks: 12")))
    with pytest.raises(GuidelinesError) as error:
        parse(text + "\nonboarding:\n  min_accuracy: 1.5\n  min_taks: 3\n")
    assert "onboarding.min_accuracy: must be between 0 and 1" in str(error.value)
    assert "onboarding.min_taks: unknown key" in str(error.value)


# -- standings ------------------------------------------------------------------------------------------


class Course_:
    """A course of six tasks (three Urgent, three Routine) in the store, and labelers answering it."""

    LABELS = ["Urgent intervention"] * 3 + ["Routine question"] * 3

    def __init__(self, store):
        self.store, self.next_id = store, 5000  # above the project's annotation ids
        with store.session() as session:
            session.add(Course(project_id=PROJECT, course_project_id=COURSE, taught=[]))
            for task, label in enumerate(self.LABELS):
                session.add(Gold(task_id=1000 + task, project_id=COURSE, result=choice(label)))

    def take(self, labeler, answers):
        """The labeler's answers to the first len(answers) tasks, checked as the processor checks them."""
        with self.store.session() as session:
            session.merge(Labeler(id=labeler, email=f"l{labeler}@example.com"))
            for task, given in enumerate(answers):
                self.next_id += 1
                expected = self.LABELS[task]
                session.add(Annotation(id=self.next_id, project_id=COURSE, task_id=1000 + task, labeler_id=labeler, result=choice(given)))
                session.add(Check(project_id=COURSE, task_id=1000 + task, annotation_id=self.next_id, labeler_id=labeler,
                                  control="triage", score=float(given == expected), passed=given == expected,
                                  expected=expected, given=given))

    def standing(self, labeler_ids=()):
        with self.store.reading() as session:
            return standings(session, PROJECT, BAR, labeler_ids)


U, R = "Urgent intervention", "Routine question"


def test_each_labeler_is_certified_in_progress_failed_or_not_started_with_their_weakest_label(store):
    course = Course_(store)
    course.take(1, [U, U, U, R])          # four right, both labels: certified
    course.take(2, [U, U, U])             # three right, one label only: in progress
    course.take(3, [U, U, U, U, U, U])    # Routine always missed: failed
    course.take(4, [U, R])                # one wrong of two: four more right would still make 5 of 6 (83%)

    found = course.standing(labeler_ids=[9])

    assert {labeler: s.status for labeler, s in found.items()} == {1: CERTIFIED, 2: IN_PROGRESS, 3: FAILED, 4: IN_PROGRESS, 9: NOT_STARTED}
    assert found[3].weakest == (R, 0, 3)
    assert found[3].describe() == f"failed: 3 of 6 right (50%), 6 of 6 tasks, weakest {R} (0 of 3)"
    assert found[1].weakest is None and found[1].accuracy == 1.0
    assert found[9].describe() == "not started (course of 6 tasks)"
    unchecked = Standing(5, "l5@example.com", IN_PROGRESS, answered=2, right=0, checked=0, course_size=6)  # no verdict yet
    assert unchecked.describe() == "in progress: 0 of 0 right, 2 of 6 tasks" and unchecked.accuracy is None


def test_a_labeler_fails_as_soon_as_the_bar_is_out_of_reach_and_retakes_once_their_answers_are_deleted(store):
    course = Course_(store)
    course.take(3, [U, U, U, U, U])  # two wrong of five: even a right sixth gives 4 of 6 (67%) < 80%
    assert course.standing()[3].status == FAILED
    with store.session() as session:  # the lead deletes the answers in Label Studio; the webhook deletes them here
        session.execute(delete(Annotation).where(Annotation.labeler_id == 3))
    assert course.standing([3])[3].status == NOT_STARTED
    course.take(3, [U, U, U, R, R])
    assert course.standing()[3].status == CERTIFIED


def test_without_a_course_nobody_needs_certifying(store):
    with store.reading() as session:
        assert standings(session, PROJECT, BAR) is None


# -- what being uncertified costs: training, consensus, the gate ----------------------------------------


def project_answer(processor, annotation_id, task_id, text, label, labeler):
    processor.annotation({"task": {"id": task_id, "project": PROJECT, "data": {"text": text}},
                          "annotation": {"id": annotation_id, "result": choice(label), "completed_by": {"id": labeler, "email": f"l{labeler}@example.com"},
                                         "updated_at": "2026-11-29T10:00:00Z"}}, PROJECT)


def test_the_model_learns_only_from_certified_labelers(store):
    guidelines = parse(GUIDELINES.read_text() + "\nonboarding: {min_accuracy: 0.8, min_tasks: 4}\n")
    processor = Processor(store)
    project_answer(processor, 1, 50, "The order never came and the shop opens tomorrow", U, labeler=1)
    project_answer(processor, 2, 51, "How do I reset my password?", R, labeler=2)
    assert {e.task_id for e in examples_from_store(store, PROJECT, {"triage": "text"}, guidelines)["triage"]} >= {50, 51}

    course = Course_(store)
    course.take(1, [U, U, U, R])  # certified
    course.take(2, [U, U, U, U, U])  # failed

    learned = {e.task_id for e in examples_from_store(store, PROJECT, {"triage": "text"}, guidelines)["triage"]}
    assert 50 in learned and 51 not in learned


def test_the_consensus_leaves_uncertified_labelers_out_and_the_gate_names_them():
    tasks = []
    for t in range(12):
        truth = U if t % 2 else R
        tasks.append({"id": t, "project": PROJECT, "annotations": [
            {"id": 10 * t + 1, "completed_by": "careful@example.com", "result": choice(truth)},
            {"id": 10 * t + 2, "completed_by": "rookie@example.com", "result": choice(U)},
            {"id": 10 * t + 3, "completed_by": "second@example.com", "result": choice(U)},
        ]})
    dataset = build(tasks, [])
    certified = {"status": CERTIFIED, "describe": "certified: 6 of 6 right (100%), 6 of 6 tasks", "weakest": None}
    failed = {"status": FAILED, "describe": f"failed: 3 of 6 right (50%), 6 of 6 tasks, weakest {R} (0 of 3)", "weakest": None}

    everyone = compute(dataset)
    course = compute(dataset, onboarding={"careful@example.com": certified, "rookie@example.com": failed})

    # Two who always say Urgent outvote the careful one; once they are left out, her answers are the consensus.
    assert everyone["consensus"]["0"]["triage"]["label"] == U
    assert [course["consensus"][str(t)]["triage"]["label"] for t in range(12)] == [U if t % 2 else R for t in range(12)]
    assert course["annotators"]["rookie@example.com"]["agreement_with_consensus"] == pytest.approx(0.5)
    assert course["onboarding"]["second@example.com"]["status"] == NOT_STARTED
    criteria, alerts = evaluate(course, GateThresholds())
    [certification] = criteria
    assert not certification.passed and certification.measured == pytest.approx(1 / 3)
    assert "rookie@example.com (failed)" in certification.detail and "second@example.com (not started)" in certification.detail
    assert any(line.startswith("rookie@example.com: annotates without the onboarding course's certification (failed: 3 of 6")
               for line in alerts)
    assert evaluate(everyone, GateThresholds()) == ([], [])
    assert np.isfinite(course["agreement"]["triage"]["krippendorff_alpha"])


# -- gold shown in the course -------------------------------------------------------------------------


def test_a_gold_task_shown_in_the_course_is_gold_no_more_in_the_project(store):
    from ls_context.checks.gold import stored_gold

    processor = Processor(store)
    with store.session() as session:
        session.add(Gold(task_id=77, project_id=PROJECT, result=choice(U), data={"text": "shown in the course"}))
        session.add(Gold(task_id=78, project_id=PROJECT, result=choice(R), data={"text": "kept for the project"}))
        session.add(Course(project_id=PROJECT, course_project_id=COURSE, taught=[77]))

    project_answer(processor, 1, 77, "shown in the course", U, labeler=1)
    project_answer(processor, 2, 78, "kept for the project", U, labeler=2)

    with store.reading() as session:
        checked = {row.task_id for row in session.query(Check).filter(Check.project_id == PROJECT)}
    assert checked == {78}
    assert set(stored_gold(store, {PROJECT})) == {78}  # what the report, the gate, the dashboard and the pilot read


def test_a_retake_starts_clean_on_the_labelers_own_page(store):
    from ls_context.checks.personal import recent_feedback
    from ls_context.store import Feedback

    processor = Processor(store)
    with store.session() as session:
        session.add(Gold(task_id=1000, project_id=COURSE, result=choice(U)))
    processor.annotation({"task": {"id": 1000, "project": COURSE, "data": {"text": "t"}},
                          "annotation": {"id": 31, "result": choice(R), "completed_by": 3, "updated_at": "2026-11-29T10:00:00Z"}}, COURSE)
    assert len(recent_feedback(store, 3)[1]) == 1

    with store.session() as session:
        processor.deleted({"annotations": [{"id": 31}]}, COURSE, session)

    with store.reading() as session:
        assert session.query(Check).count() == 0 and session.query(Feedback).count() == 0
    assert recent_feedback(store, 3)[1] == []


def test_a_labelers_page_names_the_course_by_the_project_it_prepares_for(store):
    from ls_context.checks.personal import where_answered

    Course_(store)

    assert where_answered(store, {COURSE, PROJECT}) == {COURSE: f"Onboarding course of project {PROJECT}", PROJECT: f"Project {PROJECT}"}


def test_setup_refuses_a_course_project_before_touching_label_studio(store):
    from ls_context.errors import LSContextError
    from ls_context.guidelines.book import GuidelinesBook
    from ls_context.labelstudio.setup import Backend, setup_project

    with store.session() as session:
        session.add(Course(project_id=PROJECT, course_project_id=COURSE, taught=[]))

    with pytest.raises(LSContextError, match=f"project {COURSE} is the onboarding course of project {PROJECT}"):
        setup_project(None, GuidelinesBook(store), COURSE, str(GUIDELINES), Backend("http://127.0.0.1:9"))
