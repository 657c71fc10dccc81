"""A task's other fields (amount, company size, carrier) as words the classifier learns from.

A claim's amount or a lead's company size often decides its label as much as its text does. Turned
into words ("amount_q4", "carrier_ups"), they reach any text classifier unchanged, and the
rationale can name them as evidence in a labeler's terms ("amount 5,000 or more").
"""

from __future__ import annotations

import re

import numpy as np

MAX_CATEGORIES = 30  # more distinct values than this is free text or an id, not a category
MAX_CATEGORY_LENGTH = 40
QUARTERS = 4
MIN_SHARE = 0.5  # a field counts when at least half the labeled tasks have it


class FieldWords:
    """Learns which fields are numbers (cut at their quartiles) and which are categories, then writes them as words.

    Fitted attributes: `cuts_` (field -> quartile edges), `categories_` (field -> {word: value as written}).
    """

    def __init__(self, text_field: str):
        self.text_field = text_field
        self.cuts_: dict[str, list[float]] = {}
        self.categories_: dict[str, dict[str, str]] = {}

    def fit(self, datas: list[dict | None]) -> "FieldWords":
        datas = [data for data in datas if isinstance(data, dict)]
        self.cuts_, self.categories_ = {}, {}
        if not datas:
            return self
        names = {name for data in datas for name in data if name != self.text_field and isinstance(name, str)}
        for name in sorted(names):
            values = [data.get(name) for data in datas if data.get(name) is not None]
            if len(values) < MIN_SHARE * len(datas):
                continue
            numbers = [_as_number(value) for value in values]
            if all(number is not None for number in numbers):
                edges = np.unique(np.quantile(np.array(numbers), [q / QUARTERS for q in range(1, QUARTERS)]))
                if len(edges):
                    self.cuts_[name] = [float(edge) for edge in edges]
            elif all(isinstance(value, str) and len(value) <= MAX_CATEGORY_LENGTH for value in values):
                distinct = {_slug(value): value.strip() for value in reversed(values)}
                if 1 < len(distinct) <= MAX_CATEGORIES:
                    self.categories_[name] = distinct
        return self

    def words(self, data: dict | None) -> str:
        """The fields of one task as words; "" when it has none the fit knows."""
        if not isinstance(data, dict):
            return ""
        found = []
        for name, edges in self.cuts_.items():
            number = _as_number(data.get(name))
            if number is not None:
                found.append(f"{_slug(name)}_q{int(np.searchsorted(edges, number, side='right')) + 1}")
        for name, known in self.categories_.items():
            value = data.get(name)
            if isinstance(value, str) and _slug(value) in known:
                found.append(f"{_slug(name)}_{_slug(value)}")
        return " ".join(found)

    def describe(self, word: str) -> str | None:
        """A field word in a labeler's terms ("amount 5,000 to 12,000", "carrier UPS"); None for a plain word."""
        for name, edges in self.cuts_.items():
            prefix = f"{_slug(name)}_q"
            if word.startswith(prefix) and word[len(prefix):].isdigit():
                quarter = int(word[len(prefix):])
                low = edges[quarter - 2] if quarter >= 2 else None
                high = edges[quarter - 1] if quarter - 1 < len(edges) else None
                if low is None:
                    return f"{name} under {high:,g}"
                return f"{name} {low:,g} or more" if high is None else f"{name} {low:,g} to {high:,g}"
        for name, known in self.categories_.items():
            prefix = f"{_slug(name)}_"
            if word.startswith(prefix) and word[len(prefix):] in known:
                return f"{name} {known[word[len(prefix):]]}"
        return None

    def __bool__(self) -> bool:
        return bool(self.cuts_ or self.categories_)


NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?")


def _as_number(value) -> float | None:
    """A number, or a text that is one ("4,790", as task data often holds them); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return float(value.strip().replace(",", ""))
    return None


def _slug(value: str) -> str:
    """Lower-case letters and digits joined by "_": one token for TF-IDF, readable in a rationale."""
    return re.sub(r"[^0-9a-z]+", "_", str(value).lower()).strip("_") or "blank"
