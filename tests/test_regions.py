"""Region analytics (boxes, spans): scores against gold, agreement and consensus, on cases worked out by hand."""

import re

import pytest
from nltk.metrics.agreement import AnnotationTask

from ls_context.quality.export import build
from ls_context.quality.metrics import compute
from ls_context.quality.regions import MISPLACED, MISSED, Region, RegionAgreement, RegionConsensus, RegionScore


def box(label, x, y, w, h):
    return Region(label, {"x": x, "y": y, "width": w, "height": h, "rectanglelabels": [label]})


def test_a_labeler_against_gold_counts_matches_confusions_misses_and_extras():
    gold = [box("Car", 0, 0, 10, 10), box("Truck", 50, 50, 20, 20), box("Person", 80, 0, 5, 10)]
    given = [box("Car", 1, 0, 10, 10),      # IoU 90 / 110 with the gold car
             box("Car", 50, 50, 20, 20),    # exactly over the truck, wrong label
             box("Person", 30, 30, 5, 5)]   # nothing there; the gold person is missed
    score = RegionScore("rectanglelabels", 0.5)
    f1 = score.add(gold, given, task="t1")
    summary = score.summary()
    assert f1 == pytest.approx(2 * 1 / 6)
    assert (summary["gold_regions"], summary["given_regions"], summary["matched"]) == (3, 3, 1)
    assert (summary["missed"], summary["extra"]) == (1, 1)
    car, truck, person = (summary["per_label"][label] for label in ("Car", "Truck", "Person"))
    assert car["precision"] == 0.5 and car["recall"] == 1.0 and car["mean_iou"] == pytest.approx(90 / 110, abs=1e-4)
    assert car["extra"] == 0  # the second car covered a truck: a confusion, not an extra region
    assert truck["recall"] == 0.0 and truck["became"] == {"Car": 1}
    assert person["became"] == {MISSED: 1} and person["extra"] == 1
    assert score.confusions == [("t1", "Truck", "Car")]


def test_a_region_under_the_iou_threshold_is_misplaced_not_a_match():
    score = RegionScore("rectanglelabels", 0.5)
    score.add([box("Car", 0, 0, 10, 10), box("Car", 50, 50, 10, 10)], [box("Car", 6, 0, 10, 10)])  # IoU 40 / 160 = 0.25
    summary = score.summary()
    assert summary["matched"] == 0 and summary["extra"] == 0
    assert (summary["misplaced"], summary["missed"]) == (1, 1)
    assert summary["per_label"]["Car"]["became"] == {MISPLACED: 1, MISSED: 1}


def test_pairwise_region_f1_between_three_labelers():
    answers = [
        (0, [box("Car", 0, 0, 10, 10), box("Person", 80, 0, 5, 10)]),
        (1, [box("Car", 1, 0, 10, 10)]),
        (2, [box("Truck", 0, 0, 10, 10), box("Person", 80, 0, 5, 10)]),
    ]
    agreement = RegionAgreement(3, "rectanglelabels", 0.5)
    agreement.add(answers)
    matrix = agreement.matrix()
    # (0, 1): the cars match, 2 x 1 / (2 + 1); (0, 2): the persons match, 2 / 4; (1, 2): car vs truck, 0 / 3.
    assert matrix[0, 1] == matrix[1, 0] == pytest.approx(2 / 3)
    assert matrix[0, 2] == pytest.approx(0.5)
    assert matrix[1, 2] == 0.0
    assert agreement.overall() == pytest.approx((2 + 2 + 0) / (3 + 4 + 3))
    assert agreement.per_label() == {"Car": 0.5, "Person": 0.5, "Truck": 0.0}


