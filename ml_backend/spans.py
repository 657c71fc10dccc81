"""Spans of text that the guidelines' keyword and pattern rules mark, each with its own rationale."""

from __future__ import annotations

import ls_context.guidelines.rules as rule_engine
from ls_context.labelstudio.label_config import REGION_RATIONALE


class SpanModel:
    """Marks spans of text that the guidelines' keyword and pattern rules match, each with its rationale."""

    def __init__(self, name: str, to_name: str, field_name: str, tag: str, labels: list[str], rules: tuple, region_rationale: bool):
        self.name, self.to_name, self.field, self.tag = name, to_name, field_name, tag
        self.labels, self.rules, self.region_rationale = labels, rules, region_rationale

    def results(self, text: str) -> list[dict]:
        results = []
        for rule in self.rules:
            for number, (start, end) in enumerate(rule_engine.spans(rule.when, text)):
                region_id = f"{rule.id}-{start}-{end}"[:40]
                value = {"start": start, "end": end, "text": text[start:end], self.tag: [rule.label]}
                results.append({"id": region_id, "from_name": self.name, "to_name": self.to_name,
                                "type": self.tag, "value": value, "score": 0.9})
                if self.region_rationale:
                    reference = f" [{rule.reference}]" if rule.reference else ""
                    results.append({"id": region_id, "from_name": REGION_RATIONALE, "to_name": self.to_name,
                                    "type": "textarea", "value": {"text": [f"{rule.rationale}{reference}"]}})
        return results
