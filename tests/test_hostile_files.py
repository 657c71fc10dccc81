"""Hostile guidelines files and label configs: each is read, or refused in one clear line, quickly.

Mutations of a shipped guidelines file (scalars replaced by YAML 1.1 tricks, arbitrary text, deep
nesting; random bytes) either load or raise the project's error, whose every line names the file;
never another exception, never a traceback from the command line, never more than a safety bound of
time. Alias bombs, deep XML and XML declarations of any encoding are tested one by one.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ls_context.cli import main
from ls_context.guidelines import Guidelines, GuidelinesError, load, parse
from ls_context.guidelines.loader import MAX_DEPTH, MAX_ERRORS, MAX_SIZE
from ls_context.labelstudio.label_config import MAX_DEPTH as MAX_CONFIG_DEPTH, MAX_SIZE as MAX_CONFIG_SIZE
from ls_context.labelstudio.label_config import Injection, LabelConfigError, inject
from ls_context.labelstudio.label_config import parse as parse_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [path.read_text(encoding="utf-8") for path in sorted(ROOT.glob("examples/*/guidelines.yaml"))]
VALID = (ROOT / "examples" / "support-triage" / "guidelines.yaml").read_text(encoding="utf-8")
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text(encoding="utf-8")
SOURCE = "g.yaml"
SAFETY_SECONDS = 2.0  # a bound on hostile input, far above what a normal file takes
# Values that YAML 1.1 reads as something else than the characters written, and other tricks.
TRICKS = [
    "0x10", "0o17", "017", "0b101", ".inf", "-.inf", "+.INF", ".nan", ".NaN", "1:30", "190:20:30.15", "1_000", "1e3",
    "1.0e+999", "~", "null", "Null", "yes", "no", "on", "off", "Y", "n", "true", "2001-12-14", "=", "<<", "",
    "''", '""', "-", "?", ":", "|", ">", "!!int abc", "!!float x", "!!binary aGk=", "!!python/object:os.system x",
    "!custom x", "*undefined", "&anchor", "[]", "{}", "[a, [b, {c: d}]]", '"\\x01"', '"\\0"', '"\\ud800"',
    '"line\\nbreak"', "'<script>alert(1)</script>'", "%YAML 1.1", "@", "`", "# comment", "\t", "[[[[", "{{{{",
]


def scalar_spans(text: str) -> list[tuple[int, int]]:
    """Where each scalar of a YAML text is written (start, end), keys included."""
    spans, stack = [], [yaml.compose(text, Loader=yaml.SafeLoader)]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            spans.append((node.start_mark.index, node.end_mark.index))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        else:
            stack.extend(child for pair in node.value for child in pair)
    return sorted(spans)


SPANS = {text: scalar_spans(text) for text in EXAMPLES}


def nested(depth: int, flow: bool) -> str:
    """Lists inside lists, `depth` deep: `[[[]]]`, or the same in block style (a value on the next lines)."""
    if flow:
        return "[" * depth + "]" * depth
    return "\n" + "".join(" " * (2 * level + 4) + "- \n" for level in range(depth))


replacements = st.one_of(
    st.sampled_from(TRICKS),
    st.integers(1, 3000).map(lambda depth: nested(depth, flow=True)),
    st.integers(1, 300).map(lambda depth: nested(depth, flow=False)),
    st.integers(-(10 ** 60), 10 ** 60).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40).map(json.dumps),
    st.text(max_size=40),
)


def outcome_of(read, source: str = SOURCE) -> Guidelines | None:
    """Run `read`: guidelines, or None after the project's error whose every line names the file; quickly."""
    start = time.perf_counter()
    try:
        result = read()
    except GuidelinesError as error:
        lines = str(error).split("\n")
        assert 1 <= len(lines) <= MAX_ERRORS + 1, lines
        for line in lines:
            assert re.match(rf"{re.escape(source)}(:\d+)?: \S", line), line
            assert line.isprintable(), line  # no carriage return, no other break hidden in the line
        result = None
    else:
        assert isinstance(result, Guidelines)
    assert time.perf_counter() - start < SAFETY_SECONDS
    return result


def mutated(text: str, span: tuple[int, int], replacement: str) -> str:
    start, end = span
    return text[:start] + replacement + text[end:]


# -- property-based: mutated guidelines ----------------------------------------------------------------


