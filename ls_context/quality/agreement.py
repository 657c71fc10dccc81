"""Agreement between labelers: Cohen's kappa, Fleiss' kappa and Krippendorff's alpha, with missing data.

Labels are integer codes (0..K-1); -1 means "this labeler did not label this unit".
"""

from __future__ import annotations

import numpy as np

MISSING = -1


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_labels: int) -> float:
    """Cohen's kappa of two labelers over the units both labeled (nan when fewer than 2)."""
    both = (a != MISSING) & (b != MISSING)
    a, b = a[both], b[both]
    if len(a) < 2:
        return float("nan")
    table = np.zeros((n_labels, n_labels))
    np.add.at(table, (a, b), 1)
    table /= table.sum()
    observed = np.trace(table)
    expected = table.sum(axis=1) @ table.sum(axis=0)
    if expected == 1:
        return 1.0 if observed == 1 else float("nan")
    return float((observed - expected) / (1 - expected))


def cohen_matrix(matrix: np.ndarray, n_labels: int) -> np.ndarray:
    """Pairwise Cohen's kappa of every two labelers; `matrix` is units x labelers."""
    labelers = matrix.shape[1]
    kappas = np.full((labelers, labelers), np.nan)
    for i in range(labelers):
        kappas[i, i] = 1.0
        for j in range(i + 1, labelers):
            kappas[i, j] = kappas[j, i] = cohen_kappa(matrix[:, i], matrix[:, j], n_labels)
    return kappas


def mean_pairwise(kappas: np.ndarray) -> float:
    upper = kappas[np.triu_indices_from(kappas, k=1)]
    upper = upper[~np.isnan(upper)]
    return float(upper.mean()) if len(upper) else float("nan")


def fleiss_kappa(matrix: np.ndarray, n_labels: int) -> float:
    """Fleiss' kappa over units with at least two labels, allowing a varying number of raters per unit."""
    counts = _counts(matrix, n_labels)
    raters = counts.sum(axis=1)
    counts, raters = counts[raters >= 2], raters[raters >= 2]
    if len(counts) == 0:
        return float("nan")
    per_unit = ((counts * (counts - 1)).sum(axis=1)) / (raters * (raters - 1))
    observed = per_unit.mean()
    shares = counts.sum(axis=0) / raters.sum()
    expected = (shares ** 2).sum()
    if expected == 1:
        return 1.0 if observed == 1 else float("nan")
    return float((observed - expected) / (1 - expected))


def krippendorff_alpha(matrix: np.ndarray, n_labels: int, metric: str = "nominal", values: np.ndarray | None = None) -> float:
    """Krippendorff's alpha from the coincidence matrix; `metric` is "nominal" or "interval".

    For "interval", `values[k]` is the number that label code k stands for (default: k itself).
    Krippendorff (2011), Computing Krippendorff's Alpha-Reliability.
    """
    counts = _counts(matrix, n_labels)
    pairable = counts.sum(axis=1)
    counts, pairable = counts[pairable >= 2], pairable[pairable >= 2]
    if len(counts) == 0:
        return float("nan")
    # Coincidences: each unit contributes m_u(m_u - 1) ordered pairs, weighted by 1 / (m_u - 1).
    weights = 1.0 / (pairable - 1)
    coincidence = np.einsum("u,uc,uk->ck", weights, counts, counts) - np.diag((counts * weights[:, None]).sum(axis=0))
    marginals = coincidence.sum(axis=0)
    total = marginals.sum()
    if metric == "nominal":
        distance = 1.0 - np.eye(n_labels)
    elif metric == "interval":
        points = np.arange(n_labels, dtype=float) if values is None else np.asarray(values, dtype=float)
        distance = (points[:, None] - points[None, :]) ** 2
    else:
        raise ValueError(f"unknown metric {metric!r}")
    observed = (coincidence * distance).sum()
    expected = (np.outer(marginals, marginals) * distance).sum() / (total - 1)
    if expected == 0:
        return 1.0 if observed == 0 else float("nan")
    return float(1.0 - observed / expected)


def per_label_agreement(matrix: np.ndarray, n_labels: int) -> np.ndarray:
    """Specific agreement per label: when a labeler gives label c, the share of other labelers on that unit who agree."""
    counts = _counts(matrix, n_labels)
    raters = counts.sum(axis=1, keepdims=True)
    agreeing = (counts * (counts - 1)).sum(axis=0)
    possible = (counts * (raters - 1)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(possible > 0, agreeing / possible, np.nan)


def _counts(matrix: np.ndarray, n_labels: int) -> np.ndarray:
    """units x labels: how many labelers gave each label to each unit."""
    units, labelers = np.nonzero(matrix != MISSING)
    cells = units * n_labels + matrix[units, labelers]
    return np.bincount(cells, minlength=matrix.shape[0] * n_labels).reshape(matrix.shape[0], n_labels).astype(float)
