"""Write the claim-entities scenario: claim descriptions with the exact span of every cause, damage, injury and amount.

Each description is a hand-written sentence pattern whose {slots} are filled with hand-written
phrases, so the true offsets of every span are known. The hard cases are "<cause> damage to
<object>" phrases, which the guidelines mark as one Damage span. The seed is fixed, so running it
again rewrites the same files:

    python examples/entities.py examples/claim-entities
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

CONTROL, OBJECT, FIELD = "entities", "description", "description"
PATTERNS = [
    "On {day} {cause} damaged {damage} in our flat.",
    "{cause} damaged {damage}; the repair estimate is {amount}.",
    "While we were away, {cause} ruined {damage}. My husband suffered {injury} trying to stop it.",
    "I slipped because of {cause} and got {injury}. Total claimed: {amount}.",
    "{damage} was destroyed by {cause}. Invoice attached for {amount}.",
    "Our neighbour reported {cause} on {day}. Result: {damage} and {injury} for our son.",
    "After {cause}, {damage} has to be replaced ({amount}).",
    "Please cover {damage}: {cause} on {day}, invoice of {amount} attached.",
]
HARD = [
    "We found {kind} damage to {damage} on {day}. The estimate is {amount}.",
    "There is {kind} damage to {damage} since {cause} on {day}.",
]
PHRASES = {
    "Cause": ["a burst pipe", "hail", "a kitchen fire", "a break-in", "a storm", "a fallen tree", "a leaking washing machine",
              "lightning", "a collision with a delivery van", "water from the flat upstairs"],
    "Damage": ["the kitchen ceiling", "the rear bumper", "my laptop", "the living room floor", "the garage door", "two windows",
               "the roof tiles", "the fridge", "our sofa", "the windscreen", "the bathroom wall", "the parquet in the hall"],
    "Injury": ["a broken wrist", "whiplash", "a sprained ankle", "a cut hand", "burns on one arm", "a concussion", "bruised ribs"],
}
DAYS = ["Monday", "Tuesday", "Friday", "12 March", "3 June", "the night of 14 October"]
KINDS = ["water", "storm", "smoke", "frost"]
SLOT = re.compile(r"\{(\w+)\}")
LABEL_OF = {"cause": "Cause", "damage": "Damage", "injury": "Injury", "amount": "Amount"}
WHY = {
    "Cause": "Cause: what made the loss happen (a burst pipe, hail, a break-in), without the verb.",
    "Damage": "Damage: the object or part that was damaged, with its article (the kitchen ceiling).",
    "Injury": "Injury: the harm to a person, as written (a broken wrist).",
    "Amount": "Amount: the figure with its currency.",
    "hard": "'Water damage to the floor' is one Damage span: the word before 'damage' is not a Cause.",
}


def describe(pattern: str, rng: random.Random, hard: bool) -> dict:
    """Fill a pattern's slots; the text and its spans (start, end, label)."""
    text, spans, at = "", [], 0
    damage_start = None
    for piece in SLOT.split(pattern):
        if piece in ("cause", "damage", "injury"):
            phrase = rng.choice(PHRASES[LABEL_OF[piece]])
        elif piece == "amount":
            phrase = f"{rng.randint(3, 480) * 50:,} EUR"
        elif piece == "day":
            phrase = rng.choice(DAYS)
        elif piece == "kind":
            phrase, damage_start = rng.choice(KINDS), len(text)
        else:
            phrase = piece
        if not text:
            phrase = phrase[:1].upper() + phrase[1:]
        start = len(text)
        text += phrase
        if piece in LABEL_OF:
            if piece == "damage" and damage_start is not None:
                start, damage_start = damage_start, None  # "<kind> damage to <object>": one Damage span
            spans.append((start, len(text), LABEL_OF[piece]))
        at = len(text)
    assert at == len(text)
    return {"data": {FIELD: text}, "spans": spans, "hard": hard}


def result(record: dict) -> list[dict]:
    text = record["data"][FIELD]
    return [{"id": f"span{number}", "from_name": CONTROL, "to_name": OBJECT, "type": "labels",
             "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}
            for number, (start, end, label) in enumerate(record["spans"])]


def explanation(record: dict) -> str:
    labels = sorted({label for _, _, label in record["spans"]}, key=list(WHY).index)
    return " ".join([WHY[label] for label in labels] + ([WHY["hard"]] if record["hard"] else []))


def write(folder: Path, tasks: int = 64, gold: int = 20, seed: int = 5) -> dict:
    rng = random.Random(seed)
    records, seen = [], set()
    while len(records) < tasks + gold:
        hard = len(records) % 7 == 0
        record = describe(rng.choice(HARD if hard else PATTERNS), rng, hard)
        if record["data"][FIELD] not in seen:
            seen.add(record["data"][FIELD])
            records.append(record)
    rng.shuffle(records)
    hard = [r for r in records if r["hard"]]
    chosen = hard[: gold // 3] + [r for r in records if not r["hard"]][: gold - min(len(hard), gold // 3)]
    rest = [r for r in records if r not in chosen]
    _write(folder / "tasks.json", [r["data"] for r in rest])
    _write(folder / "gold.json", [{"data": r["data"], "annotations": [{"result": result(r)}], "explanation": explanation(r),
                                   **({"hard": True} if r["hard"] else {})} for r in chosen])
    _write(folder / "answers.json", [{"data": r["data"], "result": result(r), **({"hard": True} if r["hard"] else {})} for r in rest])
    return {"tasks": len(rest), "gold": len(chosen), "spans": sum(len(r["spans"]) for r in records)}


def _write(path: Path, items: list) -> None:
    path.write_text(json.dumps(items, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the scenario folder to write tasks.json, gold.json and answers.json into")
    summary = write(parser.parse_args().folder)
    print(f"{summary['tasks']} tasks, {summary['gold']} gold, {summary['spans']} spans")


if __name__ == "__main__":
    main()
