"""Read a guidelines file: every error names the file, the line and the field.

Unknown keys are errors, so that a typo never passes silently.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import yaml

from .schema import (
    COMPARISONS, DEFAULT_FLAG_REASONS, Condition, ControlGuide, EdgeCase, Example, FlagReason, GateThresholds,
    Guidelines, GuidelinesError, LabelGuide, Rule,
)


def load(path: str | Path) -> Guidelines:
    """Read and validate a guidelines file; raise GuidelinesError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise GuidelinesError(f"{path}: cannot read: {error}") from None
    return parse(text, source=str(path))


def parse(text: str, source: str = "<guidelines>") -> Guidelines:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise GuidelinesError(f"{where}: not valid YAML: {getattr(error, 'problem', None) or error}") from None
    if node is None:
        raise GuidelinesError(f"{source}:1: the file is empty")
    reader = _Reader(source)
    guidelines = reader.guidelines(node)
    if reader.errors:
        raise GuidelinesError("\n".join(reader.errors))
    return guidelines


class _Reader:
    """Turns YAML nodes into Guidelines, collecting every error with its line and field path."""

    def __init__(self, source: str):
        self.source = source
        self.errors: list[str] = []

    def error(self, node, path: str, message: str) -> None:
        self.errors.append(f"{self.source}:{node.start_mark.line + 1}: {path or 'top level'}: {message}")

    # -- generic shapes --------------------------------------------------------------------

    def mapping(self, node, path: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict:
        """The keys of a mapping node, as key -> value node; unknown and missing keys are errors."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, "expected a mapping (key: value)")
            return {}
        items = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in required + optional:
                allowed = ", ".join(required + optional)
                self.error(key_node, f"{path}.{key}" if path else key, f"unknown key (allowed: {allowed})")
            elif key in items:
                self.error(key_node, f"{path}.{key}" if path else key, "given twice")
            else:
                items[key] = value_node
        for key in required:
            if key not in items:
                self.error(node, path or "top level", f"missing required key '{key}'")
        return items

    def sequence(self, node, path: str) -> list:
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, "expected a list")
            return []
        return node.value

    def text(self, node, path: str, allow_empty: bool = False) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            self.error(node, path, "expected text")
            return ""
        value = str(node.value).strip()
        if not value and not allow_empty:
            self.error(node, path, "must not be empty")
        return value

    def number(self, node, path: str) -> float | None:
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith((":int", ":float")):
            return float(node.value)
        self.error(node, path, "expected a number")
        return None

    # -- the document ------------------------------------------------------------------------

    def guidelines(self, node) -> Guidelines:
        top = self.mapping(node, "", ("project", "version", "controls"), ("rules", "flag_reasons", "gate"))
        project = self.text(top["project"], "project") if "project" in top else ""
        version = self.text(top["version"], "version") if "version" in top else ""
        controls = self.controls(top["controls"]) if "controls" in top else {}
        rules = self.rules(top["rules"], controls) if "rules" in top else ()
        guidelines = Guidelines(project=project, version=version, controls=controls, rules=rules)
        if "flag_reasons" in top:
            guidelines = replace(guidelines, flag_reasons=self.flag_reasons(top["flag_reasons"]))
        if "gate" in top:
            guidelines = replace(guidelines, gate=self.gate(top["gate"]))
        return guidelines

    def controls(self, node) -> dict[str, ControlGuide]:
        if not isinstance(node, yaml.MappingNode) or not node.value:
            self.error(node, "controls", "expected a mapping of control name -> labels")
            return {}
        controls = {}
        for name_node, control_node in node.value:
            name, path = name_node.value, f"controls.{name_node.value}"
            items = self.mapping(control_node, path, ("labels",), ())
            labels = [
                self.label(label_node, f"{path}.labels[{index}]")
                for index, label_node in enumerate(self.sequence(items["labels"], f"{path}.labels"))
            ] if "labels" in items else []
            self.unique_labels(labels, items.get("labels"), path)
            controls[name] = ControlGuide(name=name, labels=tuple(labels))
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
        if "text" not in items and "image" not in items:
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
                    self.errors.append(
                        f"{self.source}:{case.line}: controls.{control.name}.{label.value}.edge_cases[{index}].label: "
                        f"'{case.label}' is not a label of control '{control.name}' (labels: {', '.join(values)})"
                    )

    def unique_labels(self, labels: list[LabelGuide], node, path: str) -> None:
        seen = set()
        for index, label in enumerate(labels):
            if label.value and label.value in seen:
                self.error(node.value[index], f"{path}.labels[{index}].value", f"label '{label.value}' is defined twice")
            seen.add(label.value)

    def rules(self, node, controls: dict[str, ControlGuide]) -> tuple[Rule, ...]:
        rules, seen = [], set()
        for index, rule_node in enumerate(self.sequence(node, "rules")):
            rule = self.rule(rule_node, f"rules[{index}]", controls)
            if rule is None:
                continue
            if rule.id in seen:
                self.error(rule_node, f"rules[{index}].id", f"rule id '{rule.id}' is used twice")
            seen.add(rule.id)
            rules.append(rule)
        return tuple(rules)

    def rule(self, node, path: str, controls: dict[str, ControlGuide]) -> Rule | None:
        items = self.mapping(node, path, ("id", "control", "label", "when", "rationale"), ("reference",))
        if len(items) < 5:
            return None
        control, label = self.text(items["control"], f"{path}.control"), self.text(items["label"], f"{path}.label")
        if control not in controls:
            self.error(items["control"], f"{path}.control", f"unknown control '{control}' (controls: {', '.join(controls)})")
        elif controls[control].label(label) is None:
            known = ", ".join(value.value for value in controls[control].labels)
            self.error(items["label"], f"{path}.label", f"'{label}' is not a label of control '{control}' (labels: {known})")
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
            pattern = self.text(items["regex"], f"{path}.regex")
            try:
                re.compile(pattern)
            except re.error as error:
                self.error(items["regex"], f"{path}.regex", f"not a valid regular expression: {error}")
            return Condition(field=field_name, regex=pattern)
        if not field_name:
            self.error(node, path, f"'{test}' compares a field: add 'field: NAME'")
        value = self.number(items[test], f"{path}.{test}")
        return Condition(field=field_name, compare=(test, value if value is not None else 0.0))

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
        items = self.mapping(node, "gate", (), ("min_accuracy", "min_alpha", "max_flag_rate", "min_gold_per_labeler",
                                                "min_gold_per_label"))
        values = {key: self.number(value, f"gate.{key}") for key, value in items.items()}
        for key in ("min_accuracy", "max_flag_rate"):
            if values.get(key) is not None and not 0 <= values[key] <= 1:
                self.error(items[key], f"gate.{key}", "must be between 0 and 1")
        for key in ("min_gold_per_labeler", "min_gold_per_label"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        return GateThresholds(**values)

