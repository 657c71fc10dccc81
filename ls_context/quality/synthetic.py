"""Label Studio exports with known truth, for tests, benchmarks and the demo's simulated labelers."""

from __future__ import annotations

import numpy as np


def simulated_export(n_tasks: int, labelers: dict[str, np.ndarray], labels: list[str], per_task: int,
                     gold_tasks: int = 0, control: str = "label", seed: int = 0, flag_rate: float = 0.0):
    """(export, gold, truth): tasks labeled by labelers whose confusion matrices (true x given) are known.

    Gold answers are given for the first `gold_tasks` tasks; every labeler labels those.
    """
    truth = np.random.default_rng(seed).integers(0, len(labels), n_tasks)
    export, gold = [], []
    for task, gold_task in simulated_tasks(truth, labelers, labels, per_task, gold_tasks, control, seed, flag_rate):
        export.append(task)
        if gold_task is not None:
            gold.append(gold_task)
    return export, gold, truth


def simulated_tasks(truth: np.ndarray, labelers: dict[str, np.ndarray], labels: list[str], per_task: int,
                    gold_tasks: int = 0, control: str = "label", seed: int = 0, flag_rate: float = 0.0):
    """(task, gold task or None) one at a time, so an export of millions of labels can be written without holding it."""
    rng = np.random.default_rng(seed)
    rng.integers(0, len(labels), len(truth))  # the draw simulated_export spent on the truth: same seed, same export
    names = list(labelers)
    n_tasks = len(truth)
    for task in range(n_tasks):
        chosen = names if task < gold_tasks else rng.choice(names, size=min(per_task, len(names)), replace=False)
        annotations = []
        for name in chosen:
            given = rng.choice(len(labels), p=labelers[name][truth[task]])
            result = [_choice(control, labels[given])]
            if flag_rate and rng.random() < flag_rate:
                result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Unsure"]}})
            annotations.append({
                "id": task * 100 + len(annotations), "completed_by": {"id": names.index(name) + 1, "email": name},
                "result": result, "lead_time": float(rng.gamma(4, 5)),
                "created_at": f"2026-11-{1 + (task * 27) // n_tasks:02d}T10:00:00Z", "was_cancelled": False,
            })
        data = {"text": f"message {task}"}
        gold = {"id": task + 1, "data": data, "annotations": [{"result": [_choice(control, labels[truth[task]])]}]} if task < gold_tasks else None
        yield {"id": task + 1, "data": data, "annotations": annotations, "predictions": []}, gold


def confusion(n_labels: int, accuracy: float, swap: tuple[int, int] | None = None, swap_rate: float = 0.0) -> np.ndarray:
    """A labeler who is right with `accuracy`, errs uniformly, and (optionally) gives `swap[1]` for `swap[0]`."""
    matrix = np.full((n_labels, n_labels), (1 - accuracy) / (n_labels - 1))
    np.fill_diagonal(matrix, accuracy)
    if swap:
        true, given = swap
        matrix[true] *= (1 - swap_rate)
        matrix[true, given] += swap_rate
    return matrix


def _choice(control: str, label: str) -> dict:
    return {"from_name": control, "to_name": "text", "type": "choices", "value": {"choices": [label]}}