def test_consensus_fuses_by_weighted_median_and_votes_the_label():
    answers = [
        (1.0, [box("Car", 10, 10, 20, 20)]),
        (0.8, [box("Car", 12, 10, 20, 20)]),
        (0.6, [box("Truck", 10, 12, 20, 20), box("Person", 70, 70, 5, 5)]),
    ]
    fitted = RegionConsensus("rectanglelabels", 0.5).fit(answers)
    assert len(fitted.regions_) == 1  # the person was drawn by a quarter of the weight only
    car = fitted.regions_[0]
    assert car.label == "Car" and car.support == 3
    assert [car.value[k] for k in ("x", "y", "width", "height")] == [10, 10, 20, 20]
    assert car.confidence == pytest.approx(1.8 / 2.4)
    # The mean over clusters of the weight that agrees: 0.75 on the car, 0.75 that there is no person.
    assert fitted.confidence_ == pytest.approx(0.75)


def test_one_sloppy_box_does_not_move_the_fused_box():
    answers = [(1.0, [box("Car", 10, 10, 20, 20)]), (1.0, [box("Car", 10, 10, 20, 20)]), (1.0, [box("Car", 16, 14, 20, 20)])]
    car = RegionConsensus("rectanglelabels", 0.5).fit(answers).regions_[0]
    assert [car.value[k] for k in ("x", "y", "width", "height")] == [10, 10, 20, 20]


def test_spans_are_fused_by_their_offsets():
    def span(label, start, end):
        return Region(label, {"start": start, "end": end, "text": "x" * (end - start), "labels": [label]})
    answers = [(1.0, [span("ORG", 0, 10)]), (1.0, [span("ORG", 0, 12)]), (1.0, [span("PER", 1, 10)])]
    fitted = RegionConsensus("labels", 0.5).fit(answers)
    assert [(r.label, r.value["start"], r.value["end"]) for r in fitted.regions_] == [("ORG", 0, 10)]


def boxes_result(*regions):
    return [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "id": f"r{i}",
             "value": {"x": x, "y": y, "width": w, "height": h, "rectanglelabels": [label]}}
            for i, (label, x, y, w, h) in enumerate(regions)]


def export(tasks):
    return [{"id": t, "project": 1, "data": {"image": f"https://example.com/{t}.png"},
             "annotations": [{"completed_by": {"email": who}, "result": boxes_result(*regions), "created_at": "2026-11-02T10:00:00Z"}
                             for who, regions in answers.items()]}
            for t, answers in tasks.items()]


def test_the_report_metrics_for_boxes_and_alpha_over_clusters_matches_nltk():
    car, person = ("Car", 0, 0, 10, 10), ("Person", 80, 0, 5, 10)
    tasks = {1: {"a": [car, person], "b": [car]}, 2: {"a": [car], "b": [("Truck", 0, 0, 10, 10)]}}
    gold = [{"id": 1, "annotations": [{"result": boxes_result(car, person)}]}]
    metrics = compute(build(export(tasks), gold))
    regions = metrics["regions"]["objects"]
    assert regions["labelers"]["a"]["recall"] == 1.0
    assert regions["labelers"]["b"]["recall"] == 0.5 and regions["labelers"]["b"]["missed"] == 1
    assert metrics["annotators"]["b"]["per_label"]["objects"]["Person"]["became"] == {MISSED: 1}
    # Units are the clusters: task 1 car (Car, Car), person (Person, none); task 2 (Car, Truck).
    reference = AnnotationTask(data=[(coder, unit, value) for unit, values in
                                     (("1car", ("Car", "Car")), ("1person", ("Person", "none")), ("2car", ("Car", "Truck")))
                                     for coder, value in zip("ab", values)])
    assert regions["agreement"]["krippendorff_alpha"] == pytest.approx(reference.alpha(), abs=1e-4)
    assert regions["agreement"]["f1"] == pytest.approx((2 + 0) / (3 + 2))
    assert regions["worst"][0]["labeler"] == "b" and regions["worst"][0]["image"] == "https://example.com/1.png"
    # Weights from gold F1: a (2x2+1)/(2+2+2), b (2x1+1)/(2+1+2); a's lone person and a's Car over b's Truck win.
    assert metrics["consensus"]["1"]["objects"]["regions"][1]["label"] == "Person"
    assert metrics["consensus"]["2"]["objects"]["regions"][0]["label"] == "Car"
    assert metrics["annotators"]["a"]["agreement_with_consensus"] == 1.0
    assert metrics["annotators"]["b"]["agreement_with_consensus"] == pytest.approx((2 + 0) / (3 + 2))
    assert [gap for gap in metrics["guideline_gaps"] if gap["kind"] == "low_consensus"]