@st.composite
def one_replaced(draw) -> str:
    """A shipped guidelines file with one scalar (key or value) replaced."""
    text = draw(st.sampled_from(EXAMPLES))
    return mutated(text, draw(st.sampled_from(SPANS[text])), draw(replacements))


@st.composite
def several_replaced(draw) -> str:
    text = draw(st.sampled_from(EXAMPLES))
    spans = draw(st.lists(st.sampled_from(SPANS[text]), min_size=2, max_size=6, unique=True))
    for span in sorted(spans, reverse=True):  # from the end, so the earlier spans stay where they were
        text = mutated(text, span, draw(replacements))
    return text


@settings(max_examples=200, deadline=None)
@given(text=one_replaced())
def test_a_guidelines_file_with_a_replaced_value_loads_or_is_refused_cleanly(text):
    outcome_of(lambda: parse(text, source=SOURCE))


@settings(max_examples=100, deadline=None)
@given(text=several_replaced())
def test_several_replaced_values_at_once(text):
    outcome_of(lambda: parse(text, source=SOURCE))


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """A folder for files written once per example (a test's own tmp_path would be shared by its examples anyway)."""
    return tmp_path_factory.mktemp("hostile")


@settings(max_examples=100, deadline=None)
@given(position=st.integers(0, len(VALID.encode())), junk=st.binary(min_size=1, max_size=64), cut=st.integers(0, 64))
def test_random_bytes_in_the_file_are_read_or_refused_cleanly(scratch, position, junk, cut):
    data = VALID.encode()
    path = scratch / "bytes.yaml"
    path.write_bytes(data[:position] + junk + data[position + cut:])

    outcome_of(lambda: load(path), source=str(path))


@settings(max_examples=40, deadline=None)
@given(text=one_replaced())
def test_the_check_command_never_shows_a_traceback(scratch, text):
    path = scratch / "g.yaml"
    path.write_text(text, encoding="utf-8")

    result = CliRunner().invoke(main, ["guidelines", "check", str(path)])

    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if result.exit_code:
        assert result.exit_code == 1 and result.output.startswith(f"Error: {path}")
    else:
        assert result.output.startswith(f"{path}: ok")


# -- one by one: the tricks the fuzzing found ---------------------------------------------------------

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]\n" for previous, name in zip("abcdefgh", "bcdefghi")
)


@pytest.mark.parametrize("where", ["top level", "inside the controls"])
def test_an_alias_bomb_is_refused_at_once(where):
    text = BILLION_LAUGHS if where == "top level" else VALID.replace("controls:", BILLION_LAUGHS.replace("a:", "x:", 1) + "controls:", 1)

    start = time.perf_counter()
    with pytest.raises(GuidelinesError) as refused:
        parse(text, source=SOURCE)

    assert time.perf_counter() - start < 0.5
    [line] = str(refused.value).splitlines()
    assert re.match(r"g\.yaml:\d+: more than [\d,]+ values, counting each use of an alias", line), line


def test_an_alias_bomb_through_the_command_line_is_one_line_and_exit_code_1(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS)

    result = CliRunner().invoke(main, ["guidelines", "check", str(path)])

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert len(result.output.strip().splitlines()) == 1 and "alias" in result.output


def test_an_alias_inside_its_own_anchor_is_refused():
    with pytest.raises(GuidelinesError, match=r"g\.yaml:1: the alias \*loop is inside the value it refers to"):
        parse("project: &loop [*loop]\n", source=SOURCE)


def test_a_few_aliases_still_share_a_keyword_list():
    text = VALID.replace('keywords: ["fire exit"', 'keywords: &safety ["fire exit"', 1)
    text = re.sub(r'keywords: \["love the".*', "keywords: *safety", text, count=1)

    guidelines = parse(text, source=SOURCE)

    by_id = {rule.id: rule for rule in guidelines.rules}
    assert by_id["praise"].when.keywords == by_id["safety"].when.keywords


