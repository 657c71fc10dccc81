"""Compare a labeler's Label Studio result with the expected (gold) one, control by control.

Every comparison gives a score in [0, 1] and passes at a threshold per control type. Regions
(spans, boxes, polygons) are matched one-to-one to maximise total overlap, and a pair counts only
when its labels agree; the score is the matched overlap over the larger region count, and the
answer passes when every gold region has its own match at IoU >= the threshold and no region is
extra. A control type not listed here is reported as not checked, never failed.
"""

from __future__ import annotations

import difflib
import math
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

DEFAULT_PASS = {
    "choices": 1.0, "taxonomy": 1.0, "labels": 0.5, "hypertextlabels": 0.5,
    "rectanglelabels": 0.5, "rectangle": 0.5, "polygonlabels": 0.5, "polygon": 0.5,
    "textarea": 0.8, "rating": 1.0, "number": 1.0,
}
TOLERANCE = {"rating": 0.0, "number": 0.0}
SPAN_KINDS = {"labels", "hypertextlabels"}
BOX_KINDS = {"rectanglelabels", "rectangle"}
POLYGON_KINDS = {"polygonlabels", "polygon"}
REGION_KINDS = SPAN_KINDS | BOX_KINDS | POLYGON_KINDS


@dataclass(frozen=True)
class Verdict:
    control: str
    kind: str
    score: float | None  # None when not checked
    passed: bool | None
    expected: str = ""
    given: str = ""

    @property
    def checked(self) -> bool:
        return self.score is not None


def compare(expected: list[dict], given: list[dict], thresholds: dict | None = None, tolerances: dict | None = None) -> list[Verdict]:
    """One verdict per control that the expected result answers (ls-context's own controls aside)."""
    thresholds = {**DEFAULT_PASS, **(thresholds or {})}
    tolerances = {**TOLERANCE, **(tolerances or {})}
    wanted, answered = by_control(expected), by_control(given)
    verdicts = []
    for control, items in wanted.items():
        kind = str(items[0].get("type", "")).lower()
        threshold = thresholds.get(control, thresholds.get(kind))
        if kind in REGION_KINDS:
            score, passed = _region_verdict(items, answered.get(control, []), kind, threshold)
        else:
            score = _score(kind, items, answered.get(control, []), tolerances)
            passed = None if score is None else score >= threshold - 1e-9
        if score is not None:
            score = min(1.0, max(0.0, score))  # overlaps summed in floating point can land a hair above 1
        verdicts.append(Verdict(control, kind, score, passed, describe(items), describe(answered.get(control, []))))
    return verdicts


def by_control(result: list[dict]) -> dict[str, list[dict]]:
    """A result's items grouped by control, ls-context's own controls left out."""
    found = defaultdict(list)
    for item in result or []:
        if isinstance(item, dict) and isinstance(item.get("value"), dict) and not str(item.get("from_name", "")).startswith("ls_"):
            found[item["from_name"]].append(item)
    return dict(found)


def _score(kind: str, expected: list[dict], given: list[dict], tolerances: dict) -> float | None:
    if kind == "choices":
        return _jaccard(_choice_set(expected, "choices"), _choice_set(given, "choices"))
    if kind == "taxonomy":
        return _jaccard(_choice_set(expected, "taxonomy"), _choice_set(given, "taxonomy"))
    if kind == "textarea":
        return text_similarity(expected, given)
    if kind in ("rating", "number"):
        a, b = _number(expected, kind), _number(given, kind)
        if a is None:
            return None
        return float(b is not None and abs(a - b) <= tolerances[kind])
    return None


def _choice_set(items: list[dict], key: str) -> set:
    return {tuple(c) if isinstance(c, list) else c for item in items for c in item["value"].get(key) or []}


def _jaccard(a: set, b: set) -> float:
    """Exact match for single choices; set overlap when several may be chosen."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def region_labels(item: dict, kind: str) -> set:
    """The labels of one region (empty for a plain Rectangle or Polygon)."""
    value = item["value"]
    found = value.get(kind) or value.get("labels") or []
    if isinstance(found, str):  # an edited export may hold the label itself instead of a list
        return {found}
    return set(map(str, found)) if isinstance(found, list) else set()  # str: ... or lists in lists


def readable(item: dict, kind: str) -> bool:
    """Whether a region's coordinates can be measured: finite numbers, a box with a size, a span that ends after it starts."""
    value = item.get("value") if isinstance(item, dict) else None
    if not isinstance(value, dict):
        return False
    try:
        if kind in BOX_KINDS:
            x, y, width, height = numbers(value, ("x", "y", "width", "height"))
            return width > 0 and height > 0
        if kind in SPAN_KINDS:
            if "start" not in value and "startOffset" in value:
                return True  # a hypertext span: located by XPath, compared by its offsets as far as they go
            start, end = numbers(value, ("start", "end"))
            return end > start
        points = value.get("points")
        return isinstance(points, list) and len(points) >= 3 and all(
            isinstance(point, list) and len(point) == 2 and numbers(dict(enumerate(point)), (0, 1)) for point in points)
    except (KeyError, TypeError, ValueError):
        return False


def overlap_of(kind: str):
    """The overlap measure (IoU in [0, 1]) of two regions' values of this control type."""
    return _span_iou if kind in SPAN_KINDS else (_box_iou if kind in BOX_KINDS else _polygon_iou)


