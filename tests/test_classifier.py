"""The default classifier: its direct arithmetic gives scikit-learn's numbers, and its evidence names real words."""

import random

import numpy as np
import pytest

from ml_backend.classifier import TextClassifier

WORDS = {
    "urgent": ["fraud", "cancel today", "store opens tomorrow", "someone is hurt"],
    "routine": ["how do I change it", "where can I find the invoice", "is there a way to export"],
    "feedback": ["love the new design", "a suggestion for you", "nice work team"],
}


def texts_and_labels(n, seed=0):
    rng = random.Random(seed)
    found = []
    for _ in range(n):
        label = rng.choice(sorted(WORDS))
        found.append((f"{rng.choice(WORDS[label])} about order #{rng.randint(1, 999)} {rng.choice(['please', 'thanks', ''])}", label))
    return [t for t, _ in found], [label for _, label in found]


@pytest.mark.parametrize("kind", ["multiclass", "two labels", "multilabel"])
def test_direct_features_and_probabilities_equal_scikit_learns(kind):
    texts, labels = texts_and_labels(200)
    if kind == "two labels":
        labels = [label if label == "urgent" else "other" for label in labels]
    if kind == "multilabel":
        labels = [[label] + (["follow-up"] if i % 3 == 0 else []) for i, label in enumerate(labels)]
    model = TextClassifier(multilabel=kind == "multilabel").fit(texts, labels)
    assert model.direct_

    unseen = texts_and_labels(60, seed=1)[0] + ["", "words the model never saw", "Fraud! FRAUD?"]
    features = model.transform(unseen)
    reference = model.vectorizer_.transform(unseen)
    assert np.allclose(features.toarray(), reference.toarray(), atol=1e-12)
    assert np.allclose(model.predict_proba_features(features), model.model_.predict_proba(reference), atol=1e-12)
    assert np.allclose(model.predict_proba_features(features), model.predict_proba(unseen), atol=1e-12)


def test_a_model_whose_direct_numbers_differ_takes_scikit_learns_path(monkeypatch):
    texts, labels = texts_and_labels(100)
    monkeypatch.setattr(TextClassifier, "_direct_proba", lambda self, features: np.zeros((features.shape[0], 3)))
    model = TextClassifier().fit(texts, labels)

    assert not model.direct_
    assert np.allclose(model.predict_proba_features(model.transform(texts[:5])), model.predict_proba(texts[:5]))


def test_evidence_names_the_words_that_pushed_each_row_towards_its_label():
    texts, labels = texts_and_labels(200)
    model = TextClassifier().fit(texts, labels)
    features = model.transform(["fraud about order #5", "love the new design", "fraud about order #6"])

    found = model.evidence_batch(features, ["urgent", "feedback", None])

    assert "fraud" in found[0]
    assert set(found[1]) & {"love", "design", "new design", "love new"}
    assert found[2] == []  # a row explained by a rule gets no words


@pytest.mark.parametrize("multilabel", [False, True])
def test_sample_weights_decide_between_answers_that_disagree(multilabel):
    texts, labels = texts_and_labels(120)
    disputed = ["the parcel is late again"] * 6
    answers = ["urgent"] * 3 + ["routine"] * 3

    def chance_of_urgent(weights_of_urgent, weights_of_routine):
        weights = [1.0] * len(texts) + [weights_of_urgent] * 3 + [weights_of_routine] * 3
        targets = labels + answers
        model = TextClassifier(multilabel=multilabel).fit(
            texts + disputed, [[t] for t in targets] if multilabel else targets, sample_weight=weights)
        assert model.direct_
        return model.predict_proba(["the parcel is late again"])[0][model.classes_.index("urgent")]

    assert chance_of_urgent(1.0, 0.05) > 0.5 > chance_of_urgent(0.05, 1.0)