def test_a_labeler_who_answered_a_gold_task_with_no_region_missed_every_region():
    car = ("Car", 0, 0, 10, 10)
    tasks = {1: {"a": [car], "b": []}}
    gold = [{"id": 1, "annotations": [{"result": boxes_result(car)}]}]
    metrics = compute(build(export(tasks), gold))
    assert metrics["annotators"]["b"]["gold_n"] == 1 and metrics["annotators"]["b"]["gold_accuracy"] == 0.0
    assert metrics["regions"]["objects"]["labelers"]["b"]["missed"] == 1


def test_the_match_threshold_is_one_setting_for_the_gold_check_and_the_region_figures():
    car = ("Car", 0, 0, 10, 10)
    tasks = {1: {"a": [("Car", 2, 0, 10, 10)]}}  # IoU 80 / 120 = 0.67
    gold = [{"id": 1, "annotations": [{"result": boxes_result(car)}]}]
    loose = compute(build(export(tasks), gold))
    strict = compute(build(export(tasks), gold), {"objects": 0.7})
    assert loose["annotators"]["a"]["gold_accuracy"] == 1.0 and loose["regions"]["objects"]["labelers"]["a"]["matched"] == 1
    assert strict["annotators"]["a"]["gold_accuracy"] == 0.0 and strict["regions"]["objects"]["labelers"]["a"]["matched"] == 0


def simulated_pilot(n_tasks=12, seed=3):
    """Gold boxes, and three labelers: careful (a pixel off), sloppy (edges several percent off), confuser (Car <-> Truck)."""
    import random

    rng = random.Random(seed)
    tasks, gold = {}, []
    for t in range(1, n_tasks + 1):
        truth = [(label, 10 + 30 * k, 20 + rng.uniform(-5, 5), 20, 15) for k, label in enumerate(("Car", "Truck", "Person"))]
        def drawn(jitter, swap=False):
            found = []
            for label, x, y, w, h in truth:
                if swap and label in ("Car", "Truck"):
                    label = "Truck" if label == "Car" else "Car"
                dx, dy, dw, dh = (rng.uniform(-jitter, jitter) for _ in range(4))
                found.append((label, x + dx, y + dy, w + dw, h + dh))
            return found
        tasks[t] = {"careful": drawn(0.3), "sloppy": drawn(4.0), "confuser": drawn(0.3, swap=True)}
        gold.append({"id": t, "annotations": [{"result": boxes_result(*truth)}]})
    return export(tasks), gold


def simulated_boxes(n_tasks=12, seed=3):
    return compute(build(*simulated_pilot(n_tasks, seed)))


def test_the_gate_fails_a_loose_box_drawer_on_iou_and_names_the_confused_pair():
    from ls_context.guidelines import GateThresholds
    from ls_context.quality.gate import evaluate

    metrics = simulated_boxes()
    criteria, alerts = evaluate(metrics, GateThresholds(min_accuracy=0.8, min_region_iou=0.75))
    by_name = {criterion.name.split(" (")[0]: criterion for criterion in criteria}
    iou = by_name["region IoU with gold per labeler"]
    assert not iou.passed and "sloppy on objects" in iou.detail and "careful" not in iou.detail and "confuser" not in iou.detail
    recall = by_name["gold recall per labeler and label"]
    assert not recall.passed and "confuser on Car" in recall.detail and "confuser on Truck" in recall.detail
    assert any(alert.startswith("confuser: Car -> Truck on 12 of 12 gold") for alert in alerts)
    assert any(alert.startswith("sloppy: regions drawn loosely in objects: mean IoU") for alert in alerts)
    confused = [gap for gap in metrics["guideline_gaps"] if gap["kind"] == "confused_pair"]
    assert {(gap["expected"], gap["given"]) for gap in confused} == {("Car", "Truck"), ("Truck", "Car")}
    assert confused[0]["by_labeler"] == {"confuser": 12}


