"""Reports and gates on Label Studio exports: constructed cases with known labelers, and bad input."""

import json
import re

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.quality.export import build
from ls_context.quality.metrics import compute, wilson_interval
from ls_context.quality.synthetic import confusion, simulated_export

LABELS = ["Urgent", "Frustrated", "Routine", "Feedback"]


def write_pilot(folder, labelers):
    export, gold, _ = simulated_export(300, labelers, LABELS, per_task=3, gold_tasks=40, control="triage", seed=5, flag_rate=0.05)
    (folder / "export.json").write_text(json.dumps(export))
    (folder / "gold.json").write_text(json.dumps(gold))
    return folder


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    """A careful labeler, a hasty one, and one who labels Frustrated as Routine."""
    return write_pilot(tmp_path_factory.mktemp("pilot"), {
        "careful@example.com": confusion(4, 0.97),
        "hasty@example.com": confusion(4, 0.8),
        "confuser@example.com": confusion(4, 0.97, swap=(1, 2), swap_rate=0.9),
    })


@pytest.fixture(scope="module")
def pilot_without_confuser(tmp_path_factory):
    """A careful labeler and a hasty one whose errors are spread over every label."""
    return write_pilot(tmp_path_factory.mktemp("pilot"), {"careful@example.com": confusion(4, 0.97), "hasty@example.com": confusion(4, 0.8)})


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_wilson_interval_matches_the_textbook():
    low, high = wilson_interval(8, 10)
    assert (round(low, 4), round(high, 4)) == (0.4902, 0.9433)
    assert wilson_interval(0, 5)[0] == 0.0 and wilson_interval(5, 5)[1] == 1.0


def test_report_json_has_every_section(pilot):
    result = run("report", "--export", pilot / "export.json", "--gold", pilot / "gold.json",
                 "--out", pilot / "report.html", "--json", pilot / "metrics.json")

    assert result.exit_code == 0, result.output
    metrics = json.loads((pilot / "metrics.json").read_text())
    careful = metrics["annotators"]["careful@example.com"]
    assert set(careful) >= {"gold_accuracy", "gold_n", "gold_ci_low", "gold_ci_high", "agreement_with_consensus", "flag_rate"}
    assert careful["gold_n"] == 40 and careful["gold_ci_low"] <= careful["gold_accuracy"] <= careful["gold_ci_high"]
    assert set(metrics["agreement"]["triage"]) >= {"krippendorff_alpha", "fleiss_kappa", "cohen_kappa_mean"}
    assert metrics["consensus"]["1"]["triage"]["label"] in LABELS
    estimated = metrics["confusions"]["triage"]["by_labeler_estimated"]["confuser@example.com"]
    labels = metrics["confusions"]["triage"]["labels"]
    assert estimated[labels.index("Frustrated")][labels.index("Routine")] > 0.7  # Dawid-Skene found the swap
    top_gap = next(g for g in metrics["guideline_gaps"] if g["kind"] == "confused_pair")
    assert (top_gap["expected"], top_gap["given"]) == ("Frustrated", "Routine")
    assert any(g["kind"] == "flagged_label" for g in metrics["guideline_gaps"])


def test_html_report_is_self_contained_with_plots(pilot):
    run("report", "--export", pilot / "export.json", "--gold", pilot / "gold.json", "--out", pilot / "report.html")

    html = (pilot / "report.html").read_text()
    for plot in ("class='accuracy'", "class='trend'", "class='heatmap'"):
        assert plot in html
    assert "<script" not in html and not re.search(r"(src|href)=['\"]https?:", html)  # nothing fetched
    assert "<td>Frustrated</td><td>Routine</td>" in html


def test_the_confused_pairs_table_names_who_makes_each_confusion(pilot):
    run("report", "--export", pilot / "export.json", "--gold", pilot / "gold.json",
        "--out", pilot / "report.html", "--json", pilot / "metrics.json")

    metrics = json.loads((pilot / "metrics.json").read_text())
    pair = next(g for g in metrics["guideline_gaps"] if g["kind"] == "confused_pair")
    assert sum(pair["by_labeler"].values()) == pair["count"]
    # The confuser swaps 90% of Frustrated; the others err at random, so most of this pair is theirs.
    assert max(pair["by_labeler"], key=pair["by_labeler"].get) == "confuser@example.com"
    row = f"<td>Frustrated</td><td>Routine</td><td>{pair['count']}</td><td>confuser@example.com ({pair['by_labeler']['confuser@example.com']})"
    assert row in (pilot / "report.html").read_text()


