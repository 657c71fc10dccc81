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


def test_the_gold_checks_match_marks_and_the_region_iou_bar_come_from_the_gate_section():
    good = parse(MINIMAL + "gate:\n  min_region_iou: 0.75\n  match:\n    rectanglelabels: 0.6\n    triage: 1\n")
    assert good.gate.min_region_iou == 0.75 and good.gate.match == {"rectanglelabels": 0.6, "triage": 1.0}

    errors = errors_of(MINIMAL + "gate:\n  min_region_iou: 2\n  match:\n    boxes: high\n    spans: 1.5\n")
    assert any("gate.min_region_iou: must be between 0 and 1" in error for error in errors), errors
    assert any("gate.match.boxes" in error for error in errors) and any("gate.match.spans: must be between 0 and 1" in error for error in errors)
    assert any("gate.match: expected a mapping" in error for error in errors_of(MINIMAL + "gate:\n  match: 0.5\n"))


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


def test_instructions_show_definitions_examples_edge_cases_flags_and_feedback():
    from ls_context.guidelines.instructions import render

    html = render(parse(MINIMAL))

    assert "<h2>Triage</h2>" in html and "Guidelines version 2.1" in html
    assert "<h4>Urgent</h4>" in html and "<p><b>Definition:</b> Someone must act today.</p>" in html
    assert "<p><b>Why it matters:</b> Goes to the on-call lead.</p>" in html
    assert "Don't label as Urgent</th>" in html
    assert "<li>&ldquo;Third mail about my invoice&rdquo;<br><i>Annoying, not urgent.</i></li>" in html
    assert "Polite but with a deadline</td>" in html and "<b>Urgent</b>: The deadline decides.</td>" in html
    assert html.count("<table ") == 2  # Routine has no examples or edge cases, so no empty tables
    assert all(f"<li><b>{reason}</b>" in html for reason in DEFAULT_FLAG_REASONS)
    feedback = html[html.index("<h3>Your feedback</h3>"):]
    assert "reference (gold) task" in feedback and "within seconds" in feedback and "Nobody else sees it" in feedback
    assert "style=" not in html and "<script" not in html  # Label Studio strips both


EVIL = "<img src=x onerror=alert(1)>"


def test_instructions_escape_every_text_of_the_guidelines():
    from ls_context.guidelines.instructions import render

    text = f"""\
project: '{EVIL}'
version: '{EVIL}'
controls:
  triage:
    labels:
      - value: '{EVIL}'
        definition: '{EVIL}'
        why: '{EVIL}'
        do: ['{EVIL}', {{image: 'x" onerror="alert(1)', explanation: '{EVIL}'}}]
        dont: [{{text: '{EVIL}', explanation: '{EVIL}'}}]
        edge_cases: [{{situation: '{EVIL}', label: '{EVIL}', why: '{EVIL}'}}]
  second:
    labels: [{{value: Other, definition: d}}]
rules:
  - {{id: '{EVIL}', control: triage, label: '{EVIL}', when: {{keywords: [x]}}, rationale: '{EVIL}'}}
flag_reasons: [{{value: '{EVIL}', when: '{EVIL}'}}]
"""
    html = render(parse(text))

    assert "<img src=x" not in html and 'onerror="alert(1)"' not in html
    assert '<img src="x&#34; onerror=&#34;alert(1)" alt="example" height="160">' in html  # the image stays an image
    escaped = EVIL.replace("<", "&lt;").replace(">", "&gt;")
    for shown in (f"<h2>{escaped}</h2>", f"Guidelines version {escaped}", f"<h4>{escaped}</h4>", f"<b>Definition:</b> {escaped}",
                  f"<b>Why it matters:</b> {escaped}", f"&ldquo;{escaped}&rdquo;", f"<br><i>{escaped}</i>", f"Don't label as {escaped}",
                  f'width="50%">{escaped}</td>', f'width="50%"><b>{escaped}</b>: {escaped}</td>', "<h3>triage</h3>"):
        assert shown in html, shown
    assert html.count(f"<li><b>{escaped}</b>: {escaped}</li>") == 2  # the decision rule and the flag reason
