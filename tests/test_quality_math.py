"""Agreement and truth inference, checked against independent references and known truth."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import interval_distance
from sklearn.metrics import cohen_kappa_score

from ls_context.quality.agreement import (
    MISSING, cohen_kappa, cohen_matrix, fleiss_kappa, krippendorff_alpha, mean_pairwise, per_label_agreement,
)
from ls_context.quality.truth import DawidSkene, MajorityVote

# units x labelers, with MISSING where a labeler did not label the unit
matrices = st.integers(2, 4).flatmap(
    lambda labels: st.tuples(
        st.just(labels),
        st.lists(st.lists(st.integers(-1, labels - 1), min_size=3, max_size=3), min_size=4, max_size=30).map(np.array),
    )
)


@settings(max_examples=200, deadline=None)
@given(matrices)
def test_cohen_kappa_matches_scikit_learn(case):
    n_labels, matrix = case
    a, b = matrix[:, 0], matrix[:, 1]
    both = (a != MISSING) & (b != MISSING)
    ours = cohen_kappa(a, b, n_labels)

    if both.sum() < 2 or len(set(a[both]) | set(b[both])) < 2:
        return  # scikit-learn is undefined there too
    reference = cohen_kappa_score(a[both], b[both], labels=list(range(n_labels)))
    assert ours == pytest.approx(reference, nan_ok=True)


def nltk_alpha(matrix, distance=None):
    data = [(str(w), str(u), int(matrix[u, w])) for u in range(matrix.shape[0]) for w in range(matrix.shape[1]) if matrix[u, w] != MISSING]
    task = AnnotationTask(data=data, distance=distance) if distance else AnnotationTask(data=data)
    return task.alpha()


@settings(max_examples=150, deadline=None)
@given(matrices)
def test_krippendorff_alpha_matches_nltk_with_missing_data(case):
    n_labels, matrix = case
    pairable = matrix[(matrix != MISSING).sum(axis=1) >= 2]
    values = pairable[pairable != MISSING]
    if len(pairable) < 2 or len(set(values)) < 2:
        return  # alpha is undefined without variation
    assert krippendorff_alpha(matrix, n_labels) == pytest.approx(nltk_alpha(pairable), abs=1e-9)
    assert krippendorff_alpha(matrix, n_labels, "interval") == pytest.approx(nltk_alpha(pairable, interval_distance), abs=1e-9)


def test_interval_alpha_on_a_hand_checked_example():
    # Two raters, ratings 1..3 coded 0..2: (1,1) (2,2) (3,3) (1,2). Coincidences by hand:
    # o_11=2, o_22=2, o_33=2, o_12=o_21=1; n_c = 3, 3, 2; n = 8.
    # D_o ∝ 2*1^2 = 2; D_e ∝ (3*3*1 + 3*2*4 + 3*2*1)*2 / 7 = 78/7. alpha = 1 - 2*7/78 = 0.8205...
    matrix = np.array([[0, 0], [1, 1], [2, 2], [0, 1]])

    assert krippendorff_alpha(matrix, 3, "interval") == pytest.approx(1 - 14 / 78)


def test_fleiss_kappa_on_the_textbook_example():
    # Fleiss (1971) style example from the literature: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = np.array([
        [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
    ])
    matrix = np.array([np.repeat(np.arange(5), row) for row in table])

    assert fleiss_kappa(matrix, 5) == pytest.approx(0.2099, abs=1e-4)


def test_cohen_matrix_and_per_label_agreement():
    matrix = np.array([[0, 0, 1], [1, 1, 1], [0, 0, 0], [1, 0, MISSING]])

    kappas = cohen_matrix(matrix, 2)

    assert kappas[0, 1] == pytest.approx(cohen_kappa_score([0, 1, 0, 1], [0, 1, 0, 0]))
    assert kappas[1, 0] == kappas[0, 1] and kappas[2, 2] == 1.0
    assert mean_pairwise(kappas) == pytest.approx(np.nanmean([kappas[0, 1], kappas[0, 2], kappas[1, 2]]))
    # Label 1: unit 0 gives 1 (0 agreeing pairs of 2), unit 1 all three (6 of 6), unit 3 one of two (0 of 1).
    assert per_label_agreement(matrix, 2)[1] == pytest.approx(6 / 9)


def test_dawid_skene_hand_worked_case():
    # Three tasks, three labelers; labeler 2 always says the opposite of the other two.
    tasks = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    labelers = [0, 1, 2] * 3
    labels = [0, 0, 1, 1, 1, 0, 0, 0, 1]

    model = DawidSkene().fit(tasks, labelers, labels, n_tasks=3, n_labels=2)

    assert list(model.labels_) == [0, 1, 0]
    # Labeler 2's confusion matrix learns the flip: given true 0 it says 1.
    assert model.errors_[2, 0, 1] > 0.9 and model.errors_[0, 0, 0] > 0.9
    assert np.allclose(model.probas_.sum(axis=1), 1)


def test_dawid_skene_clamps_gold():
    model = DawidSkene().fit([0, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0], n_tasks=2, n_labels=2, gold=np.array([0, -1]))

    assert model.labels_[0] == 0 and model.probas_[0, 0] == 1.0


def synthetic(n_tasks, accuracies, n_labels, seed, per_task=3):
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_labels, n_tasks)
    tasks, labelers, labels = [], [], []
    for task in range(n_tasks):
        for labeler in rng.choice(len(accuracies), per_task, replace=False):
            correct = rng.random() < accuracies[labeler]
            label = truth[task] if correct else rng.choice([k for k in range(n_labels) if k != truth[task]])
            tasks.append(task), labelers.append(labeler), labels.append(label)
    return truth, np.array(tasks), np.array(labelers), np.array(labels)


def test_dawid_skene_recovers_truth_better_than_majority_when_skills_differ():
    accuracies = [0.95, 0.9, 0.85, 0.35, 0.3, 0.3]  # three good labelers, three near-spammers
    truth, tasks, labelers, labels = synthetic(2000, accuracies, 4, seed=3)

    ds = DawidSkene().fit(tasks, labelers, labels, n_tasks=2000, n_labels=4)
    mv = MajorityVote().fit(tasks, labelers, labels, n_tasks=2000, n_labels=4)

    ds_accuracy, mv_accuracy = (ds.labels_ == truth).mean(), (mv.labels_ == truth).mean()
    assert ds_accuracy > mv_accuracy + 0.03
    estimated_skill = np.array([np.trace(e * ds.priors_[:, None]) for e in ds.errors_])
    assert np.allclose(estimated_skill, accuracies, atol=0.05)


def test_empty_input_is_an_early_answer():
    model = DawidSkene().fit([], [], [], n_tasks=2, n_labels=3, n_labelers=1)

    assert list(model.labels_) == [-1, -1]
