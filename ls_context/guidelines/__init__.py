"""Guidelines as code: the schema, the loader, the decision rules, the instructions and the versions."""

from .loader import load, parse
from .schema import (
    DEFAULT_FLAG_REASONS, Condition, ControlGuide, EdgeCase, Example, FlagReason, GateThresholds, Guidelines,
    GuidelinesError, LabelGuide, Rule,
)

__all__ = [
    "load", "parse", "DEFAULT_FLAG_REASONS", "Condition", "ControlGuide", "EdgeCase", "Example", "FlagReason",
    "GateThresholds", "Guidelines", "GuidelinesError", "LabelGuide", "Rule",
]
