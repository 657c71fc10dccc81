"""Alerts where the team talks: flags that say the guidelines are unclear, gate verdicts, dead write-backs."""

from .outbox import AlertSettings, deliver_alerts, message
from .targets import AlertTargetError, Target, parse_targets

__all__ = ["AlertSettings", "AlertTargetError", "Target", "deliver_alerts", "message", "parse_targets"]
