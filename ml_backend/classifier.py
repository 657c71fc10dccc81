"""The learned part of the default model: TF-IDF features and a linear model, with its evidence.

A linear model can say which words pushed it towards a label (feature value x coefficient),
which is what a labeler needs to check the suggestion instead of trusting it.
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer


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

    def fit(self, texts: list[str], labels: list) -> "TextClassifier":
        """`labels` holds one label per text, or (multilabel) a list of labels per text."""
        self.vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), sublinear_tf=True, strip_accents="unicode", stop_words=self.stop_words,
        )
        features = self.vectorizer_.fit_transform(texts)
        if self.multilabel:
            self.binarizer_ = MultiLabelBinarizer()
            targets = self.binarizer_.fit_transform(labels)
            self.model_ = OneVsRestClassifier(LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced")).fit(features, targets)
            self.classes_ = list(self.binarizer_.classes_)
            self.coef_ = np.vstack([estimator.coef_[0] for estimator in self.model_.estimators_])
        else:
            # Balanced weights: with a few dozen examples, label frequency must not outvote the words.
            self.model_ = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced").fit(features, labels)
            self.classes_ = list(self.model_.classes_)
            # With two classes scikit-learn keeps one row of weights, for the second class.
            coef = self.model_.coef_
            self.coef_ = np.vstack([-coef[0], coef[0]]) if coef.shape[0] == 1 else coef
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.model_.predict_proba(self.vectorizer_.transform(texts))

    def transform(self, texts: list[str]):
        return self.vectorizer_.transform(texts).tocsr()

    def predict_proba_features(self, features) -> np.ndarray:
        return self.model_.predict_proba(features)

    def evidence(self, features, row: int, label: str, top: int = 3) -> list[str]:
        """The terms of text `row` of a CSR feature matrix that pushed the model most towards `label`."""
        if label not in self.classes_:
            return []
        # Read the CSR arrays directly: slicing a sparse row costs more than the whole prediction.
        start, end = features.indptr[row], features.indptr[row + 1]
        indices = features.indices[start:end]
        weights = features.data[start:end] * self.coef_[self.classes_.index(label), indices]
        order = np.argsort(-weights)[:top]
        return [str(self.terms_[indices[i]]) for i in order if weights[i] > 0]

    @staticmethod
    def can_fit(labels: list, multilabel: bool) -> bool:
        """A classifier needs two distinct labels to learn anything."""
        distinct = {label for item in labels for label in item} if multilabel else set(labels)
        return len(distinct) >= 2
