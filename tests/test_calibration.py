"""Precision first: the calibration of the model's confidence, and what it lets the model pre-select.

The model pre-selects a label only where cross-validated answers say it is right at least the
control's `min_precision` of the time; elsewhere the labeler gets context without an answer.
"""

import random
import re
from pathlib import Path

import numpy as np
import pytest

from harness.vader import snippets
from ls_context.guidelines import GuidelinesError, load, parse
from ml_backend.calibration import Calibration, expected_calibration_error
from ml_backend.context_model import ContextModel, Example
from test_learning import CONFIG  # sentiment on a text, with the rationale and the flag

ROOT = Path(__file__).resolve().parent.parent
MOVIES = ROOT / "bench" / "vader" / "movie-reviews.yaml"


def overconfident(n: int, seed: int = 0):
    """A model that says p but is right p**2 of the time: the classic small-sample logistic regression."""
    rng = np.random.default_rng(seed)
    confidence = rng.uniform(0.34, 1.0, n)
    correct = rng.uniform(size=n) < confidence ** 2
    return confidence, np.zeros(n, bool), correct


def test_expected_calibration_error_by_hand():
    # Two bins: [0.2, 0.2] right 1 of 2 (gap 0.3) and [0.9, 0.9, 0.9, 0.9] right 4 of 4 (gap 0.1): (2*0.3 + 4*0.1) / 6.
    probability = [0.2, 0.2, 0.9, 0.9, 0.9, 0.9]
    correct = [1, 0, 1, 1, 1, 1]
    assert expected_calibration_error(probability, correct) == pytest.approx((2 * 0.3 + 4 * 0.1) / 6)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_calibration_turns_an_overconfident_model_into_an_honest_one(method):
    confidence, fired, correct = overconfident(4000)
    later_confidence, later_fired, later_correct = overconfident(4000, seed=1)

    calibrated = Calibration(method).fit(confidence, fired, correct).predict(later_confidence, later_fired)

    raw_error = expected_calibration_error(later_confidence, later_correct)
    assert raw_error > 0.1
    assert expected_calibration_error(calibrated, later_correct) < 0.03


def test_pre_selections_above_the_threshold_reach_the_bar_on_new_answers():
    confidence, fired, correct = overconfident(3000)
    calibration = Calibration().fit(confidence, fired, correct)
    threshold = calibration.threshold(0.85)
    later_confidence, later_fired, later_correct = overconfident(3000, seed=2)

    picked = calibration.predict(later_confidence, later_fired) >= threshold

    assert 0.85 <= threshold < 1
    assert 0.1 < picked.mean() < 0.6
    assert later_correct[picked].mean() >= 0.85


def test_too_few_answers_vouch_for_nothing():
    confidence, fired, correct = overconfident(19)

    calibration = Calibration(min_answers=20).fit(confidence, fired, correct)

    assert not calibration.fitted_
    assert np.isnan(calibration.predict([0.99], [True])).all()
    assert calibration.threshold(0.85) == float("inf")


def test_a_rule_that_is_always_right_is_learned_apart_from_the_words():
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, 600)
    fired = np.arange(600) % 3 == 0
    correct = np.where(fired, True, rng.uniform(size=600) < 0.5)  # the words are a coin toss, the rule never errs

    calibration = Calibration().fit(confidence, fired, correct)

    with_rule, without = calibration.predict([0.75, 0.75], [True, False])
    assert with_rule > 0.85 and 0.35 < without < 0.65


def test_min_precision_is_read_per_control_and_checked():
    text = MOVIES.read_text().replace("  sentiment:\n", "  sentiment:\n    min_precision: 0.95\n", 1)
    assert parse(text).controls["sentiment"].min_precision == 0.95
    assert load(MOVIES).controls["sentiment"].min_precision == 0.85  # the default

    with pytest.raises(GuidelinesError, match=r"controls.sentiment.min_precision.*between 0 and 1"):
        parse(text.replace("min_precision: 0.95", "min_precision: 1.5"))


