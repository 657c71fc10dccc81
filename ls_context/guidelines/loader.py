"""Read a guidelines file: every error names the file, the line and the field.

Unknown keys are errors, so that a typo never passes silently. A file may come from anyone who can
push guidelines, so its size, nesting and aliases are bounded before anything walks it, numbers must
be plain decimals, and every error is one line whatever the file holds.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import yaml

from .schema import (
    COMPARISONS, DEFAULT_FLAG_REASONS, DEFAULT_MIN_PRECISION, Condition, ControlGuide, EdgeCase, Example, FlagReason, GateThresholds,
    Guidelines, GuidelinesError, LabelGuide, Onboarding, Rule,
)

MAX_SIZE = 1_000_000  # bytes of a file, characters of a text: 150 times the largest shipped file, parsed in ~4 s
MAX_DEPTH = 50  # nested mappings and lists; the deepest condition a lead writes needs about a dozen
MAX_VALUES = 100_000  # values, each alias counted as often as used: bounds what the reader walks (and ~4 s of parsing)
MAX_ERRORS = 50  # error lines shown; a broken file of thousands of keys would bury the first ones
MAX_SHOWN = 60  # characters of the file's own text quoted in an error
MAX_VERSION = 100  # characters the store keeps of a version
MAX_COUNT = 1_000_000  # largest gold count a gate may ask for
# Plain decimals only: YAML 1.1 also reads 0x10, 0o17, 017 and 1:30 as numbers, which nobody means in a threshold.
DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9_]*)?(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?")
# What XML 1.0 (the label config) cannot carry: control characters, surrogates, U+FFFE and U+FFFF.
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def load(path: str | Path) -> Guidelines:
    """Read and validate a guidelines file; raise GuidelinesError listing every problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_SIZE + 1)  # never more: the file may be endless
    except OSError as error:
        raise GuidelinesError(_one_line(f"{path}: cannot read: {error}")) from None
    _check_size(len(data), str(path), "bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        message = f"{path}:{line}: not UTF-8 text: {error.reason} (byte 0x{data[error.start]:02x})"
        raise GuidelinesError(_one_line(message)) from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "<guidelines>") -> Guidelines:
    """Validate guidelines given as text; `source` names them in errors."""
    _check_size(len(text), source, "characters")
    node = _compose(text, source)
    if node is None:
        raise GuidelinesError(_one_line(f"{source}:1: the file is empty"))
    reader = _Reader(source)
    guidelines = reader.guidelines(node)
    if reader.errors:
        raise GuidelinesError(_listed_errors(reader.errors, source))
    return guidelines


def _check_size(size: int, source: str, unit: str) -> None:
    """Refuse a file too large to be guidelines before parsing it: parsing is the slow part."""
    if size > MAX_SIZE:
        raise GuidelinesError(_one_line(f"{source}: larger than {MAX_SIZE:,} {unit}; guidelines files are far smaller"))


def _compose(text: str, source: str):
    """The YAML node tree of `text`, or one line saying where and why it is not acceptable YAML."""
    loader = None
    try:
        loader = _Loader(text)  # reading starts here: unprintable characters are refused at once
        return loader.get_single_node()
    except _Refused as refused:
        raise GuidelinesError(_one_line(f"{source}:{refused.mark.line + 1}: {refused.message}")) from None
    except yaml.MarkedYAMLError as error:
        raise GuidelinesError(_one_line(f"{source}:{_yaml_line(error)}: not valid YAML: {_yaml_problem(error)}")) from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise GuidelinesError(_one_line(f"{source}:{line}: not valid YAML: {str(error).splitlines()[0]}")) from None
    except yaml.YAMLError as error:
        raise GuidelinesError(_one_line(f"{source}: not valid YAML: {error}")) from None
    finally:
        if loader is not None:
            loader.dispose()


def _yaml_line(error: yaml.MarkedYAMLError) -> int:
    """The line the parser stopped at (its context's line when it gives no other)."""
    mark = error.problem_mark or error.context_mark
    return mark.line + 1 if mark else 1


def _yaml_problem(error: yaml.MarkedYAMLError) -> str:
    """The parser's problem, with its context ("while scanning a quoted scalar at line 3") when it has one."""
    problem = error.problem or error.context or "unreadable"
    if error.context and error.problem:
        where = f" at line {error.context_mark.line + 1}" if error.context_mark else ""
        problem += f" ({error.context}{where})"
    return problem


