"""Decision rules fire on the task data and bring the evidence a labeler can check."""

from ls_context.guidelines import parse
from ls_context.guidelines.rules import evaluate, fire, spans

GUIDELINES = parse("""\
project: Claims
version: "1"
controls:
  priority:
    labels:
      - {value: Expedite, definition: Fast lane.}
      - {value: Review, definition: Needs a person.}
rules:
  - id: big-claim
    control: priority
    label: Review
    when:
      all:
        - {field: amount, gte: 10000}
        - not: {keywords: [windscreen]}
    rationale: Large claims need a person.
  - id: injury
    control: priority
    label: Expedite
    when:
      any:
        - {keywords: [injur*, hospital]}
        - {regex: "ambulance|a\\\\&e"}
    rationale: Injuries go first.
""")
BIG, INJURY = GUIDELINES.rules


def test_numeric_rule_fires_with_the_field_value_as_evidence():
    hits = fire(GUIDELINES.rules, {"text": "Rear bumper and door.", "amount": 12500}, "text")

    assert [(hit.rule.id, hit.evidence) for hit in hits] == [("big-claim", ("amount = 12500 >= 10000",))]


def test_not_blocks_a_rule_and_missing_fields_never_fire():
    assert evaluate(BIG.when, {"text": "Windscreen cracked", "amount": 20000}, "text") is None
    assert evaluate(BIG.when, {"text": "no amount given"}, "text") is None
    assert evaluate(BIG.when, {"text": "x", "amount": "not a number"}, "text") is None


def test_keywords_match_whole_words_in_any_case_with_star_for_endings():
    assert evaluate(INJURY.when, {"text": "My son was INJURED in the crash"}, "text") == ['"injur*"']
    assert evaluate(INJURY.when, {"text": "Took him to Hospitality school"}, "text") is None


def test_regex_evidence_is_the_matched_text():
    assert evaluate(INJURY.when, {"text": "The Ambulance came fast"}, "text") == ['"Ambulance"']


def test_numbers_written_as_text_with_thousands_separators_compare():
    assert evaluate(BIG.when, {"text": "", "amount": "12,000"}, "text") == ["amount = 12,000 >= 10000"]


def test_spans_locate_keywords_and_regex_matches():
    text = "Injured, then the ambulance, then injury forms"

    assert [text[start:end] for start, end in spans(INJURY.when, text)] == ["Injured", "ambulance", "injury"]