@pytest.mark.parametrize("text", [
    "project: " + nested(MAX_DEPTH, flow=True),
    "project: " + nested(100_000, flow=True),
    "project: " + nested(MAX_DEPTH, flow=False),
    "project: " + nested(900, flow=False),  # block nesting costs its indentation: 900 levels are 800 KB
    VALID.replace("keywords: [", "keywords: " + "[" * 5000, 1),
], ids=["flow", "flow-100000", "block", "block-900", "unclosed"])
def test_deep_nesting_is_refused_before_python_runs_out_of_stack(text):
    assert outcome_of(lambda: parse(text, source=SOURCE)) is None
    with pytest.raises(GuidelinesError, match=rf"^g\.yaml:\d+: nested more than {MAX_DEPTH} levels deep; guidelines need far fewer$"):
        parse(text, source=SOURCE)


def test_the_deepest_condition_a_lead_writes_still_loads():
    condition = "{keywords: [x]}"
    for level in range(8):
        condition = f"{{{'any' if level % 2 else 'all'}: [{{not: {condition}}}]}}"
    rule = f"rules:\n  - id: deep\n    control: triage\n    label: Routine question\n    when: {condition}\n    rationale: r\n"
    text = VALID.replace("rules:\n", rule, 1)

    assert parse(text, source=SOURCE).rules[0].id == "deep"


def test_a_file_over_the_size_limit_is_refused_without_parsing(tmp_path):
    path = tmp_path / "huge.yaml"
    path.write_text(VALID + "#" * MAX_SIZE)

    start = time.perf_counter()
    with pytest.raises(GuidelinesError) as refused:
        load(path)

    assert time.perf_counter() - start < 0.5
    assert str(refused.value) == f"{path}: larger than {MAX_SIZE:,} bytes; guidelines files are far smaller"
    with pytest.raises(GuidelinesError, match="larger than .* characters"):
        parse(VALID + "#" * MAX_SIZE, source=SOURCE)


def gate(line: str) -> str:
    """The file with this gate section (the gate is its last section)."""
    return VALID[:VALID.index("\ngate:")] + f"\ngate:\n  {line}\n"


def label(value: str) -> str:
    """The file with its label "Routine question" (and the rule that names it) written as `value`."""
    return VALID.replace("- value: Routine question", f"- value: {value}", 1).replace("label: Routine question", f"label: {value}")


@pytest.mark.parametrize("text, value", [
    (label("0x10"), "0x10"), (label("yes"), "yes"), (label(".inf"), ".inf"), (label("1:30"), "1:30"), (label("1.10"), "1.10"),
])
def test_a_label_written_like_a_yaml_number_or_bool_is_the_text_written(text, value):
    guidelines = parse(text, source=SOURCE)

    assert value in [label.value for label in guidelines.controls["triage"].labels]


@pytest.mark.parametrize("text, message", [
    (label("~"), "controls.triage.labels[2].value: expected text"),
    (label('"Routine\\x01"'), "controls.triage.labels[2].value: holds the character U+0001"),
    (gate("min_accuracy: .inf"), "gate.min_accuracy: must be a finite number, not .inf"),
    (gate("min_accuracy: .nan"), "gate.min_accuracy: must be a finite number, not .nan"),
    (gate("min_accuracy: 1.5"), "gate.min_accuracy: must be between 0 and 1"),
    (gate("min_accuracy: yes"), "gate.min_accuracy: expected a number"),
    (gate("min_alpha: -2"), "gate.min_alpha: must be between -1 and 1"),
    (gate("max_flag_rate: 0x1"), "gate.max_flag_rate: '0x1' is not a plain decimal number"),
    (gate("min_gold_per_labeler: 1:30"), "gate.min_gold_per_labeler: '1:30' is not a plain decimal number"),
    (gate("min_gold_per_labeler: 017"), "gate.min_gold_per_labeler: '017' is not a plain decimal number"),
    (gate("min_gold_per_labeler: 2.5"), "gate.min_gold_per_labeler: must be a whole number"),
    (gate("min_gold_per_label: 0"), "gate.min_gold_per_label: must be between 1 and 1,000,000"),
    (gate("min_gold_per_labeler: " + "9" * 5000), "gate.min_gold_per_labeler: must be a finite number"),
    (VALID.replace("project: ", "[project]: ", 1), "top level: a key must be plain text"),
    (VALID.replace("version: ", f"version: {'9' * 101}\nx: ", 1), "version: longer than 100 characters"),
])
def test_yaml_values_where_none_fit_are_refused_with_line_and_field(text, message):
    with pytest.raises(GuidelinesError) as refused:
        parse(text, source=SOURCE)

    assert any(re.match(rf"g\.yaml:\d+: {re.escape(message)}", line) for line in str(refused.value).splitlines()), str(refused.value)


