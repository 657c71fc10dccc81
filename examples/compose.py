"""Compose a scenario's tasks, gold and reference answers from its hand-written fragments.yaml.

Each record is one hand-written core message (with the label the guidelines give it and why),
wrapped in an opener and a closer in the writer's voice, with its {slots} and structured fields
drawn at random; the hand-written hard cases are used as they are. The seed is fixed, so running
it again rewrites the same files:

    python examples/compose.py examples/support-triage
"""

from __future__ import annotations

import argparse
import json
import random
import re
from collections import Counter
from pathlib import Path

import yaml

SLOT = re.compile(r"\{(\w+)\}")


def compose(folder: Path, seed: int = 7) -> dict:
    spec = yaml.safe_load((folder / "fragments.yaml").read_text())
    rng = random.Random(seed)
    records = [_hard_case(spec, case) for case in spec.get("hard_cases", [])]
    records += _generated(spec, rng, spec["tasks"] + spec["gold"] - len(records))
    rng.shuffle(records)
    gold = _pick_gold(records, spec["gold"], rng)
    tasks = [record for record in records if record not in gold]
    _write(folder / "tasks.json", [record["data"] for record in tasks])
    _write(folder / "gold.json", [_gold_task(record, spec) for record in gold])
    _write(folder / "answers.json", [_answer(record) for record in tasks])
    return {"tasks": len(tasks), "gold": len(gold), "labels": Counter(r["label"] for r in records), "field": spec["text_field"]}


def _generated(spec: dict, rng: random.Random, count: int) -> list[dict]:
    cores = [(label, core) for label, part in spec["labels"].items() for core in part["cores"]]
    weights = [spec["labels"][label].get("share", 1.0) / len(spec["labels"][label]["cores"]) for label, _ in cores]
    records, seen, attempts = [], set(), 0
    while len(records) < count:
        attempts += 1
        if attempts > count * 50:
            raise SystemExit(f"only {len(records)} distinct records could be composed; write more fragments")
        label, core = rng.choices(cores, weights)[0]
        voice = spec["labels"][label]
        body = " ".join(part for part in (core["text"], rng.choice(voice.get("closers", [""]))) if part)
        # Opener and signature on lines of their own, as people write them in a message.
        text = "\n".join(part for part in (
            rng.choice(spec["openers"]), body, rng.choice(spec.get("signatures", [""])),
        ) if part)
        data = {spec["text_field"]: _fill(text, spec["slots"], rng)}
        for name, options in core.get("fields", {}).items():
            data[name] = _field(options, rng)
        key = json.dumps(data, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        records.append({"data": data, "label": label, "why": core["why"], "hard": False})
    return records


def _hard_case(spec: dict, case: dict) -> dict:
    data = {spec["text_field"]: case["text"], **{k: str(v) for k, v in case.get("fields", {}).items()}}
    return {"data": data, "label": case["label"], "why": case["why"], "hard": True}


def _fill(text: str, slots: dict, rng: random.Random) -> str:
    return SLOT.sub(lambda match: str(rng.choice(slots[match.group(1)])), text)


def _field(options, rng: random.Random) -> str:
    """A field value: a number range [low, high] gives an amount, a list gives one of its items."""
    if isinstance(options, dict):
        low, high = options["between"]
        return f"{round(rng.uniform(low, high) / 10) * 10:,}"
    return str(rng.choice(options))


def _pick_gold(records: list[dict], count: int, rng: random.Random) -> list[dict]:
    """Gold: most hard cases (they test the guidelines) plus an even share of every label."""
    hard = [r for r in records if r["hard"]]
    chosen = hard[: max(1, count // 3)]
    by_label = {}
    for record in records:
        if not record["hard"]:
            by_label.setdefault(record["label"], []).append(record)
    labels = sorted(by_label)
    turn = 0
    while len(chosen) < count:
        pool = by_label[labels[turn % len(labels)]]
        if pool:
            chosen.append(pool.pop(rng.randrange(len(pool))))
        turn += 1
    return chosen


def _gold_task(record: dict, spec: dict) -> dict:
    result = [{"from_name": spec["control"], "to_name": spec["object"], "type": "choices",
               "value": {"choices": [record["label"]]}}]
    task = {"data": record["data"], "annotations": [{"result": result}], "explanation": record["why"]}
    return {**task, "hard": True} if record["hard"] else task


def _answer(record: dict) -> dict:
    """The reference answer of a task; `hard` marks the hand-written cases the guidelines' edge cases settle."""
    return {"data": record["data"], "label": record["label"], **({"hard": True} if record["hard"] else {})}


def _write(path: Path, items: list) -> None:
    path.write_text(json.dumps(items, indent=1, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="scenario folders holding a fragments.yaml")
    for folder in parser.parse_args().folders:
        summary = compose(folder)
        labels = ", ".join(f"{label} {n}" for label, n in sorted(summary["labels"].items()))
        print(f"{folder}: {summary['tasks']} tasks, {summary['gold']} gold ({labels})")


if __name__ == "__main__":
    main()
