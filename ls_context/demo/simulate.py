"""Three simulated labelers annotate a pilot batch through Label Studio's API, so the gate has content.

- careful: right almost always, flags about half of the hard cases with a reason instead of guessing;
- hasty: right most of the time, random mistakes (on boxes and spans: sloppy, edges well off and
  some regions missed);
- confuser: right except between two specific labels, which they swap most of the time.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, replace

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
    looseness: float = 0.01  # how far a region's edges stray, as a share of its size
    miss_rate: float = 0.0   # how often a region is left out


LABELERS = (
    Labeler("careful@example.com", accuracy=0.97, flag_rate=0.5, seconds=35),
    Labeler("hasty@example.com", accuracy=0.85, seconds=6),
    Labeler("confuser@example.com", accuracy=0.97, swap_rate=0.85, seconds=18),
)
# On boxes and spans the hasty labeler is sloppy: found, but drawn loosely, and a few left out.
REGION_LABELERS = (
    replace(LABELERS[0], accuracy=0.99, seconds=60),
    Labeler("sloppy@example.com", accuracy=0.97, seconds=15, looseness=0.15, miss_rate=0.05),
    replace(LABELERS[2], accuracy=0.99, seconds=40),
)


def labelers_for(scenario: Scenario) -> tuple[Labeler, ...]:
    return REGION_LABELERS if scenario.regions else LABELERS
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


def annotate(studio, tasks: list[dict], scenario: Scenario, labelers=None, done: set = frozenset(),
             seed: int = 0, progress=None) -> int:
    """Each labeler annotates every task of the batch they have not yet annotated ((task id, user id) in `done`)."""
    rng = random.Random(seed)
    answer = _regions_of(scenario) if scenario.regions else _choice_of(scenario)
    hard = scenario.hard_cases()
    flag_reason = scenario.flag_reason()
    created = 0
    for labeler in labelers or labelers_for(scenario):
        user_id = ensure_user(studio, labeler.email)
        for task in tasks:
            if (task["id"], user_id) in done:
                continue
            result = answer(labeler, task, rng)
            if labeler.flag_rate and data_key(task["data"]) in hard and rng.random() < labeler.flag_rate:
                result += _flag(scenario, flag_reason, "The guidelines do not say which rule wins here.")
            studio.annotate(task["id"], result, user_id, lead_time=rng.uniform(0.5, 1.5) * labeler.seconds)
            created += 1
            if progress:
                progress(1)
    return created


def _choice_of(scenario: Scenario):
    answers, labels = scenario.answers(), scenario.labels()

    def answer(labeler: Labeler, task: dict, rng: random.Random) -> list[dict]:
        truth = answers[data_key(task["data"])]
        return [_choice(scenario, _answer(labeler, truth, labels, scenario.confusable, rng))]
    return answer


def _regions_of(scenario: Scenario):
    """A labeler's regions: the true ones, some left out, edges moved, labels swapped as the labeler tends to."""
    results, labels = scenario.results(), scenario.labels()

    def answer(labeler: Labeler, task: dict, rng: random.Random) -> list[dict]:
        drawn = []
        for item in results[data_key(task["data"])]:
            if rng.random() < labeler.miss_rate:
                continue
            key = "rectanglelabels" if item["type"] == "rectanglelabels" else "labels"
            label = _answer(labeler, item["value"][key][0], labels, scenario.confusable, rng)
            value = _loose_box(item["value"], labeler.looseness, rng) if key == "rectanglelabels" else \
                _loose_span(item["value"], task["data"], labeler.looseness, rng)
            drawn.append({**item, "id": uuid.uuid4().hex[:10], "value": {**value, key: [label]}})
        return drawn
    return answer


def _loose_box(value: dict, looseness: float, rng: random.Random) -> dict:
    """Each edge moved by a random share of the box's size (normal, sd = looseness), kept inside the image."""
    x1, y1 = value["x"], value["y"]
    x2, y2 = x1 + value["width"], y1 + value["height"]
    x1, x2 = (edge + rng.gauss(0, looseness) * value["width"] for edge in (x1, x2))
    y1, y2 = (edge + rng.gauss(0, looseness) * value["height"] for edge in (y1, y2))
    x1, y1, x2, y2 = (min(100.0, max(0.0, edge)) for edge in (x1, y1, x2, y2))
    x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    return {**value, "x": round(x1, 2), "y": round(y1, 2), "width": round(max(x2 - x1, 0.5), 2), "height": round(max(y2 - y1, 0.5), 2)}


def _loose_span(value: dict, data: dict, looseness: float, rng: random.Random) -> dict:
    """A span whose ends move by a word now and then (dropping the article, taking in the next word)."""
    text = next((v for v in data.values() if isinstance(v, str) and v[value["start"]:value["end"]] == value["text"]), None)
    if text is None:
        return value
    start, end = value["start"], value["end"]
    if rng.random() < 4 * looseness:
        space = text.find(" ", start, end)
        start = space + 1 if space > 0 else start
    if rng.random() < 4 * looseness:
        space = text.find(" ", end + 1)
        end = space if space > 0 else len(text)
    return {**value, "start": start, "end": end, "text": text[start:end]}


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
