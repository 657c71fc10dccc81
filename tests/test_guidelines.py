"""Guidelines files: what a lead writes is read faithfully, and every mistake is named with its line."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.guidelines import DEFAULT_FLAG_REASONS, GuidelinesError, load, parse

LABEL_CONFIGS = Path(__file__).resolve().parent.parent / "label_configs"

MINIMAL = """\
project: Triage
version: "2.1"
controls:
  triage:
    labels:
      - value: Urgent
        definition: Someone must act today.
        why: Goes to the on-call lead.
        do: ["Store opens Thursday and the order is missing"]
        dont:
          - text: "Third mail about my invoice"
            explanation: Annoying, not urgent.
        edge_cases:
          - situation: Polite but with a deadline
            label: Urgent
            why: The deadline decides.
      - value: Routine
        definition: A plain question.
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(GuidelinesError) as raised:
        parse(text, source="g.yaml")
    return str(raised.value).splitlines()


def test_a_minimal_file_is_read_with_default_flag_reasons():
    guidelines = parse(MINIMAL)

    urgent = guidelines.controls["triage"].label("Urgent")
    assert (guidelines.project, guidelines.version) == ("Triage", "2.1")
    assert urgent.do[0].text.startswith("Store opens")
    assert urgent.dont[0].explanation == "Annoying, not urgent."
    assert urgent.edge_cases[0].label == "Urgent"
    assert [reason.value for reason in guidelines.flag_reasons] == list(DEFAULT_FLAG_REASONS)
    assert guidelines.hints()["triage"] == {
        "Urgent": "Someone must act today. Why it matters: Goes to the on-call lead.",
        "Routine": "A plain question.",
    }


def test_a_misspelt_key_is_an_error_with_its_line_and_field():
    text = MINIMAL.replace("        why: Goes to", "        wyh: Goes to")

    [error] = errors_of(text)

    assert error.startswith("g.yaml:8: controls.triage.labels[0].wyh: unknown key")


def test_every_problem_is_reported_at_once():
    text = MINIMAL.replace("version: \"2.1\"\n", "").replace("definition: A plain question.", "definition: ''")

    errors = errors_of(text)

    assert any("missing required key 'version'" in error for error in errors)
    assert any(".labels[1].definition: must not be empty" in error for error in errors)


def test_rules_must_point_to_known_controls_and_labels():
    text = MINIMAL + """\
rules:
  - id: deadline
    control: triage
    label: Urgentt
    when: {keywords: [deadline]}
    rationale: A deadline is urgent.
  - id: other
    control: sentiment
    label: Urgent
    when: {regex: "x"}
    rationale: r
"""
    errors = errors_of(text)

    assert "g.yaml:22: rules[0].label: 'Urgentt' is not a label of control 'triage' (labels: Urgent, Routine)" in errors
    assert any(error.startswith("g.yaml:26: rules[1].control: unknown control 'sentiment'") for error in errors)


@pytest.mark.parametrize(
    "when, message",
    [
        ('{regex: "(unclosed"}', "not a valid regular expression"),
        ("{gt: 5}", "'gt' compares a field"),
        ("{field: amount, gt: lots}", "expected a number"),
        ("{keywords: [a], regex: b}", "exactly one of"),
        ("{any: []}", "needs at least one condition"),
    ],
)
def test_bad_conditions_are_named(when, message):
    text = MINIMAL + f"rules:\n  - id: r\n    control: triage\n    label: Urgent\n    when: {when}\n    rationale: r\n"

    errors = errors_of(text)

    assert any(message in error and "rules[0].when" in error for error in errors), errors


def test_an_edge_case_pointing_to_an_unknown_label_is_an_error():
    errors = errors_of(MINIMAL.replace("            label: Urgent\n", "            label: Critical\n"))

    assert errors == [
        "g.yaml:15: controls.triage.Urgent.edge_cases[0].label: 'Critical' is not a label of control 'triage' (labels: Urgent, Routine)"
    ]


def test_duplicate_labels_and_bad_gate_values_are_errors():
    text = MINIMAL.replace("- value: Routine", "- value: Urgent") + "gate:\n  min_accuracy: 85\n"

    errors = errors_of(text)

    assert any("label 'Urgent' is defined twice" in error for error in errors)
    assert any("gate.min_accuracy: must be between 0 and 1" in error for error in errors)


@pytest.mark.parametrize("text, message", [("", "the file is empty"), ("a: [b", "not valid YAML"), ("- a\n- b\n", "expected a mapping")])
def test_files_that_are_not_guidelines_at_all(text, message):
    assert message in errors_of(text)[0]


def test_flag_reasons_and_gate_thresholds_come_from_the_file():
    text = MINIMAL + "flag_reasons:\n  - Unsure\n  - value: Not English\n    when: You cannot read it.\ngate:\n  min_accuracy: 0.9\n  min_gold_per_labeler: 5\n"

    guidelines = parse(text)

    assert [(r.value, r.when) for r in guidelines.flag_reasons] == [
        ("Unsure", DEFAULT_FLAG_REASONS["Unsure"]), ("Not English", "You cannot read it."),
    ]
    assert (guidelines.gate.min_accuracy, guidelines.gate.min_gold_per_labeler) == (0.9, 5)


@pytest.mark.parametrize("path", sorted(LABEL_CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_shipped_guidelines_pass_the_check_command(path):
    result = CliRunner().invoke(main, ["guidelines", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{path}: ok")
    assert load(path).controls


def test_check_command_prints_the_errors_and_fails(tmp_path):
    bad = tmp_path / "g.yaml"
    bad.write_text(MINIMAL.replace("definition: A plain question.", "definitoin: A plain question."))

    result = CliRunner().invoke(main, ["guidelines", "check", str(bad)])

    assert result.exit_code == 1
    assert f"{bad}:18: controls.triage.labels[1].definitoin: unknown key" in result.output
    assert "Traceback" not in result.output
