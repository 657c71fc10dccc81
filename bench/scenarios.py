"""How good is the default context model on the three example scenarios?

    python bench/scenarios.py [--train 100]

Per scenario, accuracy on its gold tasks of:
  rules alone     the guidelines' decision rules (first rule that fires; no rule = no answer, counted wrong),
  model alone     the learned classifier, trained on the guideline examples and the reference answers
                  of --train non-gold tasks (what a pilot batch yields), without rules,
  combined        rules + classifier, as `ls-context serve` ranks the labels (its top label, pre-selected or not);
and, for the combined model, the share of gold tasks whose top label it pre-selects (where its
calibrated probability clears the control's min_precision) and how many of those are right, how often
the rationale names the deciding rule or evidence words, and how often it shows a closest reference
example, with how often that example's label is the gold answer.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ls_context.guidelines.rules as rule_engine  # noqa: E402
from ls_context.guidelines import load  # noqa: E402
from ls_context.quality.export import data_key  # noqa: E402
from ls_context.demo.scenarios import CLASSIFICATION as SCENARIOS  # noqa: E402
from ml_backend.context_model import ContextModel, Example  # noqa: E402

CLOSEST = re.compile(r'^Closest \w+ example: ".*" -> ([^(\n]+?)(?: \(|$)', re.MULTILINE)
REASON = ("Rule '", "Words that point to")


def evaluate(scenario, n_train: int, seed: int = 0) -> dict:
    guidelines = load(scenario.guidelines)
    config = scenario.label_config.read_text()
    answers = scenario.answers()
    gold = [{"id": i, "data": item["data"]} for i, item in enumerate(scenario.gold())]
    truth = [answers[data_key(task["data"])] for task in gold]
    pool = scenario.tasks()
    random.Random(seed).shuffle(pool)
    combined_model = ContextModel(config, guidelines)
    field = combined_model.choices[0].field
    training = {scenario.control: [Example(d[field], (answers[data_key(d)],), "annotation", data=d) for d in pool[:n_train]]}
    combined = combined_model.fit(training).predict(gold)
    # The model alone, pre-selecting its top label always: what the classifier ranks first.
    alone = ContextModel(config, replace(guidelines, rules=()), min_precision=0).fit(training).predict(gold)
    rule_answers = [_first_rule(guidelines.rules, task["data"], field) for task in gold]
    suggestions = combined_model.choices[0].suggest([task["data"][field] for task in gold], [task["data"] for task in gold],
                                                    [task["id"] for task in gold])
    top = [(s.labels or s.candidates or [None])[0] for s in suggestions]
    picked = [(s.labels[0], answer) for s, answer in zip(suggestions, truth) if s.labels]
    return {
        "gold": len(gold),
        "rules": _accuracy(rule_answers, truth),
        "rule_coverage": sum(answer is not None for answer in rule_answers) / len(gold),
        "model": _accuracy([_choice(p, scenario.control) for p in alone], truth),
        "combined": _accuracy(top, truth),
        "preselected": len(picked) / len(gold),
        "precision": sum(p == t for p, t in picked) / len(picked) if picked else float("nan"),
        "explained": sum(_names_its_reason(p) for p in combined) / len(gold),
        **_closest_examples(combined, truth),
    }


def _first_rule(rules, data: dict, field: str) -> str | None:
    hits = rule_engine.fire(rules, data, field)
    return hits[0].rule.label if hits else None


def _choice(prediction: dict | None, control: str) -> str | None:
    for item in (prediction or {}).get("result", []):
        if item["from_name"] == control:
            return item["value"]["choices"][0]
    return None


def _names_its_reason(prediction: dict | None) -> bool:
    """The rationale names the rule that fired or the words that pushed the classifier."""
    first_line = _rationale(prediction).split("\n")[0]
    return any(reason in first_line for reason in REASON)


def _closest_examples(predictions: list, truth: list) -> dict:
    """Share of predictions showing a closest example, and share of those whose example has the gold label."""
    shown = agree = 0
    for prediction, answer in zip(predictions, truth):
        match = CLOSEST.search(_rationale(prediction))
        if match:
            shown += 1
            agree += match.group(1).strip() == answer
    return {"closest_shown": shown / len(truth), "closest_agrees": agree / shown if shown else 0.0}


def _rationale(prediction: dict | None) -> str:
    return next((item["value"]["text"][0] for item in (prediction or {}).get("result", []) if item["from_name"] == "ls_rationale"), "")


def _accuracy(answers: list, truth: list) -> float:
    return sum(a == t for a, t in zip(answers, truth)) / len(truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100, help="labeled non-gold tasks the classifier learns from")
    args = parser.parse_args()
    print(f"accuracy on gold; classifier trained on guideline examples + {args.train} labeled tasks\n")
    print(f"{'scenario':<20} {'gold':>4} {'rules alone':>18} {'model alone':>11} {'combined':>9} {'pre-selected':>12} "
          f"{'right':>6} {'rationale names reason':>23} {'closest example shown':>22} {'its label is right':>19}")
    for scenario in SCENARIOS.values():
        r = evaluate(scenario, args.train)
        rules = f"{r['rules']:.0%} ({r['rule_coverage']:.0%} fire)"
        print(f"{scenario.name:<20} {r['gold']:>4} {rules:>18} {r['model']:>11.0%} {r['combined']:>9.0%} {r['preselected']:>12.0%} "
              f"{r['precision']:>6.0%} {r['explained']:>23.0%} "
              f"{r['closest_shown']:>22.0%} {r['closest_agrees']:>19.0%}")


if __name__ == "__main__":
    main()