def test_numbers_written_in_plain_decimal_are_read():
    guidelines = parse(gate("min_gold_per_labeler: 1_000\n  min_alpha: -0.5\n  max_flag_rate: .25"), source=SOURCE)

    assert (guidelines.gate.min_gold_per_labeler, guidelines.gate.min_alpha, guidelines.gate.max_flag_rate) == (1000, -0.5, 0.25)


def test_a_rule_missing_a_required_key_but_with_an_optional_one_is_an_error_not_a_crash():
    text = VALID.replace("    rationale: Praise that asks for nothing goes to the weekly digest.\n", "")

    outcome_of(lambda: parse(text, source=SOURCE))
    with pytest.raises(GuidelinesError, match=r"rules\[\d+\]: missing required key 'rationale'"):
        parse(text, source=SOURCE)


def test_an_error_quoting_a_line_break_or_a_long_value_stays_one_short_line():
    text = VALID.replace("project: ", f'"pro\\nject\\u2028{"x" * 900}": 1\nproject: ', 1)

    with pytest.raises(GuidelinesError) as refused:
        parse(text, source=SOURCE)

    [line] = str(refused.value).split("\n")
    assert line.startswith("g.yaml:2: pro\\nject\\u2028xxx") and len(line) < 300


def test_thousands_of_problems_are_listed_up_to_a_bound():
    text = VALID + "".join(f"unknown{index}: 1\n" for index in range(3000))

    with pytest.raises(GuidelinesError) as refused:
        parse(text, source=SOURCE)

    lines = str(refused.value).splitlines()
    assert len(lines) == MAX_ERRORS + 1 and lines[-1] == f"g.yaml: and {3000 - MAX_ERRORS} more problem(s)"


PROJECT_LINE = VALID[:VALID.index("Support message")].count("\n") + 1


@pytest.mark.parametrize("data, message", [
    (VALID.encode().replace(b"Support message", b"Support \xff message"), rf":{PROJECT_LINE}: not UTF-8 text: invalid start byte \(byte 0xff\)$"),
    (VALID.encode().replace(b"Support message", b"Support \x00 message"), rf":{PROJECT_LINE}: not valid YAML: unacceptable character #x0000"),
    (b"\xef\xbb\xbf" + VALID.encode(), None),
])
def test_bytes_that_are_not_yaml_text_are_one_line_with_their_line(tmp_path, data, message):
    path = tmp_path / "g.yaml"
    path.write_bytes(data)

    if message is None:
        assert load(path).controls  # a byte-order mark is fine
        return
    with pytest.raises(GuidelinesError) as refused:
        load(path)
    [line] = str(refused.value).splitlines()
    assert re.match(re.escape(str(path)) + message, line), line


# -- label configs ------------------------------------------------------------------------------------

def inject_outcome(config: str) -> str | None:
    """Inject into `config`: the extended config, or None after a one-line LabelConfigError; quickly."""
    start = time.perf_counter()
    try:
        result = inject(config)
    except LabelConfigError as error:
        assert "\n" not in str(error) and str(error), str(error)
        result = None
    assert time.perf_counter() - start < SAFETY_SECONDS
    return result


xml_junk = st.one_of(
    st.sampled_from(["<", ">", "&", "&amp;", "&x;", "<!--", "-->", "<![CDATA[", "]]>", '"', "'", "</View>", "<View>",
                     "<?xml version='1.0' encoding='UTF-16'?>", "<!DOCTYPE View>", '<!ENTITY x "y">', "\x00", "\ud800",
                     "\ufeff", "<View>" * 300, "<Text name='t' value='$t'/>" * 3]),
    st.text(max_size=30),
)


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, len(CONFIG)), junk=xml_junk, cut=st.integers(0, 20))
def test_a_mutated_label_config_is_extended_or_refused_in_one_line(position, junk, cut):
    inject_outcome(CONFIG[:position] + junk + CONFIG[position + cut:])


