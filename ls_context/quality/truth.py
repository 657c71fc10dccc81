"""Truth inference from overlapping labels: majority vote and Dawid-Skene.

Both take integer-coded arrays of equal length: `tasks` (0..T-1), `labelers` (0..W-1) and
`labels` (0..K-1), one entry per label given, and return per-task label probabilities.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse


class MajorityVote:
    """Each task's label is the one most labelers gave; confidence is its share of the votes.

    Fitted attributes: `probas_` (T x K vote shares), `labels_` (T,), ties broken by the lower code.
    """

    def fit(self, tasks, labelers, labels, n_tasks: int, n_labels: int) -> "MajorityVote":
        tasks, labels = np.asarray(tasks), np.asarray(labels)
        votes = np.bincount(tasks.astype(np.int64) * n_labels + labels, minlength=n_tasks * n_labels).reshape(n_tasks, n_labels).astype(float)
        totals = votes.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.probas_ = np.where(totals > 0, votes / totals, np.nan)
        self.labels_ = np.where(totals[:, 0] > 0, votes.argmax(axis=1), -1)
        return self


class DawidSkene:
    """Dawid-Skene: each labeler has a confusion matrix; EM alternates task posteriors and the matrices.

    A. P. Dawid and A. M. Skene (1979), Maximum Likelihood Estimation of Observer Error-Rates
    Using the EM Algorithm, Applied Statistics 28(1), doi:10.2307/2346806.

    Parameters: `n_iter` (at most this many EM steps), `tol` (stop when no posterior moves more),
    `smoothing` (pseudo-count added to every confusion cell, so an unseen cell is not impossible).
    Fitted attributes: `probas_` (T x K posteriors), `labels_` (T,), `errors_` (W x K x K confusion
    matrices, rows = true label), `priors_` (K,), `n_iter_`.
    Gold answers (`gold`: T array, -1 where unknown) are clamped: those tasks' posteriors stay one-hot.
    """

    def __init__(self, n_iter: int = 100, tol: float = 1e-5, smoothing: float = 0.01):
        self.n_iter, self.tol, self.smoothing = n_iter, tol, smoothing

    def fit(self, tasks, labelers, labels, n_tasks: int, n_labels: int, n_labelers: int | None = None, gold=None) -> "DawidSkene":
        tasks, labelers, labels = (np.asarray(a) for a in (tasks, labelers, labels))  # int32 columns stay int32
        n_labelers = n_labelers or (int(labelers.max()) + 1 if len(labelers) else 0)
        if len(tasks) == 0:  # nothing to infer from
            self.probas_ = np.full((n_tasks, n_labels), np.nan)
            self.labels_ = np.full(n_tasks, -1)
            self.errors_ = np.zeros((n_labelers, n_labels, n_labels))
            self.priors_, self.n_iter_ = np.full(n_labels, 1.0 / n_labels), 0
            return self
        gold = np.full(n_tasks, -1) if gold is None else np.asarray(gold)
        clamped = gold >= 0
        posteriors = MajorityVote().fit(tasks, labelers, labels, n_tasks, n_labels).probas_
        posteriors = np.nan_to_num(posteriors, nan=1.0 / n_labels)
        posteriors[clamped] = np.eye(n_labels)[gold[clamped]]
        # One sparse matrix links tasks to (labeler, label given) pairs; both EM steps become one
        # sparse-dense product each instead of a pass over every label in Python or np.add.at.
        pairs = sparse.csr_matrix(
            (np.ones(len(tasks)), (tasks, labelers * n_labels + labels)), shape=(n_tasks, n_labelers * n_labels),
        )
        pairs_by_labeler = pairs.T  # a view (CSC), not a second copy: at millions of labels memory counts
        for step in range(1, self.n_iter + 1):
            errors, priors = self._m_step(posteriors, pairs_by_labeler, n_labelers, n_labels)
            updated = self._e_step(errors, priors, pairs)
            updated[clamped] = posteriors[clamped]
            moved = np.abs(updated - posteriors).max()
            posteriors = updated
            if moved < self.tol:
                break
        self.errors_, self.priors_, self.n_iter_ = errors, priors, step
        labeled = np.bincount(tasks, minlength=n_tasks) > 0
        self.probas_ = np.where((labeled | clamped)[:, None], posteriors, np.nan)
        self.labels_ = np.where(labeled | clamped, posteriors.argmax(axis=1), -1)
        return self

    def _m_step(self, posteriors, pairs_by_labeler, n_labelers, n_labels):
        # Row w*K + given of (pairs^T @ posteriors) sums P(true = k) over the labels w gave as `given`.
        sums = (pairs_by_labeler @ posteriors).reshape(n_labelers, n_labels, n_labels)  # [w, given, true]
        errors = sums.transpose(0, 2, 1) + self.smoothing  # [w, true, given]
        errors /= errors.sum(axis=2, keepdims=True)
        priors = posteriors.sum(axis=0) + self.smoothing  # never exactly zero: its log is taken next
        return errors, priors / priors.sum()

    def _e_step(self, errors, priors, pairs):
        # Work in log space: a task with many labels multiplies many small probabilities.
        log_errors = np.log(errors).transpose(0, 2, 1).reshape(-1, len(priors))  # row w*K + given, column true
        log_post = np.log(priors) + pairs @ log_errors
        log_post -= log_post.max(axis=1, keepdims=True)  # shift each row by its max before exponentiating
        posteriors = np.exp(log_post)
        return posteriors / posteriors.sum(axis=1, keepdims=True)