def _listed_errors(errors: list[str], source: str) -> str:
    """The error lines, the first MAX_ERRORS of them, then how many more there are."""
    shown = errors[:MAX_ERRORS]
    if len(errors) > MAX_ERRORS:
        shown.append(f"{_one_line(source)}: and {len(errors) - MAX_ERRORS} more problem(s)")
    return "\n".join(shown)


def _one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped, so that one error stays one line."""
    return "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text)


def _shown(value, limit: int = MAX_SHOWN) -> str:
    """A value from the file as an error quotes it: shortened, since the file may hold anything."""
    value = str(value)
    return value if len(value) <= limit else value[: limit - 1] + "\u2026"


def _listed(values, limit: int = 10) -> str:
    """Values from the file as an error lists them: the first few, then how many more."""
    values = [_shown(value) for value in values]
    more = f", \u2026 ({len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(values[:limit]) + more


class _Refused(Exception):
    """YAML that is well formed but not acceptable in a guidelines file; `mark` says where."""

    def __init__(self, mark, message: str):
        super().__init__(message)
        self.mark, self.message = mark, message


class _Loader(yaml.SafeLoader):
    """The safe YAML loader, bounding nesting and alias expansion while it builds the node tree.

    The tree keeps an alias as a second reference to one node, so building it is cheap; the reader
    then walks every reference, so nine aliases of nine aliases of ... cost billions of steps there.
    Each node's size with its aliases expanded is known when it is finished, so the total is
    counted as the tree grows and the file is refused at the alias that passes the bound.
    """

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0
        self.values = 0
        self.sizes: dict[int, int] = {}  # id(node) -> its number of values, aliases expanded; nodes live as long as the loader

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(parent, index, event)
        if self.depth >= MAX_DEPTH:
            raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep; guidelines need far fewer")
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        self.sizes[id(node)] = 1 + sum(self.sizes[id(child)] for child in _children(node))
        self._count(1, event.start_mark)
        return node

    def _alias(self, parent, index, event):
        node = super().compose_node(parent, index)
        size = self.sizes.get(id(node))
        if size is None:  # the anchor is still open: the alias is inside the value it names
            raise _Refused(event.start_mark, f"the alias *{_shown(event.anchor)} is inside the value it refers to")
        self._count(size, event.start_mark)
        return node

    def _count(self, values: int, mark) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            raise _Refused(mark, f"more than {MAX_VALUES:,} values, counting each use of an alias (&anchor, *alias); "
                                 "guidelines need far fewer")


def _children(node) -> list:
    """The nodes directly inside a node: items of a list, keys and values of a mapping."""
    if isinstance(node, yaml.SequenceNode):
        return node.value
    if isinstance(node, yaml.MappingNode):
        return [child for pair in node.value for child in pair]
    return []


class _Reader:
    """Turns YAML nodes into Guidelines, collecting every error with its line and field path."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[str] = []

    def error(self, node, path: str, message: str) -> None:
        self.error_at(node.start_mark.line + 1, path, message)

    def error_at(self, line: int, path: str, message: str) -> None:
        self.errors.append(_one_line(f"{self.source}:{line}: {path or 'top level'}: {message}"))

    # -- generic shapes --------------------------------------------------------------------

    def mapping(self, node, path: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
        """The keys of a mapping node, as key -> value node; unknown and missing keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, "expected a mapping (key: value)")
            return {}
        items = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, path)
            if key is None:
                continue
            where = f"{path}.{_shown(key)}" if path else _shown(key)
            if key not in required + optional:
                self.error(key_node, where, f"unknown key (allowed: {', '.join(required + optional)})")
            elif key in items:
                self.error(key_node, where, "given twice")
            else:
                items[key] = value_node
        for key in required:
            if key not in items:
                self.error(node, path or "top level", f"missing required key '{key}'")
        return items

    def key(self, node, path: str) -> str | None:
        """A mapping key: plain text, since YAML also allows lists and mappings as keys."""
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, "a key must be plain text, not a list or a mapping")
            return None
        return node.value

    def sequence(self, node, path: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, "expected a list")
            return []
        return node.value

    def text(self, node, path: str, allow_empty: bool = False) -> str:
        """A text as the author wrote it: `0x10`, `yes` or `1.10` stay those characters, never a number or a bool."""
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.error(node, path, "expected text")
            return ""
        value = str(node.value).strip()
        if not value and not allow_empty:
            self.error(node, path, "must not be empty")
        unusable = NOT_XML.search(value)
        if unusable:  # texts end up in the label config and in web pages
            self.error(node, path, f"holds the character U+{ord(unusable.group()):04X}, which a label config cannot hold")
        return value

    def number(self, node, path: str) -> float | None:
        """A finite number written in plain decimal, or None after an error."""
        if not isinstance(node, yaml.ScalarNode) or not node.tag.endswith((":int", ":float")):
            self.error(node, path, "expected a number")
            return None
        written = node.value.strip()
        if written.lstrip("+-").lower() in (".inf", ".nan"):
            self.error(node, path, f"must be a finite number, not {written}")
            return None
        if not DECIMAL.fullmatch(written) or not any(char.isdigit() for char in written):
            self.error(node, path, f"'{_shown(written)}' is not a plain decimal number (write it like 0.9 or 5)")
            return None
        value = float(written.replace("_", ""))
        if not math.isfinite(value):
            self.error(node, path, f"must be a finite number, not {_shown(written)}")
            return None
        return value

    def bounded(self, node, path: str, low: float, high: float) -> float | None:
        """A number in [low, high], or None after an error."""
        value = self.number(node, path)
        if value is not None and not low <= value <= high:
            self.error(node, path, f"must be between {low:,} and {high:,}")
            return None
        return value

    def whole(self, node, path: str, low: int, high: int) -> int | None:
        """A whole number in [low, high], or None after an error."""
        value = self.bounded(node, path, low, high)
        if value is not None and not value.is_integer():
            self.error(node, path, "must be a whole number")
            return None
        return None if value is None else int(value)

    # -- the document ------------------------------------------------------------------------

    def guidelines(self, node) -> Guidelines:
        top = self.mapping(node, "", ("project", "version", "controls"), ("rules", "flag_reasons", "gate", "onboarding"))
        project = self.text(top["project"], "project") if "project" in top else ""
        version = self.version(top["version"]) if "version" in top else ""
        controls = self.controls(top["controls"]) if "controls" in top else {}
        rules = self.rules(top["rules"], controls) if "rules" in top else ()
        guidelines = Guidelines(project=project, version=version, controls=controls, rules=rules)
        if "flag_reasons" in top:
            guidelines = replace(guidelines, flag_reasons=self.flag_reasons(top["flag_reasons"]))
        if "gate" in top:
            guidelines = replace(guidelines, gate=self.gate(top["gate"]))
        if "onboarding" in top and not top["onboarding"].tag.endswith(":null"):  # every key commented out: the defaults
            guidelines = replace(guidelines, onboarding=self.onboarding(top["onboarding"]))
        return guidelines

    def version(self, node) -> str:
        version = self.text(node, "version")
        if len(version) > MAX_VERSION:
            self.error(node, "version", f"longer than {MAX_VERSION} characters")
        return version

    def controls(self, node) -> dict[str, ControlGuide]:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.error(node, "controls", "expected a mapping of control name -> labels")
            return {}
        controls = {}
        for name_node, control_node in node.value:
            name = self.key(name_node, "controls")
            if name is None:
                continue
            path = f"controls.{_shown(name)}"
            self.text(name_node, path)
            if name in controls:
                self.error(name_node, path, f"control '{_shown(name)}' is defined twice")
            items = self.mapping(control_node, path, ("labels",), ("min_precision",))
            labels = [
                self.label(label_node, f"{path}.labels[{index}]")
                for index, label_node in enumerate(self.sequence(items["labels"], f"{path}.labels"))
            ] if "labels" in items else []
            self.unique_labels(labels, items.get("labels"), path)
            min_precision = self.bounded(items["min_precision"], f"{path}.min_precision", 0, 1) if "min_precision" in items else None
            controls[name] = ControlGuide(name=name, labels=tuple(labels),
                                          min_precision=DEFAULT_MIN_PRECISION if min_precision is None else min_precision)
        for control in controls.values():
            self.edge_case_labels(control)
        return controls

    def label(self, node, path: str) -> LabelGuide:
        items = self.mapping(node, path, ("value", "definition"), ("why", "do", "dont", "edge_cases"))
        texts = {key: self.text(items[key], f"{path}.{key}") for key in ("value", "definition", "why") if key in items}
        lists = {
            key: [(item, f"{path}.{key}[{index}]") for index, item in enumerate(self.sequence(items[key], f"{path}.{key}"))]
            for key in ("do", "dont", "edge_cases") if key in items
        }
        return LabelGuide(
            value=texts.get("value", ""), definition=texts.get("definition", ""), why=texts.get("why", ""),
            do=tuple(self.example(*item) for item in lists.get("do", [])),
            dont=tuple(self.example(*item) for item in lists.get("dont", [])),
            edge_cases=tuple(self.edge_case(*item) for item in lists.get("edge_cases", [])),
        )

    def example(self, node, path: str) -> Example:
        if isinstance(node, yaml.ScalarNode):
            return Example(text=self.text(node, path))
        items = self.mapping(node, path, (), ("text", "image", "explanation"))
        if isinstance(node, yaml.MappingNode) and "text" not in items and "image" not in items:
            self.error(node, path, "an example needs 'text' or 'image'")
        return Example(**{key: self.text(value, f"{path}.{key}") for key, value in items.items()})

    def edge_case(self, node, path: str) -> EdgeCase:
        items = self.mapping(node, path, ("situation", "label"), ("why",))
        fields = {key: self.text(value, f"{path}.{key}") for key, value in items.items()}
        return EdgeCase(
            situation=fields.get("situation", ""), label=fields.get("label", ""), why=fields.get("why", ""),
            line=(items.get("label") or node).start_mark.line + 1,
        )

    def edge_case_labels(self, control: ControlGuide) -> None:
        """An edge case must point to a label of its own control."""
        values = [label.value for label in control.labels]
        for label in control.labels:
            for index, case in enumerate(label.edge_cases):
                if case.label and case.label not in values:
                    self.error_at(
                        case.line, f"controls.{_shown(control.name)}.{_shown(label.value)}.edge_cases[{index}].label",
                        f"'{_shown(case.label)}' is not a label of control '{_shown(control.name)}' (labels: {_listed(values)})",
                    )

    def unique_labels(self, labels: list[LabelGuide], node, path: str) -> None:
        seen = set()
        for index, label in enumerate(labels):
            if label.value and label.value in seen:
                self.error(node.value[index], f"{path}.labels[{index}].value", f"label '{_shown(label.value)}' is defined twice")
            seen.add(label.value)

    def rules(self, node, controls: dict[str, ControlGuide]) -> tuple[Rule, ...]:
        rules, seen = [], set()
        for index, rule_node in enumerate(self.sequence(node, "rules")):
            rule = self.rule(rule_node, f"rules[{index}]", controls)
            if rule is None:
                continue
            if rule.id in seen:
                self.error(rule_node, f"rules[{index}].id", f"rule id '{_shown(rule.id)}' is used twice")
            seen.add(rule.id)
            rules.append(rule)
        return tuple(rules)

    def rule(self, node, path: str, controls: dict[str, ControlGuide]) -> Rule | None:
        required = ("id", "control", "label", "when", "rationale")
        items = self.mapping(node, path, required, ("reference",))
        if any(key not in items for key in required):
            return None
        control, label = self.text(items["control"], f"{path}.control"), self.text(items["label"], f"{path}.label")
        if control not in controls:
            self.error(items["control"], f"{path}.control",
                       f"unknown control '{_shown(control)}' (controls: {_listed(controls)})")
        elif controls[control].label(label) is None:
            known = _listed(value.value for value in controls[control].labels)
            self.error(items["label"], f"{path}.label",
                       f"'{_shown(label)}' is not a label of control '{_shown(control)}' (labels: {known})")
        return Rule(
            id=self.text(items["id"], f"{path}.id"), control=control, label=label,
            when=self.condition(items["when"], f"{path}.when"),
            rationale=self.text(items["rationale"], f"{path}.rationale"),
            reference=self.text(items["reference"], f"{path}.reference") if "reference" in items else "",
        )

    def condition(self, node, path: str) -> Condition:
        items = self.mapping(node, path, (), ("field", "keywords", "regex", "any", "all", "not") + COMPARISONS)
        tests = [key for key in items if key != "field"]
        if len(tests) != 1:
            self.error(node, path, f"a condition needs exactly one of keywords, regex, {', '.join(COMPARISONS)}, any, all, not")
            return Condition()
        test = tests[0]
        field_name = self.text(items["field"], f"{path}.field") if "field" in items else ""
        if test in ("any", "all"):
            if field_name:
                self.error(items["field"], f"{path}.field", f"'{test}' takes its fields from the conditions inside it")
            parts = tuple(
                self.condition(part, f"{path}.{test}[{index}]")
                for index, part in enumerate(self.sequence(items[test], f"{path}.{test}"))
            )
            if not parts:
                self.error(items[test], f"{path}.{test}", "needs at least one condition")
            return Condition(**{test: parts})
        if test == "not":
            return Condition(negate=self.condition(items["not"], f"{path}.not"))
        if test == "keywords":
            keywords = tuple(self.text(word, f"{path}.keywords[{index}]") for index, word in enumerate(self.sequence(items["keywords"], f"{path}.keywords")))
            if not keywords:
                self.error(items["keywords"], f"{path}.keywords", "needs at least one keyword")
            return Condition(field=field_name, keywords=keywords)
        if test == "regex":
            return Condition(field=field_name, regex=self.regex(items["regex"], f"{path}.regex"))
        if not field_name:
            self.error(node, path, f"'{test}' compares a field: add 'field: NAME'")
        value = self.number(items[test], f"{path}.{test}")
        return Condition(field=field_name, compare=(test, value if value is not None else 0.0))

    def regex(self, node, path: str) -> str:
        """A pattern that compiles as the rules compile it (any case)."""
        pattern = self.text(node, path)
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as error:
            self.error(node, path, f"not a valid regular expression: {error}")
        except (RecursionError, OverflowError, ValueError) as error:  # deep groups, huge repeat counts
            self.error(node, path, f"not a usable regular expression: {_shown(str(error))}")
        return pattern

    def flag_reasons(self, node) -> tuple[FlagReason, ...]:
        reasons = []
        for index, item in enumerate(self.sequence(node, "flag_reasons")):
            path = f"flag_reasons[{index}]"
            if isinstance(item, yaml.ScalarNode):
                value = self.text(item, path)
                reasons.append(FlagReason(value, DEFAULT_FLAG_REASONS.get(value, "")))
            else:
                items = self.mapping(item, path, ("value",), ("when",))
                if "value" in items:
                    reasons.append(FlagReason(
                        self.text(items["value"], f"{path}.value"),
                        self.text(items["when"], f"{path}.when") if "when" in items else "",
                    ))
        if not reasons:
            self.error(node, "flag_reasons", "needs at least one reason")
        return tuple(reasons)

    def gate(self, node) -> GateThresholds:
        """The gate's bars: shares in [0, 1], alpha in [-1, 1], gold counts whole and bounded."""
        ranges = {"min_accuracy": (0, 1), "max_flag_rate": (0, 1), "min_alpha": (-1, 1), "min_region_iou": (0, 1)}
        counts = {"min_gold_per_labeler": 0, "min_gold_per_label": 1}
        items = self.mapping(node, "gate", (), tuple(ranges) + tuple(counts) + ("match",))
        values = {}
        for key, value_node in items.items():
            if key == "match":
                values[key] = self.match(value_node)
            elif key in ranges:
                values[key] = self.bounded(value_node, f"gate.{key}", *ranges[key])
            else:
                values[key] = self.whole(value_node, f"gate.{key}", counts[key], MAX_COUNT)
        return GateThresholds(**values)

    def onboarding(self, node) -> Onboarding:
        """`onboarding`: the certification bar (a share and a task count) and the share of gold in the course."""
        items = self.mapping(node, "onboarding", (), ("min_accuracy", "min_tasks", "gold_share"))
        values = {}
        for key in ("min_accuracy", "gold_share"):
            if key in items:
                values[key] = self.bounded(items[key], f"onboarding.{key}", 0, 1)
        if "min_tasks" in items:
            values["min_tasks"] = self.whole(items["min_tasks"], "onboarding.min_tasks", 1, MAX_COUNT)
        return Onboarding(**{key: value for key, value in values.items() if value is not None})

    def match(self, node) -> dict:
        """`gate.match`: control name or type -> the gold check's pass mark in [0, 1]."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, "gate.match", "expected a mapping of control name or type to a number between 0 and 1")
            return {}
        found = {}
        for key_node, value_node in node.value:
            key = self.key(key_node, "gate.match")
            if key is not None:
                value = self.bounded(value_node, f"gate.match.{_shown(key)}", 0, 1)
                if value is not None:
                    found[key] = value
        return found