@pytest.mark.parametrize("encoding", ["UTF-16", "utf-16le", "ISO-8859-1", "UTF-8", "ascii", "Shift_JIS"])
def test_an_xml_declaration_of_any_encoding_is_accepted(encoding):
    config = f'<?xml version="1.0" encoding="{encoding}" standalone="yes"?>\n' + CONFIG.replace("Customer message", "Café message")

    extended = inject(config)

    assert extended.startswith('<?xml version="1.0"?>\n<View>') and "Café message" in extended
    assert inject(extended) == extended  # what was written can be read again, by us and by Label Studio


def test_a_byte_order_mark_and_declaration_are_accepted():
    assert parse_config("\ufeff<?xml version='1.0' encoding='UTF-16'?>\n" + CONFIG).tag == "View"


def deeper(depth: int) -> str:
    """The shipped config with `depth` Views nested inside its root View."""
    head, tail = CONFIG.rsplit("</View>", 1)
    return head + "<View>" * depth + "</View>" * depth + "</View>" + tail


@pytest.mark.parametrize("depth", [MAX_CONFIG_DEPTH, 300, 100_000])
def test_deep_xml_is_refused_in_one_line(depth):
    config = deeper(depth)

    assert inject_outcome(config) is None
    message = f"the label config nests tags more than {MAX_CONFIG_DEPTH} deep; label configs need far fewer"
    with pytest.raises(LabelConfigError, match=f"^{message}$"):
        parse_config(config)


def test_xml_as_deep_as_the_limit_is_parsed():
    config = deeper(MAX_CONFIG_DEPTH - 1)

    assert parse_config(config).tag == "View"


@pytest.mark.parametrize("config, message", [
    ('<?xml version="1.0"?><!DOCTYPE View [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;">]><View>&b;</View>', "DTD or entities"),
    ('<!DOCTYPE View [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><View><Header value="&xxe;"/></View>', "DTD or entities"),
    ('<!DOCTYPE View [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd"> %p;]><View/>', "DTD or entities"),
    ("<View>" + "<Header value='x'/>" * (MAX_CONFIG_SIZE // 18) + "</View>", "larger than 2,000,000 bytes"),
    (CONFIG.replace("Customer message", "Customer \ud800"), "holds U+D800"),
    ("<View><Text name='t' value='$t'/>\n<Choices", "not valid XML: unclosed token: line 2"),
    ("<Vi\x00ew/>", "not valid XML"),
    ("<Foo>" + "x" * 10_000 + "</Foo>", "starts with <View>, not <Foo>"),
])
def test_unsafe_or_broken_configs_are_refused_in_one_line(config, message):
    with pytest.raises(LabelConfigError) as refused:
        inject(config)

    assert message in str(refused.value) and "\n" not in str(refused.value)


def test_a_hint_xml_cannot_carry_is_an_error_not_a_crash():
    injection = Injection(hints={"triage": {"Urgent intervention": "a\x01b"}}, overwrite_hints=True)

    with pytest.raises(LabelConfigError, match="cannot go into the label config"):
        inject(CONFIG, injection)


@pytest.mark.parametrize("config", [
    "<View>" + "<View>" * 5000 + "</View>" * 5000 + "</View>",
    '<?xml version="1.0" encoding="UTF-16"?><View><Text name="t" value="$t"/><Choices',
    '<!DOCTYPE View [<!ENTITY a "lol">]><View>&a;</View>',
    "",
])
def test_the_inject_command_fails_in_one_line_without_a_traceback(tmp_path, config):
    path = tmp_path / "config.xml"
    path.write_text(config, encoding="utf-8")

    result = CliRunner().invoke(main, ["config", "inject", str(path)])

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert result.output.startswith("Error: ")


def test_the_inject_command_takes_a_declared_utf16_config_and_hostile_guidelines_fail_cleanly(tmp_path):
    config, guidelines = tmp_path / "config.xml", tmp_path / "g.yaml"
    config.write_text('<?xml version="1.0" encoding="UTF-16"?>\n' + CONFIG, encoding="utf-8")
    guidelines.write_text(BILLION_LAUGHS)

    extended = CliRunner().invoke(main, ["config", "inject", str(config)])
    refused = CliRunner().invoke(main, ["config", "inject", str(config), "--guidelines", str(guidelines)])

    assert extended.exit_code == 0 and 'name="ls_flag"' in extended.output
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit)
    assert refused.output.startswith(f"Error: {guidelines}:") and len(refused.output.strip().splitlines()) == 1
