"""The config extension: any label config gains the flag, hints, rationale and feedback, and loses nothing."""

from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from ls_context.cli import main
from ls_context.guidelines import load, parse
from ls_context.labelstudio.label_config import (
    BLOCK_CLASS, FLAG, FLAG_NOTE, Injection, LabelConfigError, first_object, inject,
)

LABEL_CONFIGS = Path(__file__).resolve().parent.parent / "label_configs"

SENTIMENT = """<View>
  <!-- reviews from the shop -->
  <Header value="Read the review"/>
  <Text name="review" value="$text" granularity="word"/>
  <Choices name="sentiment" toName="review" choice="single">
    <Choice value="Positive" hint="Customer is happy"/>
    <Choice value="Negative"/>
  </Choices>
</View>
"""
GUIDELINES = parse("""\
project: Reviews
version: "1"
controls:
  sentiment:
    labels:
      - {value: Positive, definition: Happy., why: Shown on the product page.}
      - {value: Negative, definition: Unhappy., why: Goes to quality.}
flag_reasons: [Unsure, Sarcasm]
""")


def block_of(config: str) -> etree._Element:
    [block] = etree.fromstring(config.encode()).findall(f"View[@className='{BLOCK_CLASS}']")
    return block


def test_flag_and_note_attach_to_the_first_object_tag():
    block = block_of(inject(SENTIMENT))

    flag = block.find(f"Choices[@name='{FLAG}']")
    assert flag.get("toName") == "review"
    assert [choice.get("value") for choice in flag] == ["Unsure", "Guideline unclear", "Needs domain expert"]
    assert block.find(f"TextArea[@name='{FLAG_NOTE}']").get("toName") == "review"
    assert block.find("TextArea[@name='ls_rationale']").get("maxSubmissions") == "0"
    # Nothing reads task data: gold feedback never goes where every labeler of the task could read it.
    assert not [e for e in block.iter() if "$" in (e.get("value") or "")]


def test_hints_come_from_the_guidelines_and_keep_the_existing_ones():
    extended = inject(SENTIMENT, Injection.from_guidelines(GUIDELINES))
    root = etree.fromstring(extended.encode())

    assert root.find(".//Choice[@value='Positive']").get("hint") == "Customer is happy"
    assert root.find(".//Choice[@value='Negative']").get("hint") == "Unhappy. Why it matters: Goes to quality."
    assert [c.get("value") for c in block_of(extended).find(f"Choices[@name='{FLAG}']")] == ["Unsure", "Sarcasm"]


def test_existing_hints_are_replaced_only_when_asked():
    extended = inject(SENTIMENT, Injection.from_guidelines(GUIDELINES, overwrite_hints=True))

    hint = etree.fromstring(extended.encode()).find(".//Choice[@value='Positive']").get("hint")
    assert hint == "Happy. Why it matters: Shown on the product page."


def test_everything_else_is_kept_to_the_character():
    extended = inject(SENTIMENT)

    assert extended.startswith(SENTIMENT.rsplit("\n</View>", 1)[0])
    assert "<!-- reviews from the shop -->" in extended


def test_span_configs_get_a_per_region_rationale():
    config = (LABEL_CONFIGS / "named-entities.xml").read_text()

    region = block_of(config).find("TextArea[@name='ls_region_rationale']")
    assert (region.get("perRegion"), region.get("toName")) == ("true", "text")


def test_reinjecting_with_new_guidelines_updates_the_block():
    first = inject(SENTIMENT)
    second = inject(first, Injection.from_guidelines(GUIDELINES))

    assert second.count(BLOCK_CLASS) == 1
    assert [c.get("value") for c in block_of(second).find(f"Choices[@name='{FLAG}']")] == ["Unsure", "Sarcasm"]


@pytest.mark.parametrize(
    "config, message",
    [
        ("<View><Choices name='c' toName='t'><Choice value='a'/></Choices>", "not valid XML"),
        ("<View><Header value='only a header'/></View>", "no object tag"),
        ("", "empty"),
        ("<Choices name='c'/>", "starts with <View>"),
        ('<?xml version="1.0"?><!DOCTYPE View [<!ENTITY x "boom">]><View><Text name="t" value="&x;"/></View>', "DTD or entities"),
        ('<!DOCTYPE View SYSTEM "file:///etc/passwd"><View><Text name="t" value="$t"/></View>', "DTD or entities"),
        ("<View><Text name='t' value='$t'/><Choices name='c' toName='nowhere'><Choice value='a'/></Choices></View>", "would not accept"),
        ("<View><Text name='t' value='$t'/><TextArea name='ls_flag_note' toName='t'/></View>", "already uses the name 'ls_flag_note'"),
    ],
)
def test_bad_configs_are_refused_with_a_clear_message(config, message):
    with pytest.raises(LabelConfigError, match=message):
        inject(config)


def test_billion_laughs_is_refused_without_expanding():
    laughs = '<!DOCTYPE v [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    with pytest.raises(LabelConfigError, match="DTD or entities"):
        inject(laughs + '<View><Text name="t" value="&c;"/></View>')


@pytest.mark.parametrize("path", sorted(LABEL_CONFIGS.glob("*.xml")), ids=lambda path: path.stem)
def test_shipped_configs_are_up_to_date_with_their_guidelines(path):
    guidelines = load(path.with_suffix(".yaml"))
    config = path.read_text()

    assert inject(config, Injection.from_guidelines(guidelines)) == config


