"""Decision rules from the guidelines, applied to one task's data.

A rule that fires brings its evidence: the keyword, the matched text or the compared field
value that made it fire, so that a labeler can check the reason instead of trusting it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .schema import Condition, Rule

OPERATORS = {
    "gt": (">", lambda a, b: a > b),
    "gte": (">=", lambda a, b: a >= b),
    "lt": ("<", lambda a, b: a < b),
    "lte": ("<=", lambda a, b: a <= b),
    "eq": ("=", lambda a, b: a == b),
}


@dataclass(frozen=True)
class RuleHit:
    rule: Rule
    evidence: tuple[str, ...]


def fire(rules: tuple[Rule, ...], data: dict, default_field: str) -> list[RuleHit]:
    """Every rule whose condition holds on `data`, in the order of the guidelines file."""
    hits = []
    for rule in rules:
        evidence = evaluate(rule.when, data, default_field)
        if evidence is not None:
            hits.append(RuleHit(rule, tuple(evidence)))
    return hits


def evaluate(condition: Condition, data: dict, default_field: str) -> list[str] | None:
    """The evidence for `condition` on `data` (possibly empty), or None when it does not hold."""
    if condition.any:
        found = [evaluate(part, data, default_field) for part in condition.any]
        held = [evidence for evidence in found if evidence is not None]
        return [item for evidence in held for item in evidence] if held else None
    if condition.all:
        evidence = []
        for part in condition.all:
            part_evidence = evaluate(part, data, default_field)
            if part_evidence is None:
                return None
            evidence.extend(part_evidence)
        return evidence
    if condition.negate is not None:
        return None if evaluate(condition.negate, data, default_field) is not None else []
    return _leaf(condition, data.get(condition.field or default_field))


def _leaf(condition: Condition, value) -> list[str] | None:
    if value is None:
        return None
    if condition.compare is not None:
        return _compare(condition, value)
    text = value if isinstance(value, str) else str(value)
    if condition.keywords:
        # One pass over the text for all keywords; naming the ones that matched only when any did.
        if not _any_keyword(condition.keywords).search(text):
            return None
        return [f'"{word}"' for word in condition.keywords if _keyword_pattern(word).search(text)]
    match = _compiled(condition.regex).search(text)
    return [f'"{match.group(0)}"'] if match else None


def _compare(condition: Condition, value) -> list[str] | None:
    try:
        number = float(str(value).replace(",", ""))
    except ValueError:
        return None
    operator, threshold = condition.compare
    symbol, holds = OPERATORS[operator]
    if not holds(number, threshold):
        return None
    return [f"{condition.field} = {value} {symbol} {threshold:g}"]


def spans(condition: Condition, text: str) -> list[tuple[int, int]]:
    """Character spans of `text` that a keyword or regex condition (or any/all of them) matches."""
    found = []
    for part in (condition.any or condition.all):
        found.extend(spans(part, text))
    if condition.keywords:
        for word in condition.keywords:
            found.extend(match.span() for match in _keyword_pattern(word).finditer(text))
    if condition.regex:
        found.extend(match.span() for match in _compiled(condition.regex).finditer(text) if match.end() > match.start())
    return sorted(set(found))


@lru_cache(maxsize=4096)
def _keyword_pattern(word: str) -> re.Pattern:
    # Whole words, any case: "refund" must not fire on "refunded" unless the guideline says "refund*".
    return re.compile(rf"(?<!\w){_wildcard(word)}(?!\w)", re.IGNORECASE)


def _wildcard(word: str) -> str:
    """A keyword as a pattern, `*` standing for any letters; stars in a row count as one, since
    `\\w*\\w*` backtracks quadratically on a long word."""
    return re.escape(re.sub(r"\*+", "*", word)).replace(r"\*", r"\w*")


@lru_cache(maxsize=4096)
def _any_keyword(words: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(_wildcard(word) for word in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)
