"""The example scenarios in examples/: their files, and the labels a simulated labeler mixes up."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ls_context.errors import LSContextError
from ls_context.quality.export import data_key
from ls_context.resources import examples


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    control: str
    object_name: str
    confusable: tuple[str, str]  # the pair the "confuser" of the simulation swaps
    kind: str = "choices"  # "choices" (one label per task) or "regions" (boxes or spans)

    @property
    def folder(self) -> Path:
        return examples() / self.name

    @property
    def guidelines(self) -> Path:
        return self.folder / "guidelines.yaml"

    @property
    def label_config(self) -> Path:
        return self.folder / "label_config.xml"

    @property
    def gold_file(self) -> Path:
        return self.folder / "gold.json"

    def tasks(self) -> list[dict]:
        return self._read("tasks.json")

    def gold(self) -> list[dict]:
        return self._read("gold.json")

    @property
    def regions(self) -> bool:
        return self.kind == "regions"

    def results(self) -> dict[str, list[dict]]:
        """The reference result of every task and gold task of a region scenario, by task data."""
        found = {data_key(item["data"]): item["result"] for item in self._read("answers.json")}
        for item in self.gold():
            found[data_key(item["data"])] = item["annotations"][0]["result"]
        return found

    def answers(self) -> dict[str, str]:
        """The reference label of every task and gold task, by task data (what the simulation and benchmark score against)."""
        if self.regions:
            raise LSContextError(f"scenario '{self.name}' has regions, not one label per task: read its results()")
        found = {data_key(item["data"]): item["label"] for item in self._read("answers.json")}
        for item in self.gold():
            found[data_key(item["data"])] = item["annotations"][0]["result"][0]["value"]["choices"][0]
        return found

    def hard_cases(self) -> set[str]:
        """Task data keys of the hand-written hard cases (where careful labelers ask instead of guessing)."""
        hard = {data_key(item["data"]) for item in self._read("answers.json") if item.get("hard")}
        return hard | {data_key(item["data"]) for item in self.gold() if item.get("hard")}

    def guide(self):
        from ls_context.guidelines import load

        return load(self.guidelines)

    def labels(self) -> list[str]:
        return [label.value for label in self.guide().controls[self.control].labels]

    def flag_reason(self) -> str:
        """The reason a careful labeler gives when the guidelines do not settle a case."""
        reasons = [reason.value for reason in self.guide().flag_reasons]
        return "Guideline unclear" if "Guideline unclear" in reasons else reasons[0]

    def _read(self, name: str) -> list:
        path = self.folder / name
        if not path.exists():
            raise LSContextError(f"{path} is missing: reinstall ls-context, whose package carries the examples")
        return json.loads(path.read_text())


SCENARIOS = {
    scenario.name: scenario for scenario in (
        Scenario("support-triage", "Support triage (ls-context demo)", "triage", "text",
                 ("Urgent intervention", "Frustrated but salvageable")),
        Scenario("lead-qualification", "Lead qualification (ls-context demo)", "lead", "message",
                 ("Enterprise integration", "Mid-market project")),
        Scenario("claim-triage", "Claim triage (ls-context demo)", "route", "description",
                 ("Standard", "Needs review")),
        Scenario("street-scenes", "Street scenes (ls-context demo)", "objects", "image", ("Car", "Truck"), kind="regions"),
        Scenario("claim-entities", "Claim entities (ls-context demo)", "entities", "description", ("Cause", "Damage"),
                 kind="regions"),
    )
}
# The scenarios with one label per task, which the model's benchmarks learn from.
CLASSIFICATION = {name: found for name, found in SCENARIOS.items() if not found.regions}


def scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise LSContextError(f"unknown scenario '{name}' (known: {', '.join(SCENARIOS)})")
    return SCENARIOS[name]
