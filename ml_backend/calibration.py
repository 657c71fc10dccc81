"""How often the model's top label is right, learned from answers it did not see while fitting.

A classifier's probability is not a promise: on a few dozen examples a logistic regression says
"80%" of labels that are right half the time. A pre-selected answer anchors the labeler, so the
model pre-selects only where the calibrated probability clears the control's `min_precision`;
elsewhere it gives context without an answer.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

from ls_context.quality.metrics import wilson_interval

from .classifier import sigmoid

MIN_ANSWERS = 20  # held-out answers below which no calibration is trusted, so nothing is pre-selected
METHODS = ("platt", "isotonic")


class Calibration:
    """Maps (confidence in the top label, did a rule fire) to the probability that the label is right.

    Parameters: `method` "platt" (a logistic regression on the confidence's log-odds and the rule
    flag; Platt 1999) or "isotonic" (a monotone step function of the confidence; Zadrozny & Elkan
    2002), and `min_answers`, below which the calibration stays unfitted.
    Fitted attributes: `answers_` (held-out answers it learned from), `fitted_`.
    """

    C = 0.1  # inverse regularisation of Platt's fit: with a few hundred answers, a flatter map calibrated better (bench/real.py)

    def __init__(self, method: str = "platt", min_answers: int = MIN_ANSWERS):
        if method not in METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(METHODS)}, not {method!r}")
        self.method = method
        self.min_answers = min_answers
        self.answers_ = 0
        self.fitted_ = False

    def fit(self, confidence, fired, correct, sample_weight=None) -> "Calibration":
        confidence, fired, correct = np.asarray(confidence, float), np.asarray(fired, bool), np.asarray(correct, bool)
        weights = None if sample_weight is None else np.asarray(sample_weight, float)
        self.answers_ = len(correct)
        self.fitted_ = False
        self._held_out = (confidence, fired, correct, np.ones(len(correct)) if weights is None else weights)
        self._thresholds = {}
        if self.answers_ < self.min_answers:
            return self
        if correct.all() or not correct.any():
            # One outcome only: the best estimate is its smoothed rate, whatever the confidence.
            self.constant_ = (correct.sum() + 1.0) / (len(correct) + 2.0)
        elif self.method == "isotonic":
            self.constant_ = None
            self.model_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            self.model_.fit(confidence, correct.astype(float), sample_weight=weights)
        else:
            self.constant_ = None
            self.model_ = LogisticRegression(C=self.C).fit(_platt_features(confidence, fired), correct, sample_weight=weights)
        self.fitted_ = True
        return self

    def threshold(self, min_precision: float) -> float:
        """The lowest calibrated probability at which pre-selected labels were right `min_precision` of the time.

        Checked on the held-out answers themselves, with a Wilson lower bound (one standard error) on
        the precision above each candidate threshold: a bar cleared by 20 lucky answers is not cleared.
        Infinity when no threshold clears it.
        """
        if min_precision not in self._thresholds:
            self._thresholds[min_precision] = self._lowest_threshold(min_precision)
        return self._thresholds[min_precision]

    def _lowest_threshold(self, min_precision: float) -> float:
        if not self.fitted_:
            return float("inf")
        confidence, fired, correct, weights = self._held_out
        probability = self.predict(confidence, fired)
        order = np.argsort(-probability, kind="stable")
        right = np.cumsum((weights * correct)[order])
        total = np.cumsum(weights[order])
        lower = wilson_interval(right, total, z=1.0)[0]
        # Only a threshold at which the calibrated probability itself claims the bar may be used.
        usable = (lower >= min_precision) & (probability[order] >= min_precision)
        if not usable.any():
            return float("inf")
        return float(probability[order][np.flatnonzero(usable).max()])

    def predict(self, confidence, fired) -> np.ndarray:
        """Probability that each top label is right; NaN everywhere while unfitted."""
        confidence = np.asarray(confidence, float)
        if not self.fitted_:
            return np.full(confidence.shape, np.nan)
        if self.constant_ is not None:
            return np.full(confidence.shape, self.constant_)
        if self.method == "isotonic":
            return self.model_.predict(confidence)
        # Two weights and an intercept: computed directly, without scikit-learn's per-call input checks.
        return sigmoid(_platt_features(confidence, np.asarray(fired, bool)) @ self.model_.coef_[0] + self.model_.intercept_[0])


def _platt_features(confidence: np.ndarray, fired: np.ndarray) -> np.ndarray:
    clipped = np.clip(confidence, 1e-4, 1 - 1e-4)
    return np.column_stack([np.log(clipped / (1 - clipped)), fired.astype(float)])


def expected_calibration_error(probability, correct, bins: int = 10) -> float:
    """Mean gap between stated probability and observed accuracy, over equal-width bins weighted by size."""
    probability, correct = np.asarray(probability, float), np.asarray(correct, float)
    if len(probability) == 0:
        return float("nan")
    which = np.minimum((probability * bins).astype(int), bins - 1)
    gap = 0.0
    for b in np.unique(which):
        inside = which == b
        gap += inside.sum() * abs(probability[inside].mean() - correct[inside].mean())
    return float(gap / len(probability))