def _region_verdict(expected: list[dict], given: list[dict], kind: str, threshold: float) -> tuple[float, bool]:
    """(score, passed) of a region answer, from one matrix of overlaps between regions whose labels agree.

    The score is the overlap of a one-to-one matching that maximises it, over the larger region
    count; the answer passes when each gold region has its own region at IoU >= threshold, and no
    region is extra.
    """
    if not expected and not given:
        return 1.0, True
    if not expected or not given:
        return 0.0, False
    overlap = overlap_of(kind)
    same = np.array([[region_labels(e, kind) == region_labels(g, kind) for g in given] for e in expected])
    iou = np.array([[overlap(e["value"], g["value"]) if same[i, j] else 0.0 for j, g in enumerate(given)]
                    for i, e in enumerate(expected)])
    rows, columns = linear_sum_assignment(iou, maximize=True)
    score = float(iou[rows, columns].sum() / max(len(expected), len(given)))
    if len(expected) != len(given):
        return score, False
    hits = (same & (iou >= threshold - 1e-9)).astype(float)
    rows, columns = linear_sum_assignment(hits, maximize=True)
    return score, bool(hits[rows, columns].sum() == len(expected))


def _span_iou(a: dict, b: dict) -> float:
    try:
        (a_start, a_end), (b_start, b_end) = numbers(a, ("start", "end")), numbers(b, ("start", "end"))
    except (KeyError, TypeError, ValueError):
        return 0.0
    inter = max(0.0, min(a_end, b_end) - max(a_start, b_start))
    union = max(a_end, b_end) - min(a_start, b_start)
    iou = inter / union if union > 0 else 0.0
    return iou if math.isfinite(iou) else 0.0


def _box_iou(a: dict, b: dict) -> float:
    try:
        ax, ay, aw, ah, a_turn = numbers({"rotation": 0, **a}, ("x", "y", "width", "height", "rotation"))
        bx, by, bw, bh, b_turn = numbers({"rotation": 0, **b}, ("x", "y", "width", "height", "rotation"))
    except (KeyError, TypeError, ValueError):
        return 0.0
    if a_turn or b_turn:
        return _polygon_iou({"points": _corners(ax, ay, aw, ah, a_turn)}, {"points": _corners(bx, by, bw, bh, b_turn)})
    width = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    height = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = width * height
    union = aw * ah + bw * bh - inter
    iou = inter / union if union > 0 else 0.0
    return iou if math.isfinite(iou) else 0.0  # coordinates near 1e308 overflow to inf / inf


def numbers(value: dict, keys: tuple[str, ...]) -> list[float]:
    """The value's coordinates as finite numbers; ValueError when one is text, a list, infinite or missing."""
    found = [value[key] for key in keys]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in found):
        raise ValueError("not a finite number")
    return [float(v) for v in found]


def _corners(x, y, w, h, degrees) -> list[list[float]]:
    """Label Studio rotates a box around its top-left corner."""
    angle = np.radians(float(degrees))
    c, s = np.cos(angle), np.sin(angle)
    return [[x + dx * c - dy * s, y + dx * s + dy * c] for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]


GRID = np.linspace(0.25, 99.75, 200)  # points every 0.5% of the image, for polygon areas


def _polygon_iou(a: dict, b: dict) -> float:
    """IoU of two polygons (points in % of the image), measured on a 200 x 200 grid of the image."""
    inside_a, inside_b = _inside(a.get("points")), _inside(b.get("points"))
    if inside_a is None or inside_b is None:
        return 0.0
    union = np.logical_or(inside_a, inside_b).sum()
    return float(np.logical_and(inside_a, inside_b).sum() / union) if union else 0.0


def _inside(points) -> np.ndarray | None:
    try:
        polygon = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        return None
    if polygon.ndim != 2 or polygon.shape[0] < 3 or polygon.shape[1] != 2:
        return None
    x, y = np.meshgrid(GRID, GRID)
    inside = np.zeros(x.shape, dtype=bool)
    with np.errstate(all="ignore"):  # absurd coordinates (1e308) overflow; their points simply fall outside
        for (x1, y1), (x2, y2) in zip(polygon, np.roll(polygon, -1, axis=0)):
            # Even-odd rule: flip each grid point whose horizontal ray crosses this edge.
            crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / ((y2 - y1) or 1e-12) + x1)
            inside ^= crosses
    return inside


def text_similarity(expected: list[dict], given: list[dict]) -> float:
    """How alike two text answers are, in [0, 1], after lower-casing and dropping punctuation."""
    a, b = _normalised_text(expected), _normalised_text(given)
    if not a and not b:
        return 1.0
    return difflib.SequenceMatcher(None, a, b).ratio()


def _normalised_text(items: list[dict]) -> str:
    texts = [item["value"].get("text") for item in items]
    text = " ".join(t for found in texts for t in ([found] if isinstance(found, str) else found or []) if isinstance(t, str))
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", "", text.lower())).strip()


def _number(items: list[dict], kind: str) -> float | None:
    for item in items:
        value = item["value"].get(kind)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return None


def describe(items: list[dict]) -> str:
    """A short human reading of a result, for feedback: the choices, or how many regions."""
    parts = []
    for item in items:
        value = item["value"]
        for key in ("choices", "taxonomy", "labels", "rectanglelabels", "polygonlabels", "hypertextlabels", "text", "rating", "number"):
            if key in value:
                found = value[key]
                if key in ("labels", "hypertextlabels") and "text" in value:
                    parts.append(f'{", ".join(map(str, found))}: "{value["text"]}"')
                elif isinstance(found, list):
                    parts.append(", ".join("/".join(f) if isinstance(f, list) else str(f) for f in found))
                else:
                    parts.append(str(found))
                break
    return "; ".join(parts) if parts else "(nothing)"
