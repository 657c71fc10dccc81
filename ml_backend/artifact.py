"""A fitted model on disk, in a format that cannot run code when it is read (skops, never pickle).

Anyone who can write the model directory could turn a pickle into code run by every server that
loads it. A skops file holds only data and the names of the types to rebuild; a file naming any
type that is neither scikit-learn's, NumPy's nor one of ls-context's own is refused unread.
"""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

# ls-context's own types in a fitted model, and the few general ones skops does not trust by itself.
OWN_TYPES = frozenset({
    "builtins.frozenset",
    "scipy.sparse._csr.csr_matrix",
    "ml_backend.calibration.Calibration",
    "ml_backend.choices.Learned",
    "ml_backend.classifier.TextClassifier",
    "ml_backend.embeddings.Embedder",
    "ml_backend.embeddings.EmbeddingTextClassifier",
    "ml_backend.embeddings.SimilarityIndex",
    "ml_backend.examples.Example",
    "ml_backend.fields.FieldWords",
})


class Refused(Exception):
    """The file names types that are not allowed; it was not read."""


def save(path: Path, saved: dict) -> None:
    """Write `saved` to `path` whole or not at all (a reader never sees half a file)."""
    import skops.io

    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(skops.io.dumps(saved))
    temporary.replace(path)


def load(path: Path, also_trusted: frozenset = frozenset()) -> dict | None:
    """The saved dict, or None when there is none; `Refused` when it names a type it may not.

    `also_trusted`: the type names of a classifier the configuration brings, trusted as the code is.
    """
    import skops.io

    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        unknown = set(skops.io.get_untrusted_types(data=data)) - OWN_TYPES - also_trusted
        if unknown:
            raise Refused(f"{path} names types that are not ls-context's: {', '.join(sorted(unknown))}")
        return skops.io.loads(data, trusted=sorted(OWN_TYPES | also_trusted))
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, ImportError) as error:
        raise Refused(f"{path} is not a model this version can read: {type(error).__name__}: {error}") from None
