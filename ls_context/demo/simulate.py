"""Three simulated labelers annotate a pilot batch through Label Studio's API, so the gate has content.

- careful: right almost always, flags about half of the hard cases with a reason instead of guessing;
- hasty: right most of the time, random mistakes;
- confuser: right except between two specific labels, which they swap most of the time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE
from ls_context.quality.pilot import PILOT_KEY, choose, gold_task_ids
from ls_context.quality.export import data_key
from ls_context.demo.scenarios import Scenario


@dataclass(frozen=True)
class Labeler:
    email: str
    accuracy: float
    swap_rate: float = 0.0  # how often the confusable pair is swapped
    flag_rate: float = 0.0  # how often a hard case is flagged instead of answered plainly
    seconds: float = 20.0   # typical time per task, for lead_time


LABELERS = (
    Labeler("careful@example.com", accuracy=0.97, flag_rate=0.5, seconds=35),
    Labeler("hasty@example.com", accuracy=0.85, seconds=6),
    Labeler("confuser@example.com", accuracy=0.97, swap_rate=0.85, seconds=18),
)
PASSWORD = "labeler-demo-pass"
PILOT_NAME = "pilot-1"


def pilot_batch(studio, project_id: int, scenario: Scenario, size: int = 60, seed: int = 0) -> list[dict]:
    """All gold tasks plus non-gold tasks up to `size`, marked as a pilot in Label Studio."""
    tasks = studio.tasks(project_id)
    already = [task for task in tasks if task["meta"].get(PILOT_KEY) == PILOT_NAME]
    if already:
        return already
    gold_ids = gold_task_ids(tasks, scenario.gold())
    chosen = choose(tasks, size, gold_ids, gold_ratio=min(1.0, len(gold_ids) / size), strata={}, seed=seed)
    studio.mark_tasks(chosen, **{PILOT_KEY: PILOT_NAME})
    return chosen


def annotate(studio, tasks: list[dict], scenario: Scenario, labelers=LABELERS, done: set = frozenset(),
             seed: int = 0, progress=None) -> int:
    """Each labeler annotates every task of the batch they have not yet annotated ((task id, user id) in `done`)."""
    rng = random.Random(seed)
    answers = scenario.answers()
    hard = scenario.hard_cases()
    labels = scenario.labels()
    flag_reason = scenario.flag_reason()
    created = 0
    for labeler in labelers:
        user_id = ensure_user(studio, labeler.email)
        for task in tasks:
            if (task["id"], user_id) in done:
                continue
            truth = answers[data_key(task["data"])]
            result = [_choice(scenario, _answer(labeler, truth, labels, scenario.confusable, rng))]
            if labeler.flag_rate and data_key(task["data"]) in hard and rng.random() < labeler.flag_rate:
                result += _flag(scenario, flag_reason, "The guidelines do not say which rule wins here.")
            studio.annotate(task["id"], result, user_id, lead_time=rng.uniform(0.5, 1.5) * labeler.seconds)
            created += 1
            if progress:
                progress(1)
    return created


def _answer(labeler: Labeler, truth: str, labels: list[str], pair: tuple[str, str], rng: random.Random) -> str:
    if truth in pair and rng.random() < labeler.swap_rate:
        return pair[1] if truth == pair[0] else pair[0]
    if rng.random() < labeler.accuracy:
        return truth
    return rng.choice([label for label in labels if label != truth])


def _choice(scenario: Scenario, label: str) -> dict:
    return {"from_name": scenario.control, "to_name": scenario.object_name, "type": "choices", "value": {"choices": [label]}}


def _flag(scenario: Scenario, reason: str, note: str) -> list[dict]:
    return [
        {"from_name": FLAG, "to_name": scenario.object_name, "type": "choices", "value": {"choices": [reason]}},
        {"from_name": FLAG_NOTE, "to_name": scenario.object_name, "type": "textarea", "value": {"text": [note]}},
    ]


def ensure_user(studio, email: str) -> int:
    """The id of the Label Studio user with this email, created when missing."""
    for user in studio.users():
        if user.email == email:
            return user.id
    return studio.create_user(email, PASSWORD)