EVIL = "<img src=x onerror=alert(1)>"
ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def test_text_from_the_export_is_escaped_in_the_report(tmp_path):
    """A labeler name, a label, a task id, a control name, a rule id and a flag reason that hold HTML stay text."""
    def answer(label, flag=""):
        result = [{"from_name": EVIL, "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
        if flag:
            result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [flag]}})
        return result

    prediction = {"result": [{**answer("Routine")[0], "ls_rules": [EVIL]}]}
    export = [{"id": EVIL if t == 0 else t, "data": {"text": f"m{t}"}, "predictions": [prediction], "annotations": [
        {"completed_by": {"email": EVIL}, "result": answer(EVIL, flag=EVIL), "created_at": "2026-11-02T10:00:00Z"},
        {"completed_by": {"email": "careful@example.com"}, "result": answer("Routine"), "created_at": "2026-11-02T10:00:00Z"},
    ]} for t in range(4)]
    gold = [{"id": task["id"], "annotations": [{"result": answer("Routine")}]} for task in export]
    (tmp_path / "export.json").write_text(json.dumps(export))
    (tmp_path / "gold.json").write_text(json.dumps(gold))

    result = run("report", "--export", tmp_path / "export.json", "--gold", tmp_path / "gold.json",
                 "--out", tmp_path / "report.html", "--json", tmp_path / "metrics.json")

    assert result.exit_code == 0, result.output
    html = (tmp_path / "report.html").read_text()
    gaps = json.loads((tmp_path / "metrics.json").read_text())["guideline_gaps"]
    assert {g["kind"] for g in gaps} >= {"confused_pair", "overridden_rule", "flagged_label"}  # every table is drawn
    assert "<img" not in html
    assert f"<td>{ESCAPED}</td>" in html  # the labeler, the label, the control, the rule id, the flag's label
    assert f"<td>{ESCAPED}, 1, 2, 3</td>" in html  # the example tasks, the first of which has that id
    assert f"{ESCAPED} (4)" in html  # the flag reason, and who made the confusion


def test_gate_fails_on_the_confusing_labeler_and_names_the_confusion(pilot):
    result = run("gate", "--export", pilot / "export.json", "--gold", pilot / "gold.json",
                 "--min-accuracy", "0.85", "--min-gold-per-labeler", "20", "--max-flag-rate", "0.1", "--min-alpha", "0.3")

    assert result.exit_code == 1, result.output
    assert "FAIL  gold accuracy per labeler" in result.output
    assert "below the bar: confuser@example.com" in result.output
    assert "ALERT confuser@example.com" in result.output and "Frustrated -> Routine" in result.output
    assert "PASS  flag rate (maximum)" in result.output
    assert result.output.strip().endswith("gate: FAIL")


def test_gate_passes_when_every_criterion_holds(pilot_without_confuser):
    pilot = pilot_without_confuser
    result = run("gate", "--export", pilot / "export.json", "--gold", pilot / "gold.json", "--min-accuracy", "0.5", "--min-gold-per-labeler", "20")

    assert result.exit_code == 0, result.output
    assert "PASS  gold recall per labeler and label" in result.output
    assert result.output.strip().endswith("gate: PASS")


def test_gate_fails_a_labeler_who_turns_one_label_into_another_even_at_a_low_bar(pilot):
    result = run("gate", "--export", pilot / "export.json", "--gold", pilot / "gold.json", "--min-accuracy", "0.5", "--min-gold-per-labeler", "20")

    assert result.exit_code == 1, result.output
    assert "PASS  gold accuracy per labeler" in result.output  # pooled over every label, the confuser passes
    assert "FAIL  gold recall per labeler and label" in result.output
    assert re.search(r"ALERT confuser@example\.com: Frustrated -> Routine on \d+ of \d+ gold \(recall \d+%, 95% interval \d+%-\d+%\)", result.output)


def test_gate_reads_thresholds_from_the_guidelines(pilot, tmp_path):
    guidelines = tmp_path / "g.yaml"
    guidelines.write_text("project: p\nversion: '1'\ncontrols: {triage: {labels: [{value: Urgent, definition: d}]}}\ngate: {min_accuracy: 0.99}\n")

    result = run("gate", "--export", pilot / "export.json", "--gold", pilot / "gold.json", "--guidelines", guidelines)

    assert result.exit_code == 1 and "threshold 0.99" in result.output


def test_gate_without_thresholds_or_source_is_a_clear_error(pilot):
    assert "no thresholds" in run("gate", "--export", pilot / "export.json").output
    result = run("gate", "--min-accuracy", "0.9")
    assert result.exit_code == 1 and "exactly one of --project ID or --export" in result.output


