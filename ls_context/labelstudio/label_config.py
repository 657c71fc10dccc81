"""Extend any Label Studio label config with what a labeler needs in context.

Adds, inside one marked `<View>` block at the end of the config:
- the model's rationale, a read-only TextArea (`ls_rationale`) that the ML backend pre-fills;
- the uncertainty flag: `<Choices name="ls_flag">` with the guidelines' reasons and a note.
Also sets `hint` on every Choice/Label the guidelines define, and a per-region rationale for
span labels. Injecting twice gives the same config as injecting once: the block is replaced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from lxml import etree

from ls_context.errors import LSContextError
from ls_context.guidelines import DEFAULT_FLAG_REASONS, Guidelines

BLOCK_CLASS = "ls-context"
FLAG = "ls_flag"
FLAG_NOTE = "ls_flag_note"
RATIONALE = "ls_rationale"
REGION_RATIONALE = "ls_region_rationale"
INJECTED_CONTROLS = (FLAG, FLAG_NOTE, RATIONALE, REGION_RATIONALE)
# The key of a predicted result item that lists the decision rules behind it (a field, never parsed from prose).
RULES_KEY = "ls_rules"
CANDIDATES_KEY = "ls_candidates"  # on a rationale without a pre-selection: the two labels it weighs
# Tags that hold data, not answers; the first one in the config is what the flag attaches to.
NOT_OBJECTS = {"view", "header", "style", "choice", "label", "relation", "option", "filter", "collapse", "panel"}
# Controls whose regions live inside text: a per-region rationale makes sense for them.
SPAN_CONTROLS = {"labels", "hypertextlabels", "paragraphlabels"}
MAX_SIZE = 2_000_000  # bytes; the largest configs (taxonomies of thousands of choices) stay well under
MAX_DEPTH = 100  # nested tags; real configs nest a handful, and lxml itself gives up at 256
# The XML declaration (after an optional byte-order mark); its `encoding` names bytes the config no longer is.
DECLARATION = re.compile(r"\A\ufeff?\s*<\?xml\s[^>]*\?>")


class LabelConfigError(LSContextError):
    """A label config that cannot be extended: not XML, unsafe XML, or nothing to label."""


@dataclass(frozen=True)
class Injection:
    """What to add: flag reasons, hints per control and label, and whether to replace existing hints."""

    flag_reasons: tuple[str, ...] = tuple(DEFAULT_FLAG_REASONS)
    hints: dict | None = None
    overwrite_hints: bool = False
    outdated_hints: frozenset = frozenset()  # hints an earlier guidelines version wrote: replaced, unlike hand-written ones

    @classmethod
    def from_guidelines(cls, guidelines: Guidelines | None, overwrite_hints: bool = False,
                        previous: Guidelines | None = None) -> "Injection":
        if guidelines is None:
            return cls(overwrite_hints=overwrite_hints)
        outdated = frozenset(hint for labels in previous.hints().values() for hint in labels.values()) if previous else frozenset()
        return cls(
            flag_reasons=tuple(reason.value for reason in guidelines.flag_reasons),
            hints=guidelines.hints(),
            overwrite_hints=overwrite_hints,
            outdated_hints=outdated,
        )


def inject(config: str, injection: Injection | None = None) -> str:
    """The config extended for ls-context; validated with the SDK's LabelInterface."""
    injection = injection or Injection()
    root = parse(config)
    target = first_object(root)
    _remove_block(root)
    try:
        _set_hints(root, injection)
        root.append(_block(root, target, injection))
    except ValueError as error:  # a hint or reason holding a character XML cannot carry
        raise LabelConfigError(f"a hint or flag reason cannot go into the label config: {_one_line(error)}") from None
    extended = _serialize(config, root)
    validate(extended)
    return extended


def parse(config: str) -> etree._Element:
    """Parse a label config safely: bounded size and depth; DTDs and entities are refused, never expanded."""
    if not isinstance(config, str) or not config.strip():
        raise LabelConfigError("the label config is empty")
    data = _utf8(_without_declaration(config))
    if len(data) > MAX_SIZE:
        raise LabelConfigError(f"the label config is larger than {MAX_SIZE:,} bytes; label configs are far smaller")
    try:
        checked = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise LabelConfigError("the label config declares a DTD or entities; refused for safety") from None
    except defusedxml.ElementTree.ParseError as error:
        raise LabelConfigError(f"the label config is not valid XML: {_one_line(error)}") from None
    if _deeper_than(checked, MAX_DEPTH):
        raise LabelConfigError(f"the label config nests tags more than {MAX_DEPTH} deep; label configs need far fewer")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_blank_text=False, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:  # what the first parser let through, this one still may not
        raise LabelConfigError(f"the label config is not valid XML: {_one_line(error)}") from None
    if root.tag != "View":
        raise LabelConfigError(f"a label config starts with <View>, not <{_one_line(root.tag)[:60]}>")
    return root


def _without_declaration(config: str) -> str:
    """The config without its XML declaration, whose encoding no longer applies to text already decoded.

    Its line breaks stay, so that the parsers' line numbers still match the file.
    """
    declaration = DECLARATION.match(config)
    if declaration is None:
        return config
    return "\n" * declaration.group().count("\n") + config[declaration.end():]