def test_cli_writes_the_extended_config(tmp_path):
    source, out = tmp_path / "c.xml", tmp_path / "out.xml"
    source.write_text(SENTIMENT)

    result = CliRunner().invoke(main, ["config", "inject", str(source), "-o", str(out)])

    assert result.exit_code == 0, result.output
    assert out.read_text() == inject(SENTIMENT)


def test_cli_refuses_a_bad_config_in_one_line(tmp_path):
    source = tmp_path / "c.xml"
    source.write_text("<View><Text name='t' value='$t'></View>")

    result = CliRunner().invoke(main, ["config", "inject", str(source)])

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {source}: the label config is not valid XML")
    assert len(result.output.strip().splitlines()) == 1


# -- properties over generated configs ----------------------------------------------------------

NAME = st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True)
VALUE = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=12)
SPACE = st.sampled_from(["", "\n", "\n  ", "\n    ", " ", "\n\t"])


@st.composite
def configs(draw) -> str:
    """Random label configs: nested Views, headers, comments, objects and controls with odd values."""
    names = draw(st.lists(NAME, min_size=6, max_size=6, unique=True))
    root = etree.Element("View")
    parent = root
    if draw(st.booleans()):
        parent = etree.SubElement(root, "View", style=draw(VALUE))
    for index in range(draw(st.integers(1, 2))):
        tag = draw(st.sampled_from(["Text", "HyperText", "Image", "Audio", "Paragraphs"]))
        obj = etree.SubElement(parent, tag, name=names[index], value=f"${draw(NAME)}")
        obj.tail = draw(SPACE)
        if draw(st.booleans()):
            parent.append(etree.Comment(draw(VALUE).replace("-", "_")))
        if draw(st.booleans()):
            etree.SubElement(parent, "Header", value=draw(VALUE)).tail = draw(SPACE)
    kind = draw(st.sampled_from(["Choices", "Labels"]))
    control = etree.SubElement(root, kind, name=names[3], toName=names[0])
    control.text = draw(SPACE)
    for value in draw(st.lists(VALUE, min_size=1, max_size=4, unique=True)):
        child = etree.SubElement(control, "Choice" if kind == "Choices" else "Label", value=value)
        if draw(st.booleans()):
            child.set("hint", draw(VALUE))
        child.tail = draw(SPACE)
    root.text, control.tail = draw(SPACE), draw(SPACE)
    return etree.tostring(root, encoding="unicode")


def guidelines_for(config: str, definition: str) -> Injection:
    root = etree.fromstring(config.encode())
    control = next(element for element in root.iter() if element.get("toName"))
    hints = {control.get("name"): {child.get("value"): definition for child in control}}
    return Injection(hints=hints)


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(config=configs(), definition=VALUE)
def test_injecting_twice_is_injecting_once(config, definition):
    injection = guidelines_for(config, definition)
    once = inject(config, injection)

    assert inject(once, injection) == once


@PROPERTY
@given(config=configs())
def test_everything_not_injected_is_preserved(config):
    extended = etree.fromstring(inject(config).encode())
    original = etree.fromstring(config.encode())

    block = extended.find(f"View[@className='{BLOCK_CLASS}']")
    assert block.find(f"Choices[@name='{FLAG}']").get("toName") == first_object(original).get("name")
    extended.remove(block)
    # Appending the block only moved the whitespace after the last child; compare with it normalised.
    for tree in (extended, original):
        if len(tree):
            tree[-1].tail = None
    assert etree.tostring(extended, encoding="unicode") == etree.tostring(original, encoding="unicode")


@PROPERTY
@given(config=configs(), definition=VALUE)
def test_hints_change_nothing_but_hints(config, definition):
    extended = etree.fromstring(inject(config, guidelines_for(config, definition)).encode())
    original = etree.fromstring(config.encode())

    extended.remove(extended.find(f"View[@className='{BLOCK_CLASS}']"))
    for before, after in zip(original.iter(), extended.iter(), strict=True):
        assert before.tag == after.tag
        assert {k: v for k, v in before.attrib.items() if k != "hint"} == {k: v for k, v in after.attrib.items() if k != "hint"}
        if before.tag in ("Choice", "Label"):
            assert after.get("hint") == (before.get("hint") or definition)


def test_hints_an_earlier_guidelines_version_wrote_give_way_and_hand_written_ones_stay():
    from dataclasses import replace

    old = load(LABEL_CONFIGS / "text-classification.yaml")
    control = old.controls["triage"]
    first, second = control.labels[0], control.labels[1]
    new = replace(old, controls={"triage": replace(control, labels=(
        replace(first, definition="Sharper: harm, loss or a deadline today."), replace(second, definition="Reworded too."),
        *control.labels[2:]))})
    plain = (LABEL_CONFIGS / "text-classification.xml").read_text()
    for label in control.labels:  # the shipped config carries the hints already: start from a config without them
        plain = plain.replace(f' hint="{label.hint}"', "")
    config = inject(plain, Injection.from_guidelines(old))
    config = config.replace(second.hint, "Our own words for this label")  # an admin edited one hint by hand
    updated = inject(config, Injection.from_guidelines(new, previous=old))
    assert new.controls["triage"].labels[0].hint in updated and first.hint not in updated
    assert "Our own words for this label" in updated and "Reworded too." not in updated