@pytest.mark.parametrize("content, message", [
    ("not json", "is not valid JSON"),
    ('{"tasks": []}', "must be a JSON list of tasks"),
    ('[1, 2]', "must be a JSON list of tasks"),
])
def test_bad_exports_give_one_clear_line(tmp_path, content, message):
    export = tmp_path / "export.json"
    export.write_text(content)

    result = run("report", "--export", export, "--out", tmp_path / "r.html")

    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output


def test_odd_rows_are_skipped_and_counted():
    export = [
        {"id": 1, "data": {}, "annotations": [
            {"completed_by": 1, "result": [{"from_name": "c", "type": "choices", "value": {"choices": ["a"]}}]},
            {"completed_by": 2, "result": [{"from_name": "c", "type": "choices", "value": {"choices": ["b"]}}]},
            {"result": [{"from_name": "c", "type": "choices", "value": {"choices": ["a"]}}]},
            {"completed_by": 3, "was_cancelled": True, "result": []},
            {"completed_by": 3, "result": [{"from_name": "point", "type": "keypointlabels", "value": {"x": 1}}]},
            "garbage",
        ]},
        {"data": {}},
    ]

    metrics = compute(build(export))

    assert metrics["skipped"] == {
        "annotation without completed_by": 1, "cancelled (skipped) annotation": 1,
        "result of type 'keypointlabels' (not measured)": 1, "malformed annotation": 1, "task without id": 1,
    }
    assert set(metrics["annotators"]) == {"1", "2", "3"}


def test_ratings_use_interval_alpha():
    export = [{"id": t, "annotations": [
        {"completed_by": w, "result": [{"from_name": "stars", "type": "rating", "value": {"rating": r}}]}
        for w, r in enumerate(ratings)]} for t, ratings in enumerate([(1, 1), (2, 2), (3, 3), (1, 2)])]

    metrics = compute(build(export))

    assert metrics["agreement"]["stars"]["metric"] == "interval"
    assert metrics["agreement"]["stars"]["krippendorff_alpha"] == pytest.approx(1 - 14 / 78, abs=1e-4)


SIX_TYPES = {  # one gold task per kind of result the gold check compares: (control, type, right value, wrong value)
    "box": ("rectanglelabels", {"x": 10, "y": 10, "width": 30, "height": 20, "rectanglelabels": ["Car"]},
            {"x": 60, "y": 60, "width": 10, "height": 10, "rectanglelabels": ["Car"]}),
    "outline": ("polygonlabels", {"points": [[10, 10], [40, 10], [40, 40]], "polygonlabels": ["Person"]},
                {"points": [[60, 60], [90, 60], [90, 90]], "polygonlabels": ["Person"]}),
    "entity": ("labels", {"start": 0, "end": 9, "text": "ACME Corp", "labels": ["Company"]},
               {"start": 14, "end": 20, "text": "Berlin", "labels": ["Company"]}),
    "stars": ("rating", {"rating": 4}, {"rating": 1}),
    "summary": ("textarea", {"text": ["Refund the second charge"]}, {"text": ["Nothing to do here at all"]}),
    "triage": ("choices", {"choices": ["Urgent"]}, {"choices": ["Routine"]}),
}


def test_gold_accuracy_counts_every_kind_of_result_the_gold_check_compares():
    """Six gold tasks, one per type; one labeler right on all, one wrong on all: 6/6 and 0/6, as their feedback says."""
    def item(control, which):
        kind, right, wrong = SIX_TYPES[control]
        return {"from_name": control, "to_name": "media", "type": kind, "value": right if which == "right" else wrong}

    export = [{"id": number, "data": {"text": "ACME Corp in Berlin"}, "annotations": [
        {"completed_by": {"id": 99, "email": "lead@example.com"}, "ground_truth": True, "result": [item(control, "right")]},
        {"completed_by": {"id": 1, "email": "right@example.com"}, "result": [item(control, "right")]},
        {"completed_by": {"id": 2, "email": "wrong@example.com"}, "result": [item(control, "wrong")]},
    ]} for number, control in enumerate(SIX_TYPES, start=1)]

    metrics = compute(build(export))

    right, wrong = metrics["annotators"]["right@example.com"], metrics["annotators"]["wrong@example.com"]
    assert (right["gold_n"], right["gold_accuracy"]) == (6, 1.0)
    assert (wrong["gold_n"], wrong["gold_accuracy"]) == (6, 0.0)
    assert not any("not measured" in reason for reason in metrics["skipped"])