def _utf8(text: str) -> bytes:
    """The config as the parsers read it: UTF-8, the one encoding a config without declaration can be in."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise LabelConfigError(f"the label config holds U+{ord(text[error.start]):04X} at character {error.start}, "
                               "which is not a valid character") from None


def _deeper_than(root, limit: int) -> bool:
    """Whether any tag sits more than `limit` levels deep; walked without recursion, whatever the depth."""
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in element)
    return False


def _one_line(error) -> str:
    """A parser's message on one line: it may quote the config, line breaks included."""
    return " ".join(str(error).split())


def first_object(root: etree._Element) -> etree._Element:
    """The first tag that shows task data (Text, Image, Audio, ...), in document order."""
    for element in root.iter(etree.Element):
        if element.tag.lower() in NOT_OBJECTS or "toName" in element.attrib:
            continue
        if element.get("name") and (element.get("value") or element.get("valueList")):
            return element
    raise LabelConfigError("the label config has no object tag (Text, Image, Audio, ...) to attach the flag to")


def validate(config: str) -> None:
    from label_studio_sdk.label_interface import LabelInterface

    try:
        LabelInterface(config).validate()
    except Exception as error:  # the SDK raises several unrelated types for a bad config
        raise LabelConfigError(f"Label Studio would not accept the config: {_one_line(error)}") from None


def _remove_block(root: etree._Element) -> None:
    for block in root.findall(f"View[@className='{BLOCK_CLASS}']"):
        _drop(block)
    for element in root.iter(etree.Element):
        if element.get("name") in INJECTED_CONTROLS:
            raise LabelConfigError(f"the config already uses the name '{element.get('name')}' outside the ls-context block")


def _drop(element: etree._Element) -> None:
    """Remove an element and the whitespace it brought, so re-injection leaves no blank lines."""
    previous = element.getprevious()
    parent = element.getparent()
    if previous is not None:
        previous.tail = element.tail
    else:
        parent.text = element.tail
    parent.remove(element)


def _set_hints(root: etree._Element, injection: Injection) -> None:
    if not injection.hints:
        return
    for control in root.iter(etree.Element):
        hints = injection.hints.get(control.get("name") or "")
        if not hints or "toName" not in control.attrib:
            continue
        for choice in control.iter("Choice", "Label"):
            value = choice.get("value") or choice.get("alias")
            if value in hints and (injection.overwrite_hints or not choice.get("hint") or choice.get("hint") in injection.outdated_hints):
                choice.set("hint", hints[value])


def _block(root: etree._Element, target: etree._Element, injection: Injection) -> etree._Element:
    name = target.get("name")
    indent = _indent_of(root)
    block = etree.Element("View", className=BLOCK_CLASS)
    children = [
        etree.Element(
            "TextArea", name=RATIONALE, toName=name, editable="false", readonly="true",
            maxSubmissions="0", rows="3", placeholder="Model rationale appears here when a pre-annotation exists",
        ),
        *_region_rationale(root, name),
        etree.Element("Header", value="Not sure? Flag it instead of guessing:", size="6"),
        _flag_choices(name, injection.flag_reasons),
        etree.Element(
            "TextArea", name=FLAG_NOTE, toName=name, rows="2", maxSubmissions="1",
            placeholder="What is unclear? (optional)",
        ),
    ]
    block.text = "\n" + indent * 2
    for position, child in enumerate(children):
        if len(child):
            child.text = "\n" + indent * 3
            for item in child:
                item.tail = "\n" + indent * 3
            child[-1].tail = "\n" + indent * 2
        child.tail = "\n" + indent * (2 if position < len(children) - 1 else 1)
        block.append(child)
    previous = root[-1] if len(root) else None
    if previous is not None:
        block.tail = previous.tail
        previous.tail = "\n" + indent
    else:
        root.text, block.tail = "\n" + indent, "\n"
    return block


def _flag_choices(name: str, reasons: tuple[str, ...]) -> etree._Element:
    choices = etree.Element("Choices", name=FLAG, toName=name, choice="single", showInline="true")
    for reason in reasons:
        etree.SubElement(choices, "Choice", value=reason)
    return choices


def _region_rationale(root: etree._Element, name: str) -> list[etree._Element]:
    """A per-region rationale, shown in the region list, when the config labels spans of text."""
    spans = [c for c in root.iter(etree.Element) if c.tag.lower() in SPAN_CONTROLS and c.get("toName")]
    if not spans:
        return []
    return [etree.Element(
        "TextArea", name=REGION_RATIONALE, toName=spans[0].get("toName").split(",")[0], perRegion="true",
        editable="false", displayMode="region-list", rows="2", maxSubmissions="0",
    )]


def _indent_of(root: etree._Element) -> str:
    """The indentation unit the config already uses (two spaces when it has none)."""
    text = root.text or ""
    if "\n" in text:
        unit = text.rsplit("\n", 1)[1]
        if unit.strip() == "" and unit:
            return unit
    return "  "


def _serialize(original: str, root: etree._Element) -> str:
    """The config as text; a declaration stays, without an encoding: Label Studio parses the text, not bytes."""
    text = etree.tostring(root, encoding="unicode")
    return ('<?xml version="1.0"?>\n' if DECLARATION.match(original) else "") + text + "\n"
