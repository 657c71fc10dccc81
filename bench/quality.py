"""Consensus against known truth: Dawid-Skene on 1M labels beside crowd-kit's, region consensus beside the best labeler.

    pip install 'ls-context[bench]'; python bench/quality.py [--tasks 100000] [--images 2000] [--only choices|regions]

Choices: every task labeled by 10 labelers with known confusion matrices over 5 classes (7
competent labelers of varied skill, 3 spammers who answer at random). Prints the time and the
accuracy against the truth of majority vote, our Dawid-Skene and crowd-kit's, then times
`ls-context report` on the same labels written as a Label Studio JSON export.

Regions: pictures with known boxes (1-6 each, 3 labels), each boxed by 3 of 5 labelers with known
habits (precise, good, sloppy edges, misses and extra boxes, swaps two labels); a tenth of the
pictures is gold. The report's region consensus (clusters at IoU 0.5, weighted-median edges,
weighted label vote) is compared with the baseline of taking, on each picture, the boxes of the
labeler with the best region F1 on gold; both are scored against the truth on the other pictures.
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
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks of the choices benchmark")
    parser.add_argument("--images", type=int, default=2_000, help="pictures of the region benchmark")
    parser.add_argument("--only", choices=("choices", "regions"), help="run one half only")
    args = parser.parse_args()
    if args.only != "regions":
        choices(args)
    if args.only != "choices":
        regions(args.images)


def choices(args) -> None:
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


BOX_LABELS = ("Car", "Truck", "Person")
# name: (edge noise as a share of the box size, share of boxes missed, extra boxes per picture, share of Car/Truck swapped)
BOXERS = {
    "precise": (0.02, 0.03, 0.02, 0.02),
    "good": (0.05, 0.08, 0.1, 0.05),
    "sloppy": (0.15, 0.1, 0.1, 0.05),
    "misser": (0.04, 0.35, 0.4, 0.05),
    "swapper": (0.04, 0.05, 0.05, 0.6),
}


def pictures(n: int, rng: np.random.Generator) -> list[list[tuple]]:
    """The true boxes of each picture: (label, x, y, width, height) in percent, barely overlapping."""
    found = []
    for _ in range(n):
        boxes = []
        for _ in range(rng.integers(1, 7)):
            w, h = rng.uniform(6, 25), rng.uniform(6, 25)
            x, y = rng.uniform(0, 100 - w), rng.uniform(0, 100 - h)
            boxes.append((str(rng.choice(BOX_LABELS)), x, y, w, h))
        found.append(boxes)
    return found


def drawn(truth: list[tuple], habits: tuple, rng: np.random.Generator) -> list[tuple]:
    """What one labeler draws on one picture, by their habits."""
    noise, miss, extra, swap = habits
    boxes = []
    for label, x, y, w, h in truth:
        if rng.random() < miss:
            continue
        if label in ("Car", "Truck") and rng.random() < swap:
            label = "Truck" if label == "Car" else "Car"
        x1, x2 = x + rng.normal(0, noise) * w, x + w + rng.normal(0, noise) * w
        y1, y2 = y + rng.normal(0, noise) * h, y + h + rng.normal(0, noise) * h
        boxes.append((label, min(x1, x2), min(y1, y2), max(abs(x2 - x1), 0.5), max(abs(y2 - y1), 0.5)))
    for _ in range(rng.poisson(extra)):
        w, h = rng.uniform(6, 25), rng.uniform(6, 25)
        boxes.append((str(rng.choice(BOX_LABELS)), rng.uniform(0, 100 - w), rng.uniform(0, 100 - h), w, h))
    return boxes


def as_result(boxes) -> list[dict]:
    return [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels",
             "value": {"x": x, "y": y, "width": w, "height": h, "rectanglelabels": [label]}} for label, x, y, w, h in boxes]


def regions(n_images: int, per_picture: int = 3) -> None:
    from ls_context.quality.export import build
    from ls_context.quality.metrics import compute
    from ls_context.quality.regions import Region, RegionScore

    rng = np.random.default_rng(5)
    truth = pictures(n_images, rng)
    gold = set(range(0, n_images, 10))
    export = []
    for t, boxes in enumerate(truth):
        chosen = rng.choice(list(BOXERS), size=per_picture, replace=False)
        export.append({"id": t, "annotations": [{"completed_by": {"email": name}, "result": as_result(drawn(boxes, BOXERS[name], rng))}
                                                for name in chosen]})
    gold_tasks = [{"id": t, "annotations": [{"result": as_result(truth[t])}]} for t in sorted(gold)]
    n_boxes = sum(len(boxes) for boxes in truth)
    print(f"\nregions: {n_images:,} pictures, {n_boxes:,} true boxes, {per_picture} of {len(BOXERS)} labelers on each, "
          f"{len(gold)} gold pictures")
    metrics, seconds = timed(lambda: compute(build(export, gold_tasks)))
    reliability = {name: found["f1"] for name, found in metrics["regions"]["objects"]["labelers"].items()}
    print("labelers' region F1 on gold: " + ", ".join(f"{name} {f1:.2f}" for name, f1 in sorted(reliability.items(), key=lambda r: -r[1])))

    def score(choose) -> dict:
        scores = {threshold: RegionScore("rectanglelabels", threshold) for threshold in (0.5, 0.75)}
        for t, boxes in enumerate(truth):
            if t in gold:
                continue
            expected = [Region(label, {"x": x, "y": y, "width": w, "height": h}) for label, x, y, w, h in boxes]
            for found in scores.values():
                found.add(expected, choose(t))
        return {threshold: found.summary() for threshold, found in scores.items()}

    def consensus(t: int) -> list:
        fused = metrics["consensus"].get(str(t), {}).get("objects", {}).get("regions", [])
        return [Region(region["label"], region["value"]) for region in fused]

    def best_labeler(t: int) -> list:
        annotation = max(export[t]["annotations"], key=lambda a: reliability.get(a["completed_by"]["email"], 0))
        return [Region(item["value"]["rectanglelabels"][0], item["value"]) for item in annotation["result"]]

    rows = [("region consensus (ours)", score(consensus)), ("most reliable labeler", score(best_labeler))]
    print(f"{'method':<26} {'F1@0.5':>7} {'precision':>9} {'recall':>7} {'F1@0.75':>8} {'mean IoU':>9}")
    for name, found in rows:
        loose, tight = found[0.5], found[0.75]
        print(f"{name:<26} {loose['f1']:>7.3f} {loose['precision']:>9.3f} {loose['recall']:>7.3f} {tight['f1']:>8.3f} {loose['mean_iou']:>9.3f}")
    print(f"the whole region report (agreement, consensus, gold figures) took {seconds:.1f} s")


if __name__ == "__main__":
    main()