def test_any_region_values_an_edited_export_may_hold_are_measured_or_skipped_never_a_crash():
    """Values of every JSON type where numbers, label lists and point lists belong."""
    from hypothesis import given, settings, strategies as st

    from ls_context.quality.report import render

    anything = st.recursive(st.none() | st.booleans() | st.integers(-5, 200) | st.floats(allow_nan=True) | st.text(max_size=4),
                            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=2),
                            max_leaves=6)
    number = st.one_of(st.floats(0, 100), st.integers(0, 100), anything)
    value = st.fixed_dictionaries({}, optional={
        "x": number, "y": number, "width": number, "height": number, "rotation": number, "start": number, "end": number,
        "points": st.one_of(st.lists(st.lists(number, max_size=3), max_size=5), anything),
        "rectanglelabels": st.one_of(st.lists(st.sampled_from(["Car", "Truck"]), max_size=2), anything),
        "labels": st.one_of(st.lists(st.sampled_from(["ORG", "PER"]), max_size=2), anything),
        "text": anything})
    item = st.builds(lambda kind, value: {"from_name": f"c_{kind}", "to_name": "o", "type": kind, "value": value},
                     st.sampled_from(["rectanglelabels", "polygonlabels", "labels", "rectangle"]), value)
    results = st.lists(item, max_size=4)

    @settings(max_examples=80, deadline=None)
    @given(st.lists(st.tuples(results, results, results), min_size=1, max_size=3))
    def check(tasks):
        export = [{"id": t, "data": {"image": "https://example.com/x.png"},
                   "annotations": [{"completed_by": who, "result": result} for who, result in zip("ab", answers[1:])]}
                  for t, answers in enumerate(tasks)]
        gold = [{"id": t, "annotations": [{"result": answers[0]}]} for t, answers in enumerate(tasks)]
        metrics = compute(build(export, gold))
        render(metrics)
        for found in metrics["regions"].values():
            assert set(found["labelers"]) <= {"a", "b"}

    check()


def test_the_gate_command_takes_the_region_iou_bar_and_the_match_mark_from_its_options_or_the_guidelines(tmp_path):
    import json

    from click.testing import CliRunner

    from ls_context.cli import main

    tasks, gold = simulated_pilot()
    (tmp_path / "export.json").write_text(json.dumps(tasks))
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    files = ["--export", str(tmp_path / "export.json"), "--gold", str(tmp_path / "gold.json")]
    loose = CliRunner().invoke(main, ["gate", *files, "--min-region-iou", "0.75"])
    assert loose.exit_code == 1 and "sloppy on objects" in loose.output and "regions drawn loosely in objects" in loose.output
    assert CliRunner().invoke(main, ["gate", *files, "--min-region-iou", "0.5"]).exit_code == 0
    # At a match mark of 0.9 the sloppy labeler's boxes no longer pass the gold check at all.
    (tmp_path / "g.yaml").write_text("project: p\nversion: '1'\ncontrols:\n  objects:\n    labels:\n      - value: Car\n        definition: A car.\n        why: Counted.\n"
                                     "gate:\n  min_accuracy: 0.8\n  match:\n    objects: 0.9\n")
    strict = CliRunner().invoke(main, ["gate", *files, "--guidelines", str(tmp_path / "g.yaml")])
    assert strict.exit_code == 1 and re.search(r"below the bar: .*sloppy", strict.output), strict.output


