"""The learned part of the default model: TF-IDF features and a linear model, with its evidence.

A linear model can say which words pushed it towards a label (feature value x coefficient),
which is what a labeler needs to check the suggestion instead of trusting it.
"""

from __future__ import annotations

import copy

import numpy as np
import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer
from threadpoolctl import threadpool_limits  # installed with scikit-learn, which uses it itself


class TextClassifier:
    """TF-IDF (words and word pairs) + logistic regression; one-vs-rest when several labels may apply.

    Parameters: `multilabel` (several labels per text), `C` (inverse regularisation strength),
    `stop_words` (words never used as evidence; None for texts not in English).
    Fitted attributes: `classes_` (label values, in the column order of `predict_proba`).
    """

    def __init__(self, multilabel: bool = False, C: float = 10.0, stop_words: str | None = "english"):
        self.multilabel = multilabel
        self.C = C
        self.stop_words = stop_words

    def fit(self, texts: list[str], labels: list, sample_weight=None) -> "TextClassifier":
        """`labels` holds one label per text, or (multilabel) a list of labels per text.

        `sample_weight` (optional, one number per text) says how much each example counts: a label
        that several trusted labelers agree on teaches more than one labeler's lone answer.
        """
        self.vectorizer_ = words_vectorizer(self.stop_words)
        features = self.vectorizer_.fit_transform(texts)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        # One BLAS thread: the problem is small, and on a busy 2-core machine BLAS threads that spin while
        # they wait made a fit on 1,000 review snippets take 1.6 s instead of 0.25 s.
        with threadpool_limits(limits=1, user_api="blas"):
            self._fit_linear_model(features, labels, weights)
        self.terms_ = self.vectorizer_.get_feature_names_out()
        sample = features[: min(20, features.shape[0])]
        # The direct arithmetic below must give scikit-learn's numbers; if a future version computes
        # them differently, the fitted model says so here and every request takes scikit-learn's path.
        self.direct_ = (np.allclose(self._direct_features(texts[:20]).toarray(), sample.toarray())
                        and np.allclose(self._direct_proba(sample), self.model_.predict_proba(sample)))
        return self

    def _fit_linear_model(self, features, labels: list, weights) -> None:
        # Balanced class weights: with a few dozen examples, label frequency must not outvote the words.
        if self.multilabel:
            self.binarizer_ = MultiLabelBinarizer()
            targets = self.binarizer_.fit_transform(labels)
            self.model_ = _one_vs_rest(self.C, features, targets, weights)
            self.classes_ = list(self.binarizer_.classes_)
            self.coef_ = np.vstack([estimator.coef_[0] for estimator in self.model_.estimators_])
            self.intercept_ = np.array([estimator.intercept_[0] for estimator in self.model_.estimators_])
            return
        model = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced")
        self.model_ = model.fit(features, labels, sample_weight=weights)
        self.classes_ = list(self.model_.classes_)
        # With two classes scikit-learn keeps one row of weights, for the second class.
        coef = self.model_.coef_
        self.coef_ = np.vstack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef
        self.intercept_ = self.model_.intercept_

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.model_.predict_proba(self.vectorizer_.transform(texts))

    # A saved model holds the vocabulary as one text, not as a dict of a million entries: skops writes
    # a dict entry by entry into its JSON schema (32 MB and 1 s to read at 1,000 snippets).

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if "vectorizer_" in state:
            vectorizer = copy.copy(self.vectorizer_)
            del vectorizer.vocabulary_
            state.update(vectorizer_=vectorizer, terms_=None, vocabulary_terms_="\n".join(map(str, self.terms_)))
        return state

    def __setstate__(self, state: dict) -> None:
        terms = state.pop("vocabulary_terms_", None)
        self.__dict__.update(state)
        if terms is not None:
            self.terms_ = np.array(terms.split("\n") if terms else [], dtype=object)
            self.vectorizer_.vocabulary_ = {term: index for index, term in enumerate(self.terms_)}

    def lesson(self, text: str, labels, weight: float = 1.0, steps: int = 3, rate: float = 1.0) -> dict | None:
        """What one new example teaches, without refitting: a few gradient steps of the log loss, vocabulary unchanged.

        Only the weights of the example's own words (and the intercepts) move, so the result is
        small and the same for every process that applies it (`learn`). Words the vocabulary lacks
        wait for the next full fit. `labels` is the example's label, or (multilabel) its labels.
        None when there is nothing to learn (no known word, or no label this model has a column for).
        """
        wanted = set(labels) if self.multilabel else {labels}
        if not wanted & set(self.classes_):
            return None  # a label this model never saw gets a column at the next full fit
        features = self.transform([text])
        columns, values = features.indices, features.data
        weights, intercept = self._weights()
        before_w, before_b = weights[:, columns].copy(), intercept.copy()
        w, b = before_w.copy(), before_b.copy()
        target = np.array([float(label in wanted) for label in self.classes_])
        if len(self.classes_) == 2 and not self.multilabel:
            target = target[1:]  # scikit-learn's one row: the log-odds of the second class
        for _ in range(steps):
            error = (self._probabilities(w @ values + b) - target) * (weight * rate)
            w -= np.outer(error, values)
            b -= error
        return {"columns": columns.tolist(), "weights": (w - before_w).tolist(), "intercept": (b - before_b).tolist()}

    def learn(self, lesson: dict) -> None:
        """Apply a `lesson`: every process that applies the same lessons in the same order holds the same model."""
        columns = np.asarray(lesson["columns"], dtype=int)
        change, shift = np.asarray(lesson["weights"]), np.asarray(lesson["intercept"])
        if self.multilabel:
            for k, estimator in enumerate(self.model_.estimators_):
                estimator.coef_[0, columns] += change[k]
                estimator.intercept_[0] += shift[k]
            self.coef_[:, columns] += change
            self.intercept_ += shift
        elif len(self.classes_) == 2:
            self.model_.coef_[0, columns] += change[0]
            self.model_.intercept_[0] += shift[0]
            self.coef_[0, columns], self.coef_[1, columns] = -self.model_.coef_[0, columns], self.model_.coef_[0, columns]
            self.intercept_[0] = self.model_.intercept_[0]
        else:
            self.model_.coef_[:, columns] += change
            self.model_.intercept_ += shift
            # One array at fit time; two after a saved model is read back.
            self.coef_[:, columns], self.intercept_[:] = self.model_.coef_[:, columns], self.model_.intercept_

    def _weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The linear model's own parameters: a row per label (one row for a two-class model), and the intercepts."""
        if self.multilabel:
            return self.coef_, self.intercept_
        return self.model_.coef_, self.model_.intercept_

    def _probabilities(self, scores: np.ndarray) -> np.ndarray:
        """The linear model's probabilities from its scores (one text): per label, of the second class, or a softmax."""
        if self.multilabel or len(self.classes_) == 2:
            return sigmoid(scores)
        scores = np.exp(scores - scores.max())
        return scores / scores.sum()

    def transform(self, texts: list[str]):
        if getattr(self, "direct_", False):
            return self._direct_features(texts)
        return self.vectorizer_.transform(texts).tocsr()

    def predict_proba_features(self, features) -> np.ndarray:
        if getattr(self, "direct_", False):
            return self._direct_proba(features)
        return self.model_.predict_proba(features)

    # scikit-learn checks every input again on each call (tens of microseconds a call); features
    # that come from our own vectorizer need none of it, so a request does the arithmetic directly.

    def _direct_features(self, texts: list[str]):
        """TF-IDF exactly as the fitted vectorizer computes it: sublinear counts x idf, rows L2-normalised."""
        counts = CountVectorizer.transform(self.vectorizer_, texts).tocsr().astype(np.float64)
        data = counts.data
        np.log(data, out=data)
        data += 1.0
        data *= self.vectorizer_.idf_[counts.indices]
        row_of = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        norms = np.sqrt(np.bincount(row_of, weights=data * data, minlength=counts.shape[0]))
        data /= norms[row_of]
        return counts

    def _direct_proba(self, features) -> np.ndarray:
        """The linear model's probabilities: a sigmoid per label (one-vs-rest, binary) or a softmax."""
        if self.multilabel:
            return sigmoid(np.asarray(features @ self.coef_.T) + self.intercept_)
        if len(self.classes_) == 2:
            positive = sigmoid(np.asarray(features @ self.model_.coef_[0]) + self.intercept_[0])
            return np.column_stack([1.0 - positive, positive])
        scores = np.asarray(features @ self.coef_.T) + self.intercept_
        scores -= scores.max(axis=1, keepdims=True)
        np.exp(scores, out=scores)
        return scores / scores.sum(axis=1, keepdims=True)

    def evidence_batch(self, features, labels: list[str | None], top: int = 3, min_weight: float = 0.0) -> list[list[str]]:
        """Per row of a CSR feature matrix, the terms that pushed the model most towards that row's label.

        Only terms whose pull (TF-IDF value x coefficient) exceeds `min_weight` count.
        Rows whose label is None (or unknown to the model) get []. Reads the CSR arrays directly:
        slicing sparse rows one by one costs more than the whole prediction.
        """
        column = {label: index for index, label in enumerate(self.classes_)}
        wanted = np.array([column.get(label, -1) for label in labels])
        counts = np.diff(features.indptr)
        rows = np.repeat(np.arange(len(labels)), counts)
        keep = wanted[rows] >= 0
        weights = np.zeros(len(rows))
        weights[keep] = features.data[keep] * self.coef_[wanted[rows[keep]], features.indices[keep]]
        # Sort each row's entries by weight, largest first, in one pass over the whole batch.
        order = np.lexsort((-weights, rows))
        found = []
        for row, start in enumerate(features.indptr[:-1]):
            best = order[start:start + min(top, counts[row])] if wanted[row] >= 0 else ()
            found.append([str(self.terms_[features.indices[i]]) for i in best if weights[i] > max(min_weight, 0.0)])
        return found

    @staticmethod
    def can_fit(labels: list, multilabel: bool) -> bool:
        """A classifier needs two distinct labels to learn anything."""
        distinct = {label for item in labels for label in item} if multilabel else set(labels)
        return len(distinct) >= 2


def _one_vs_rest(C: float, features, targets, weights) -> OneVsRestClassifier:
    """One logistic regression per label; scikit-learn hands sample weights on only when asked to route them."""
    estimator = LogisticRegression(C=C, max_iter=1000, class_weight="balanced")
    if weights is None:
        return OneVsRestClassifier(estimator).fit(features, targets)
    with sklearn.config_context(enable_metadata_routing=True):
        return OneVsRestClassifier(estimator.set_fit_request(sample_weight=True)).fit(features, targets, sample_weight=weights)


def words_vectorizer(stop_words: str | None = "english") -> TfidfVectorizer:
    """The TF-IDF of every text model here: words and word pairs, dampened counts, accents folded."""
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", stop_words=stop_words)


def sigmoid(values: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * values))  # the logistic function, without overflow warnings