@pytest.mark.parametrize("written, message", [
    ("-0.1", "must be between 0 and 1"), (".nan", "must be a finite number, not .nan"), ("yes", "expected a number"),
    ("[0.9]", "expected a number"), ("0x1", "is not a plain decimal number"),
])
def test_a_bad_min_precision_is_an_error_naming_file_line_and_field(written, message):
    text = MOVIES.read_text().replace("  sentiment:\n", f"  sentiment:\n    min_precision: {written}\n", 1)

    with pytest.raises(GuidelinesError, match=rf"movies.yaml:6: controls.sentiment.min_precision: .*{re.escape(message)}"):
        parse(text, source="movies.yaml")


@pytest.fixture(scope="module")
def reviews():
    """Real review snippets nobody here wrote: 1,000 labeled, 1,200 held out."""
    rows = snippets("movies")
    random.Random(5).shuffle(rows)
    return rows[:1000], rows[1300:2500]


def predictions(model, rows):
    return model.predict([{"id": 50000 + n, "data": {"text": text}} for n, (text, _) in enumerate(rows)])


def by_control(prediction) -> dict:
    return {item["from_name"]: item for item in prediction["result"]}


def test_on_real_reviews_what_is_pre_selected_is_right_and_every_task_gets_context(reviews):
    labeled, held_out = reviews
    model = ContextModel(CONFIG, load(MOVIES)).fit({"sentiment": [Example(t, (label,), "annotation") for t, label in labeled]})

    found = predictions(model, held_out)
    picked = [(by_control(p)["sentiment"]["value"]["choices"][0], label)
              for p, (_, label) in zip(found, held_out) if "sentiment" in by_control(p)]
    majority = max(sum(label == value for _, label in held_out) for value in ("Positive", "Negative", "Neutral")) / len(held_out)
    always = ContextModel(CONFIG, load(MOVIES), min_precision=0).fit(
        {"sentiment": [Example(t, (label,), "annotation") for t, label in labeled]})
    every_top = [by_control(p).get("sentiment") for p in predictions(always, held_out)]
    top_accuracy = np.mean([item is not None and item["value"]["choices"] == [label] for item, (_, label) in zip(every_top, held_out)])

    assert all(p is not None and "ls_rationale" in by_control(p) for p in found)  # context on every task
    assert 0 < len(picked) < len(held_out) / 2
    precision = np.mean([choice == label for choice, label in picked])
    assert precision >= 0.8 and precision > majority  # the bar is 0.85 on average; 1,200 tasks allow some noise
    assert precision > top_accuracy + 0.15  # pre-selecting everything would be right far less often


def test_a_not_sure_prediction_names_two_labels_their_definitions_and_pre_selects_nothing(reviews):
    labeled, held_out = reviews
    guidelines = load(MOVIES)
    model = ContextModel(CONFIG, guidelines).fit({"sentiment": [Example(t, (label,), "annotation") for t, label in labeled]})

    unsure = [p for p in predictions(model, held_out) if "sentiment" not in by_control(p)]

    assert unsure
    for prediction in unsure[:50]:
        lines = by_control(prediction)["ls_rationale"]["value"]["text"][0].splitlines()
        first, second = lines[0].removeprefix("Not sure: ").split(".")[0].split(" or ")
        assert {first, second} <= {"Positive", "Negative", "Neutral"} and first != second
        for value in (first, second):
            assert f"{value}: {guidelines.controls['sentiment'].label(value).definition.rstrip('.')}." in lines[1]


def test_suggested_predictions_say_so_with_their_calibrated_probability(reviews):
    labeled, held_out = reviews
    model = ContextModel(CONFIG, load(MOVIES)).fit({"sentiment": [Example(t, (label,), "annotation") for t, label in labeled]})

    sure = [p for p in predictions(model, held_out) if "sentiment" in by_control(p)]

    assert sure
    for prediction in sure:
        items = by_control(prediction)
        first = items["ls_rationale"]["value"]["text"][0].splitlines()[0]
        label = items["sentiment"]["value"]["choices"][0]
        assert first.startswith(f"Suggested: {label} ({items['sentiment']['score']:.0%})")
        assert items["sentiment"]["score"] >= 0.85


def test_the_direct_platt_arithmetic_gives_scikit_learns_probabilities():
    from ml_backend.calibration import _platt_features

    confidence, fired, correct = overconfident(500)
    fired = np.arange(500) % 4 == 0
    calibration = Calibration().fit(confidence, fired, correct)

    direct = calibration.predict(confidence, fired)

    assert np.allclose(direct, calibration.model_.predict_proba(_platt_features(confidence, fired))[:, 1])