def test_text_answers_agree_by_the_gold_checks_own_similarity():
    def note(text):
        return [{"from_name": "summary", "to_name": "doc", "type": "textarea", "value": {"text": [text]}}]
    export_ = [
        {"id": 1, "annotations": [{"completed_by": "a", "result": note("Pipe burst.")}, {"completed_by": "b", "result": note("pipe burst")},
                                  {"completed_by": "c", "result": note("Hail")}]},
        {"id": 2, "annotations": [{"completed_by": "a", "result": note("abcd")}, {"completed_by": "b", "result": note("abcx")},
                                  {"completed_by": "c", "result": []}]},
    ]
    gold = [{"id": 1, "annotations": [{"result": note("pipe burst")}]}]
    texts = compute(build(export_, gold))["texts"]["summary"]
    import difflib
    hail = difflib.SequenceMatcher(None, "pipe burst", "hail").ratio()
    values = dict(zip(texts["matrix"]["labelers"], texts["matrix"]["values"]))
    # a and b: identical once normalised on task 1, 0.75 on task 2 (c wrote nothing there: left out).
    assert values["a"][1] == pytest.approx((1 + 0.75) / 2) and values["a"][2] == pytest.approx(hail, abs=1e-4)
    assert texts["similarity"] == pytest.approx((1 + hail + hail + 0.75) / 4, abs=1e-4)
    assert texts["labelers"]["c"] == {"gold_similarity": pytest.approx(hail, abs=1e-4), "gold_n": 1}


def test_the_report_shows_text_agreement():
    from ls_context.quality.report import render

    def note(text):
        return [{"from_name": "summary", "to_name": "doc", "type": "textarea", "value": {"text": [text]}}]
    export_ = [{"id": 1, "annotations": [{"completed_by": "a", "result": note("x")}, {"completed_by": "b", "result": note("x")}]}]
    html = render(compute(build(export_, [{"id": 1, "annotations": [{"result": note("x")}]}])))
    assert "Text answers: summary" in html and "who both wrote (the gold check's measure, 100% = the same words): 100%" in html


def test_regions_whose_coordinates_cannot_be_measured_are_counted_not_guessed():
    car = ("Car", 0, 0, 10, 10)
    bad = [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels", "value": value} for value in (
        {"x": "12.5", "y": 0, "width": 10, "height": 10, "rectanglelabels": ["Car"]},
        {"y": 0, "width": 10, "height": 10, "rectanglelabels": ["Car"]},
        {"x": 0, "y": 0, "width": -3, "height": 10, "rectanglelabels": ["Car"]})]
    string_label = [{"from_name": "objects", "to_name": "image", "type": "rectanglelabels",
                     "value": {"x": 0, "y": 0, "width": 10, "height": 10, "rectanglelabels": "Car"}}]
    tasks = [{"id": 1, "annotations": [{"completed_by": "a", "result": boxes_result(car) + bad},
                                       {"completed_by": "b", "result": string_label}]}]
    gold = [{"id": 1, "annotations": [{"result": boxes_result(car) + bad[:1]}]}]
    metrics = compute(build(tasks, gold))
    assert metrics["skipped"] == {"region with unreadable coordinates (rectanglelabels)": 3,
                                  "gold region with unreadable coordinates (rectanglelabels)": 1}
    labelers = metrics["regions"]["objects"]["labelers"]
    assert labelers["a"]["extra"] == 0 and labelers["a"]["recall"] == 1.0 and metrics["annotators"]["a"]["gold_accuracy"] == 1.0
    assert labelers["b"]["matched"] == 1  # a label written as text, not a list, is still the label


def test_flags_on_region_tasks_are_grouped_by_the_first_region_label_as_the_flags_command_does():
    flag = {"from_name": "ls_flag", "to_name": "image", "type": "choices", "value": {"choices": ["Guideline unclear"]}}
    tasks = [{"id": 1, "annotations": [{"completed_by": "a", "result": boxes_result(("Truck", 0, 0, 10, 10), ("Car", 50, 0, 9, 9)) + [flag]}]}]
    [gap] = [g for g in compute(build(tasks))["guideline_gaps"] if g["kind"] == "flagged_label"]
    assert (gap["label"], gap["reasons"]) == ("Truck", {"Guideline unclear": 1})
