"""What changed between two versions of a project's guidelines, in words a labeler reads in a minute.

Labels added or removed, definitions and "why it matters" rewritten, do/don't examples and edge
cases added or dropped, decision rules added, removed or changed (what they look for, which label
they give, their rationale), flag reasons, and the gate's bars.
"""

from __future__ import annotations

from dataclasses import fields

from .schema import Condition, Guidelines, Rule


def changes(old: Guidelines, new: Guidelines) -> list[str]:
    """One line per change, controls and labels in the new file's order, then rules, flag reasons and gate."""
    lines = []
    for name, control in new.controls.items():
        before = old.controls.get(name)
        if before is None:
            lines.append(f"New control '{name}' with labels {', '.join(label.value for label in control.labels)}.")
            continue
        lines += _labels(name, before, control, several=len(new.controls) > 1)
    lines += [f"Control '{name}' is gone." for name in old.controls if name not in new.controls]
    lines += _rules(old.rules, new.rules)
    old_reasons, new_reasons = {r.value for r in old.flag_reasons}, {r.value for r in new.flag_reasons}
    lines += [f"New flag reason: {reason}." for reason in sorted(new_reasons - old_reasons)]
    lines += [f"Flag reason dropped: {reason}." for reason in sorted(old_reasons - new_reasons)]
    for item in fields(new.gate):
        was, now = getattr(old.gate, item.name), getattr(new.gate, item.name)
        if was != now:
            lines.append(f"Gate: {item.name} {_shown(was)} -> {_shown(now)}.")
    for item in fields(new.onboarding):
        was, now = getattr(old.onboarding, item.name), getattr(new.onboarding, item.name)
        if was != now:
            lines.append(f"Onboarding: {item.name} {_shown(was)} -> {_shown(now)}.")
    return lines


def _labels(control_name: str, old, new, several: bool) -> list[str]:
    where = f" ({control_name})" if several else ""
    lines = []
    for label in new.labels:
        before = old.label(label.value)
        if before is None:
            lines.append(f"New label '{label.value}'{where}: {label.definition}")
            continue
        if before.definition != label.definition:
            lines.append(f"'{label.value}'{where} now means: {label.definition} (was: {before.definition})")
        if before.why != label.why:
            lines.append(f"Why '{label.value}' matters{where}: {label.why}")
        for kind, was, now in (("do", before.do, label.do), ("don't", before.dont, label.dont)):
            lines += [f"New {kind} example for '{label.value}'{where}: \"{_text(e)}\"" + (f" ({e.explanation})" if e.explanation else "")
                      for e in now if e not in was]
            lines += [f"Dropped {kind} example for '{label.value}'{where}: \"{_text(e)}\"" for e in was if e not in now]
        lines += [f"New edge case under '{label.value}'{where}: {case.situation} -> {case.label}" + (f" ({case.why})" if case.why else "")
                  for case in label.edge_cases if case not in before.edge_cases]
        lines += [f"Dropped edge case under '{label.value}'{where}: {case.situation} -> {case.label}" for case in before.edge_cases
                  if case not in label.edge_cases]
    lines += [f"Label '{label.value}'{where} is gone." for label in old.labels if new.label(label.value) is None]
    return lines


def _rules(old: tuple[Rule, ...], new: tuple[Rule, ...]) -> list[str]:
    before = {rule.id: rule for rule in old}
    lines = []
    for rule in new:
        was = before.get(rule.id)
        if was is None:
            lines.append(f"New rule '{rule.id}': {describe(rule.when)} -> {rule.label}. {rule.rationale}")
        elif was != rule:
            what = []
            if was.when != rule.when:
                what.append(f"now looks for {describe(rule.when)} (was {describe(was.when)})")
            if was.label != rule.label or was.control != rule.control:
                what.append(f"now gives {rule.label} (was {was.label})")
            if was.rationale != rule.rationale:
                what.append(f"now says: {rule.rationale}")
            if what:
                lines.append(f"Rule '{rule.id}' " + "; ".join(what).rstrip(".") + ".")
    lines += [f"Rule '{rule.id}' is gone (it gave {rule.label} for {describe(rule.when)})." for rule in old
              if rule.id not in {r.id for r in new}]
    return lines


def describe(condition: Condition) -> str:
    """A rule's condition in words: `description has "refund" or "chargeback"`, `amount > 15000`, all/any/not of them."""
    if condition.any:
        return "(" + " or ".join(describe(part) for part in condition.any) + ")"
    if condition.all:
        return "(" + " and ".join(describe(part) for part in condition.all) + ")"
    if condition.negate is not None:
        return f"not {describe(condition.negate)}"
    field = condition.field or "the text"  # a rule without a field reads the labeled text
    if condition.keywords:
        return f"{field} has " + " or ".join(f'"{word}"' for word in condition.keywords)
    if condition.regex:
        return f"{field} matches /{condition.regex}/"
    if condition.compare:
        op, value = condition.compare
        return f"{field} {dict(gt='>', gte='>=', lt='<', lte='<=', eq='=').get(op, op)} {value:g}"
    return field


def _text(example) -> str:
    return example.text or example.image


def _shown(value) -> str:
    return "unset" if value in (None, {}) else str(value)
