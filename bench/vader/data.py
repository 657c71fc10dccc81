"""VADER's human-rated movie-review and NYT-editorial snippets as (text, label) pairs.

Real text that nobody in this project wrote, so benchmarks cannot flatter guidelines tuned to our own examples.

    python bench/real/data.py    # count and class shares of each data set
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

ENV = "LS_CONTEXT_VADER_DIR"
FILES = {"movie-reviews": "movieReviewSnippets_GroundTruth.txt", "nyt-editorials": "nytEditorialSnippets_GroundTruth.txt"}
LABELS = ("Positive", "Negative", "Neutral")


def data_dir() -> Path:
    return Path(os.environ.get(ENV) or Path(__file__).resolve().parents[2].parent / "shared" / "data" / "vader")


def label(mean: float) -> str:
    """The three classes the data set's README suggests for the raters' mean (-4..4)."""
    return "Positive" if mean >= 0.5 else "Negative" if mean <= -0.5 else "Neutral"


def load(name: str) -> list[tuple[str, str]]:
    """(text, label) pairs of `name` ("movie-reviews" or "nyt-editorials"), first of identical texts only."""
    if name not in FILES:
        raise ValueError(f"unknown data set {name!r} (known: {', '.join(FILES)})")
    path = data_dir() / FILES[name]
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: set {ENV} to the folder holding the VADER GroundTruth files")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # the shipped files are UTF-8; another copy of them may be Windows-encoded
        text = raw.decode("latin-1")
    pairs, seen = [], set()
    for line in text.splitlines():
        if not line.strip():
            continue
        _, mean, snippet = line.split("\t", 2)
        snippet = snippet.strip()
        # Duplicates would count twice in a benchmark and could straddle a train/test split.
        if snippet not in seen:
            seen.add(snippet)
            pairs.append((snippet, label(float(mean))))
    return pairs


if __name__ == "__main__":
    for name in FILES:
        counts = Counter(label for _, label in load(name))
        total = sum(counts.values())
        shares = ", ".join(f"{value} {counts[value] / total:.1%}" for value in LABELS)
        print(f"{name}: {total:,} texts; {shares}")
