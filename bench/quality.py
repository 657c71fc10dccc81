"""Dawid-Skene and the full report on 1M labels, side by side with crowd-kit's DawidSkene.

    pip install 'ls-context[bench]'; python bench/quality.py [--tasks 100000]

Synthetic data with known truth: every task labeled by 10 labelers with known confusion matrices
over 5 classes (7 competent labelers of varied skill, 3 spammers who answer at random). Prints the
time and the accuracy against the truth of majority vote, our Dawid-Skene and crowd-kit's, then
times `ls-context report` on the same labels written as a Label Studio JSON export.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ls_context.quality.synthetic import confusion, simulated_export  # noqa: E402
from ls_context.quality.truth import DawidSkene, MajorityVote  # noqa: E402

LABELS = ["a", "b", "c", "d", "e"]


def labelers(rng) -> dict[str, np.ndarray]:
    found = {f"labeler{i}@example.com": confusion(5, accuracy) for i, accuracy in enumerate([0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6])}
    for i in range(3):
        found[f"spammer{i}@example.com"] = np.full((5, 5), 0.2)
    return found


def arrays(export):
    names = {}
    tasks, workers, labels = [], [], []
    for t, task in enumerate(export):
        for annotation in task["annotations"]:
            tasks.append(t)
            workers.append(names.setdefault(annotation["completed_by"]["email"], len(names)))
            labels.append(LABELS.index(annotation["result"][0]["value"]["choices"][0]))
    return np.array(tasks), np.array(workers), np.array(labels), len(names)


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    args = parser.parse_args()
    rng = np.random.default_rng(11)
    export, _, truth = simulated_export(args.tasks, labelers(rng), LABELS, per_task=10, control="label", seed=11)
    tasks, workers, labels, n_workers = arrays(export)
    print(f"{len(labels):,} labels: {args.tasks:,} tasks x {n_workers} labelers x {len(LABELS)} classes (3 spammers)\n")

    mv, mv_time = timed(lambda: MajorityVote().fit(tasks, workers, labels, args.tasks, len(LABELS)))
    ds, ds_time = timed(lambda: DawidSkene().fit(tasks, workers, labels, args.tasks, len(LABELS), n_workers))
    rows = [("majority vote (ours)", mv_time, (mv.labels_ == truth).mean(), ""),
            ("Dawid-Skene (ours)", ds_time, (ds.labels_ == truth).mean(), f"{ds.n_iter_} EM steps")]
    try:
        import pandas as pd
        from crowdkit.aggregation import DawidSkene as CrowdKitDawidSkene

        frame = pd.DataFrame({"task": tasks, "worker": workers, "label": labels})
        reference, ck_time = timed(lambda: CrowdKitDawidSkene(n_iter=100, tol=1e-5).fit_predict(frame))
        ck_labels = reference.reindex(range(args.tasks)).to_numpy()
        rows.append(("Dawid-Skene (crowd-kit)", ck_time, (ck_labels == truth).mean(), ""))
    except ImportError:
        print("crowd-kit is not installed (pip install 'ls-context[bench]'): its row is left out\n")
    print(f"{'method':<26} {'seconds':>8} {'accuracy':>9}")
    for name, seconds, accuracy, note in rows:
        print(f"{name:<26} {seconds:>8.2f} {accuracy:>9.4f}  {note}")
    if len(rows) == 3:
        print(f"\nours vs crowd-kit: {rows[2][1] / rows[1][1]:.1f}x faster, accuracy {100 * (rows[1][2] - rows[2][2]):+.2f} points")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export.json"
        path.write_text(json.dumps(export))
        del export
        from click.testing import CliRunner

        from ls_context.cli import main as cli

        result, seconds = timed(lambda: CliRunner().invoke(cli, ["report", "--export", str(path), "--out", str(Path(folder) / "r.html"),
                                                                 "--json", str(Path(folder) / "m.json")]))
        assert result.exit_code == 0, result.output
        print(f"\nls-context report on the {len(labels):,}-label export ({path.stat().st_size / 1e6:.0f} MB JSON): {seconds:.1f} s")


if __name__ == "__main__":
    main()
