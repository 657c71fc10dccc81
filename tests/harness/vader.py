"""Real, human-rated text for tests: VADER's movie-review and NYT-editorial snippets (a sample, MIT)."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).resolve().parent.parent / "data" / "vader"
FILES = {"movies": "movieReviewSnippets_GroundTruth.txt", "nyt": "nytEditorialSnippets_GroundTruth.txt"}


def label_of(mean: float) -> str:
    """The common three-class reading of the raters' mean rating."""
    return "Positive" if mean >= 0.5 else ("Negative" if mean <= -0.5 else "Neutral")


def snippets(kind: str = "movies") -> list[tuple[str, str]]:
    """(text, label) pairs, in the file's order."""
    rows = []
    for line in (FOLDER / FILES[kind]).read_text(encoding="utf-8").splitlines():
        _, mean, text = line.split("\t", 2)
        rows.append((text.strip(), label_of(float(mean))))
    return rows
