"""The example scenarios are complete and consistent: what the demo, the journey and the benchmark rely on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface

from ls_context.guidelines import load
from ls_context.labelstudio.label_config import FLAG, RATIONALE
from ls_context.quality.export import data_key
from ls_context.demo.scenarios import CLASSIFICATION, SCENARIOS
from ls_context.demo.simulate import LABELERS, REGION_LABELERS, _answer, _regions_of

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(CLASSIFICATION))
def test_scenario_has_tasks_gold_with_explanations_and_an_extended_config(name):
    scenario = SCENARIOS[name]
    guidelines = load(scenario.guidelines)
    labels = scenario.labels()
    interface = LabelInterface(scenario.label_config.read_text())
    assert {FLAG, RATIONALE} <= {control.name for control in interface.controls}
    assert interface.get_control(scenario.control).labels == labels
    assert guidelines.rules and all(label.definition and label.why for label in guidelines.controls[scenario.control].labels)

    tasks, gold, answers = scenario.tasks(), scenario.gold(), scenario.answers()
    assert 150 <= len(tasks) <= 500 and 20 <= len(gold) <= 50
    keys = [data_key(data) for data in tasks] + [data_key(item["data"]) for item in gold]
    assert len(set(keys)) == len(keys), "a task is repeated or is also gold"
    assert set(answers) == set(keys) and set(answers.values()) == set(labels)
    for item in gold:
        [result] = item["annotations"][0]["result"]
        assert result["from_name"] == scenario.control and result["to_name"] == scenario.object_name
        assert result["value"]["choices"][0] in labels and len(item["explanation"]) > 20
    assert scenario.hard_cases(), "no hand-written hard cases"


def test_structured_scenarios_use_their_fields_in_rules():
    for name, fields in (("claim-triage", {"amount", "documents", "carrier"}), ("lead-qualification", {"company_size"})):
        guidelines = load(SCENARIOS[name].guidelines)
        used = set()

        def collect(condition):
            used.add(condition.field)
            for part in (*condition.any, *condition.all, *([condition.negate] if condition.negate else [])):
                collect(part)

        for rule in guidelines.rules:
            collect(rule.when)
        assert fields <= used, name
        assert all(fields <= set(data) for data in SCENARIOS[name].tasks())


def test_compose_rewrites_the_same_files(tmp_path):
    """The committed files are what examples/compose.py makes from the fragments (fixed seed)."""
    for name in CLASSIFICATION:
        folder = tmp_path / name
        folder.mkdir()
        (folder / "fragments.yaml").write_text((ROOT / "examples" / name / "fragments.yaml").read_text())
    subprocess.run([sys.executable, str(ROOT / "examples" / "compose.py"), *map(str, tmp_path.iterdir())],
                   check=True, capture_output=True)
    for name in CLASSIFICATION:
        for file in ("tasks.json", "gold.json", "answers.json"):
            made = json.loads((tmp_path / name / file).read_text())
            assert made == json.loads((ROOT / "examples" / name / file).read_text()), f"{name}/{file}"


def test_simulated_labelers_differ_as_described():
    import random

    labels = ["a", "b", "c", "d"]
    careful, hasty, confuser = LABELERS
    rng = random.Random(3)
    truth = ["a", "b", "c", "d"] * 500

    def accuracy(labeler, on):
        answers = [(t, _answer(labeler, t, labels, ("a", "b"), rng)) for t in truth if t in on]
        return sum(t == a for t, a in answers) / len(answers)

    assert accuracy(careful, "abcd") > 0.95
    assert 0.8 < accuracy(hasty, "abcd") < 0.9
    assert accuracy(confuser, "cd") > 0.95 and accuracy(confuser, "ab") < 0.2


def test_the_demo_offers_every_scenario():
    from ls_context.cli.demo import demo

    option = next(param for param in demo.params if param.name == "scenario")
    assert set(option.type.choices) == set(SCENARIOS) and option.default == "support-triage"


REGION_SCENARIOS = sorted(set(SCENARIOS) - set(CLASSIFICATION))


@pytest.mark.parametrize("name", REGION_SCENARIOS)
def test_region_scenario_has_gold_regions_that_fit_their_data(name):
    scenario = SCENARIOS[name]
    guidelines = load(scenario.guidelines)
    interface = LabelInterface(scenario.label_config.read_text())
    assert {FLAG, RATIONALE} <= {control.name for control in interface.controls}
    assert interface.get_control(scenario.control).labels == scenario.labels() and set(scenario.confusable) <= set(scenario.labels())
    assert guidelines.gate.min_region_iou and all(label.definition and label.why for label in guidelines.controls[scenario.control].labels)
    tasks, gold, results = scenario.tasks(), scenario.gold(), scenario.results()
    assert 40 <= len(tasks) and 15 <= len(gold) and set(results) == {data_key(d) for d in tasks} | {data_key(g["data"]) for g in gold}
    drawn = [label for result in results.values() for item in result for label in item["value"].get("rectanglelabels", item["value"].get("labels"))]
    assert set(drawn) == set(scenario.labels())
    for item in gold:
        assert len(item["explanation"]) > 20 and item["annotations"][0]["result"]
    for data in [*tasks, *(g["data"] for g in gold)]:
        for item in results[data_key(data)]:
            assert item["from_name"] == scenario.control and item["to_name"] == scenario.object_name
            value = item["value"]
            if item["type"] == "labels":
                assert data["description"][value["start"]:value["end"]] == value["text"]
            else:
                assert 0 <= value["x"] and value["x"] + value["width"] <= 100.01 and 0 <= value["y"] and value["y"] + value["height"] <= 100.01
    assert scenario.hard_cases() and any(data_key(g["data"]) in scenario.hard_cases() for g in gold)


def test_region_scenarios_are_rewritten_the_same_by_their_scripts(tmp_path):
    for name, script in (("street-scenes", "scenes.py"), ("claim-entities", "entities.py")):
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run([sys.executable, str(ROOT / "examples" / script), str(folder)], check=True, capture_output=True)
        for file in ("tasks.json", "gold.json", "answers.json"):
            assert json.loads((folder / file).read_text()) == json.loads((ROOT / "examples" / name / file).read_text()), f"{name}/{file}"


def test_simulated_region_labelers_draw_as_described():
    import random

    from ls_context.checks.compare import compare

    scenario = SCENARIOS["street-scenes"]
    answer, results, rng = _regions_of(scenario), scenario.results(), random.Random(5)
    careful, sloppy, confuser = REGION_LABELERS
    tasks = [{"id": n, "data": d} for n, d in enumerate(scenario.tasks())]

    def box_scores(labeler):
        return [v.score for t in tasks for v in compare(results[data_key(t["data"])], answer(labeler, t, rng))]

    def labels_given(labeler, truth):
        return [given["value"]["rectanglelabels"][0] for t in tasks
                for expected, given in zip(results[data_key(t["data"])], answer(labeler, t, rng))
                if expected["value"]["rectanglelabels"] == [truth]]

    assert sum(box_scores(careful)) / len(tasks) > 0.9
    assert 0.5 < sum(box_scores(sloppy)) / len(tasks) < 0.8
    cars = labels_given(confuser, "Car")
    assert cars.count("Truck") / len(cars) > 0.7
