"""Is the context right when it speaks? The default model on real text nobody in this project wrote.

    python bench/real.py [--sizes 0,50,200,1000] [--test 1000] [--embeddings packaged]

Data: VADER's human-rated movie-review and NYT-editorial snippets (bench/vader/), with guidelines an
admin would write (definitions, a few examples, keyword rules), and the three example scenarios.
At each point of the learning curve (labeled tasks besides the guidelines) it prints:
  pre-selected   share of held-out tasks whose label the model pre-selects (coverage),
  precision      share of pre-selections that are right (the bar: the control's min_precision, 0.85),
  top label      share of tasks whose label shown first is right, pre-selected or not (a task whose text
                 gives the model nothing to rank by gets every definition and counts as not right),
  majority       share of the most frequent label, the "always X" baseline,
  ECE            expected calibration error of the stated probability (10 bins; n/a while uncalibrated),
  rationale      share of tasks that get a rationale,
  fit s / ms     seconds to fit, milliseconds per task to predict (batches of 100).
Each row for TF-IDF and, when the embeddings extra is installed, for sentence embeddings, in one run.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from vader import data as vader  # noqa: E402

from ls_context.demo.scenarios import CLASSIFICATION as SCENARIOS  # noqa: E402
from ls_context.guidelines import load  # noqa: E402
from ls_context.quality.export import data_key  # noqa: E402
from ml_backend.calibration import expected_calibration_error  # noqa: E402
from ml_backend.context_model import ChoiceModel, ContextModel, Example  # noqa: E402

VADER = ROOT / "bench" / "vader"


@dataclass
class Project:
    """A labeling project as the benchmark sees it: config, guidelines, a pool to label and held-out tasks."""

    name: str
    config: str
    guidelines: object
    control: str
    pool: list[tuple[dict, str]]
    test: list[tuple[dict, str]]


def vader_project(name: str, test_size: int, seed: int) -> Project:
    pairs = vader.load(name)
    random.Random(seed).shuffle(pairs)
    tasks = [({"text": text}, label) for text, label in pairs]
    return Project(name, (VADER / "label_config.xml").read_text(), load(VADER / f"{name}.yaml"), "sentiment",
                   tasks[test_size:], tasks[:test_size])


def scenario_project(scenario, seed: int) -> Project:
    answers = scenario.answers()
    pool = [(data, answers[data_key(data)]) for data in scenario.tasks()]
    random.Random(seed).shuffle(pool)
    test = [(item["data"], answers[data_key(item["data"])]) for item in scenario.gold()]
    return Project(scenario.name, scenario.label_config.read_text(), load(scenario.guidelines), scenario.control, pool, test)


def measure(project: Project, n_labeled: int, factory=None) -> dict:
    model = ContextModel(project.config, project.guidelines, factory)
    choice = next(m for m in model.choices if m.name == project.control)
    labeled = [Example(data[choice.field], (label,), "annotation", data=data) for data, label in project.pool[:n_labeled]]
    started = time.perf_counter()
    model.fit({project.control: labeled})
    fit_seconds = time.perf_counter() - started
    datas = [data for data, _ in project.test]
    truth = [label for _, label in project.test]
    started = time.perf_counter()
    suggestions = []
    for start in range(0, len(datas), 100):
        batch = datas[start:start + 100]
        suggestions.extend(choice.suggest([d[choice.field] for d in batch], batch, [None] * len(batch)))
    predict_ms = 1000 * (time.perf_counter() - started) / len(datas)
    picked = [(s.labels[0], t) for s, t in zip(suggestions, truth) if s.labels]
    # What the labeler is shown first (nothing where the text gave the model nothing to rank by), and
    # what the score speaks of (the model's own top label, shown or not).
    shown = [s.labels[0] if s.labels else (s.candidates[0] if s.candidates and s.ranked else None) for s in suggestions]
    modelled = [(s.labels or s.candidates or [None])[0] for s in suggestions]
    right = np.array([label == t for label, t in zip(shown, truth)])
    model_right = np.array([label == t for label, t in zip(modelled, truth)])
    calibrated = choice.calibration_.fitted_
    return {
        "n": n_labeled,
        "coverage": len(picked) / len(truth),
        "precision": sum(p == t for p, t in picked) / len(picked) if picked else float("nan"),
        "top": right.mean(),
        "majority": max(truth.count(label) for label in set(truth)) / len(truth),
        "ece": expected_calibration_error([s.score for s in suggestions], model_right) if calibrated else float("nan"),
        "rationale": sum(bool(s.lines) for s in suggestions) / len(truth),
        "fit_s": fit_seconds,
        "predict_ms": predict_ms,
    }


def served(project: Project, n_labeled: int, embeddings: str | None, batch: int = 100) -> dict:
    """Milliseconds for one /predict of `batch` new tasks, then of the same tasks again, through the real app."""
    import tempfile

    from ls_context.config import Config
    from ml_backend import create_app

    with tempfile.TemporaryDirectory() as folder:
        guidelines = VADER / f"{project.name}.yaml"
        app = create_app(Config(model_dir=Path(folder), guidelines=guidelines, insecure=True, refit_interval=0.0, log_level="ERROR",
                                embeddings=embeddings))
        client, backend = app.test_client(), app.extensions["ls_context"]
        for number, (data, label) in enumerate(project.pool[:n_labeled]):
            client.post("/webhook", json={
                "action": "ANNOTATION_CREATED",
                "annotation": {"id": number + 1, "updated_at": "2026-01-01T00:00:00Z", "completed_by": 1, "result": [
                    {"from_name": project.control, "to_name": "text", "type": "choices", "value": {"choices": [label]}}]},
                "task": {"id": number + 1, "data": data, "project": 1},
                "project": {"id": 1, "label_config": project.config}})
        client.post("/predict", json={"tasks": [], "project": "1.1", "label_config": project.config})
        backend.settle(300)
        body = {"tasks": [{"id": 100000 + i, "data": data} for i, (data, _) in enumerate(project.test[:batch])],
                "project": "1.1", "label_config": project.config}
        times = []
        for _ in range(2):
            started = time.perf_counter()
            answer = client.post("/predict", json=body)
            times.append(1000 * (time.perf_counter() - started))
            assert answer.status_code == 200, answer.get_data(as_text=True)
        backend.close()
    return {"new_ms": times[0], "again_ms": times[1]}


def _cell(value: float, percent: bool = True) -> str:
    if value != value:  # NaN
        return "n/a"
    return f"{value:.0%}" if percent else f"{value:.3f}"


def print_table(title: str, rows: list[tuple[str, dict]]) -> None:
    print(f"\n{title}")
    print(f"{'features':<11} {'labeled':>7} {'pre-selected':>12} {'precision':>9} {'top label':>9} {'majority':>8} "
          f"{'ECE':>6} {'rationale':>9} {'fit s':>6} {'ms/task':>7}")
    for features, r in rows:
        print(f"{features:<11} {r['n']:>7} {_cell(r['coverage']):>12} {_cell(r['precision']):>9} {_cell(r['top']):>9} "
              f"{_cell(r['majority']):>8} {_cell(r['ece'], False):>6} {_cell(r['rationale']):>9} {r['fit_s']:>6.2f} "
              f"{r['predict_ms']:>7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,50,200,1000", help="labeled tasks at each point of the curve")
    parser.add_argument("--test", type=int, default=1000, help="held-out tasks per real data set")
    parser.add_argument("--embeddings", default="packaged",
                        help="sentence-transformers model for the embeddings rows ('' to skip them)")
    parser.add_argument("--only", default="", help="comma-separated data sets or scenarios to run")
    parser.add_argument("--calibration", default="platt", choices=("platt", "isotonic"))
    parser.add_argument("--served", type=int, default=200, help="labeled tasks before timing /predict (0 skips it)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ChoiceModel.calibration_method = args.calibration
    sizes = [int(size) for size in args.sizes.split(",")]
    factories = [("TF-IDF", None)]
    if args.embeddings:
        try:
            from ml_backend.embeddings import embedding_factory

            factories.append(("embeddings", embedding_factory(args.embeddings)))
        except Exception as error:  # the extra is optional: say why the rows are missing
            print(f"(no embeddings rows: {error})")
    projects = [vader_project(name, args.test, args.seed) for name in vader.FILES]
    projects += [scenario_project(scenario, args.seed) for scenario in SCENARIOS.values()]
    wanted = set(filter(None, args.only.split(",")))
    for project in projects:
        if wanted and project.name not in wanted:
            continue
        rows = [(features, measure(project, n, factory)) for n in sizes if n <= len(project.pool)
                for features, factory in factories]
        print_table(f"{project.name}: {len(project.test)} held-out tasks, {len(project.pool)} to label from", rows)
    if args.served and (not wanted or "movie-reviews" in wanted):
        project = next(p for p in projects if p.name == "movie-reviews")
        print(f"\n/predict of 100 movie-review tasks through the app, after {args.served} labeled tasks (ms)")
        print(f"{'features':<11} {'new tasks':>9} {'same tasks again':>16}")
        for features, embeddings in [("TF-IDF", None)] + ([("embeddings", args.embeddings)] if len(factories) > 1 else []):
            r = served(project, args.served, embeddings)
            print(f"{features:<11} {r['new_ms']:>9.1f} {r['again_ms']:>16.1f}")


if __name__ == "__main__":
    main()
