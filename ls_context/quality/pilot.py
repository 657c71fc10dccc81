"""Pilot batches: a small, stratified sample with gold mixed in, to measure quality before scaling up."""

from __future__ import annotations

import random
from collections import defaultdict

from ls_context.errors import LSContextError
from ls_context.labelstudio.label_config import CANDIDATES_KEY, RULES_KEY
from ls_context.quality.export import data_key

PILOT_KEY = "ls_pilot"


def choose(tasks: list[dict], size: int, gold_ids: set, gold_ratio: float, strata: dict, seed: int = 0) -> list[dict]:
    """`size` tasks: round(size x gold_ratio) gold, the rest spread over strata in proportion to their size.

    Each stratum with tasks gets at least one when the batch is large enough, so a rare label or
    rule is seen in the pilot; within a stratum the choice is random (seeded, so reproducible).
    """
    if size < 1:
        raise LSContextError("the pilot size must be at least 1")
    if not 0 <= gold_ratio <= 1:
        raise LSContextError("--gold-ratio must be between 0 and 1")
    rng = random.Random(seed)
    gold = [task for task in tasks if task["id"] in gold_ids]
    fresh = [task for task in tasks if task["id"] not in gold_ids and not task["is_labeled"] and PILOT_KEY not in task["meta"]]
    n_gold = min(len(gold), round(size * gold_ratio))
    n_fresh = min(len(fresh), size - n_gold)
    groups = defaultdict(list)
    for task in fresh:
        groups[strata.get(task["id"], "all")].append(task)
    chosen = rng.sample(gold, n_gold)
    for stratum, count in _allocate({name: len(members) for name, members in groups.items()}, n_fresh).items():
        chosen.extend(rng.sample(groups[stratum], count))
    return chosen


def _allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over strata proportionally (largest remainder), one each first when there is room."""
    allocation = {name: 0 for name in sizes}
    if total >= len(sizes):
        allocation = {name: 1 for name in sizes}
    remaining = total - sum(allocation.values())
    room = {name: sizes[name] - allocation[name] for name in sizes}
    weight = sum(room.values())
    if remaining and weight:
        shares = {name: remaining * room[name] / weight for name in sizes}
        for name in sizes:
            allocation[name] += int(shares[name])
        leftover = remaining - sum(int(share) for share in shares.values())
        for name in sorted(sizes, key=lambda n: -(shares[n] - int(shares[n])))[:leftover]:
            allocation[name] += 1
    return {name: min(count, sizes[name]) for name, count in allocation.items() if count}


def gold_task_ids(tasks: list[dict], gold: list[dict]) -> set:
    """Tasks whose data matches a task of the gold file (never marked in meta: every labeler can read meta)."""
    keys = {data_key(item.get("data")) for item in gold}
    return {task["id"] for task in tasks if data_key(task["data"]) in keys}


def strata_from_predictions(tasks: list[dict]) -> dict:
    """Stratum per task with a prediction: the rule behind it, else the label it suggests or, not sure, ranks first."""
    strata = {}
    for task in tasks:
        predictions = [p for p in task.get("predictions") or [] if isinstance(p, dict) and isinstance(p.get("result"), list)]
        if predictions:
            strata[task["id"]] = _stratum(predictions[-1]["result"])
    return strata


def _stratum(result: list) -> str:
    for item in result:
        if isinstance(item, dict) and item.get(RULES_KEY):
            return "rule " + str(item[RULES_KEY][0])
    for item in result:
        choices = (item.get("value") or {}).get("choices") if isinstance(item, dict) else None
        if choices:
            return "label " + ", ".join(map(str, choices))
    for item in result:
        candidates = item.get(CANDIDATES_KEY) if isinstance(item, dict) else None
        if isinstance(candidates, list) and candidates:
            return f"label {candidates[0]} (not sure)"
    return "no suggestion"
