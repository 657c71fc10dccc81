"""The model registry: each project's model, built once, kept in memory and on disk, swapped whole after a refit.

/health and /setup are called dozens of times a session: they only read what is already here.
A model is built on the first /predict for its project (or loaded from the model directory), and
rebuilt only when the label config or the project's guidelines (from the store) change, or when
the trainer refits it.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points

from ls_context.config import Config
from ls_context.errors import LSContextError
from ls_context.guidelines import Guidelines
from ls_context.guidelines.book import GuidelinesBook

from . import artifact
from .context_model import ContextModel
from .learning import examples_from_store

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "ls_context.classifiers"
# Bumped when what a saved model holds changes, so a model saved by an older version is refitted, not misread.
SAVED_FORMAT = "4"  # 2: a classifier without the gold answers; 3: calibration, fields; 4: skops instead of pickle
MODEL_FILE = "model.skops"


@dataclass
class Loaded:
    model: ContextModel
    version: str
    config_hash: str


class ModelRegistry:
    """Models by project id; thread-safe; the only place models are built."""

    def __init__(self, config: Config, store, book: GuidelinesBook):
        self.config = config
        self.store = store
        self.book = book
        self.classifier_factory = load_classifier_factory(config.classifier, config.embeddings)
        # A classifier the configuration names is trusted as its code is: its type may be in a saved model.
        self.classifier_types = frozenset({config.classifier.replace(":", ".")} if config.classifier and ":" in config.classifier else ())
        self._loaded: dict[str, Loaded] = {}
        self._configs: dict[str, str] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    # -- cheap reads ------------------------------------------------------------------------

    def remember_config(self, project_id: str, label_config: str) -> None:
        if label_config:
            self._configs[project_id] = label_config

    def version(self, project_id: str) -> str:
        loaded = self._loaded.get(project_id)
        if loaded is not None:
            return loaded.version
        version_file = self.config.project_dir(project_id) / "version"
        return version_file.read_text().strip() if version_file.exists() else self.initial_version(project_id)

    def versions(self) -> dict[str, str]:
        return {project_id: loaded.version for project_id, loaded in self._loaded.items()}

    # -- building -------------------------------------------------------------------------

    def model(self, project_id: str, label_config: str | None = None) -> Loaded:
        """The project's model for this label config, built or loaded at most once."""
        label_config = label_config or self._configs.get(project_id)
        if not label_config:
            raise LSContextError(f"project {project_id}: no label config known yet (Label Studio sends it in /setup and /predict)")
        self.remember_config(project_id, label_config)
        wanted = self._hash(project_id, label_config)
        loaded = self._loaded.get(project_id)
        if loaded is not None and loaded.config_hash == wanted:
            return loaded
        with self._project_lock(project_id):
            loaded = self._loaded.get(project_id)
            if loaded is None or loaded.config_hash != wanted:
                loaded = self._from_disk(project_id, wanted) or self._fit(project_id, label_config, bump=loaded is not None)
                self._loaded[project_id] = loaded
            return loaded

    def refit(self, project_id: str) -> Loaded | None:
        """Fit a new model from everything known (called by the trainer thread) and swap it in."""
        label_config = self._configs.get(project_id)
        if not label_config:
            log.debug("project %s: nothing to refit before the first /setup or /predict", project_id)
            return None
        with self._project_lock(project_id):
            loaded = self._fit(project_id, label_config, bump=True)
            self._loaded[project_id] = loaded
        return loaded

    def _fit(self, project_id: str, label_config: str, bump: bool) -> Loaded:
        """Read what the store teaches (gold answers, trusted consensus) and fit; the store is read here, never per request."""
        guidelines = self.guidelines(project_id)
        model = ContextModel(label_config, guidelines, self.classifier_factory)
        fields = {choice.name: choice.field for choice in model.choices}
        model.fit(examples_from_store(self.store, int(project_id), fields, guidelines.gate if guidelines else None))
        version = self._next_version(project_id) if bump else self.version(project_id)
        loaded = Loaded(model, version, self._hash(project_id, label_config))
        self._save(project_id, loaded)
        if model.examples_used == 0 and model.choices:
            log.warning("project %s: model %s fitted on 0 examples: only decision rules pre-annotate until "
                        "the guidelines have examples or labelers annotate", project_id, version)
        else:
            log.info("project %s: model %s fitted on %d examples", project_id, version, model.examples_used)
        return loaded

    def guidelines(self, project_id: str) -> Guidelines | None:
        """The project's newest guidelines from the store (else the server's default file)."""
        return self.book.latest(project_id)

    def initial_version(self, project_id: str) -> str:
        guidelines = self.guidelines(project_id)
        return f"ls-context-g{guidelines.version}-r0" if guidelines else "ls-context-r0"

    def _next_version(self, project_id: str) -> str:
        stem, _, number = self.version(project_id).rpartition("-r")
        guidelines = self.guidelines(project_id)
        base = f"ls-context-g{guidelines.version}" if guidelines else "ls-context"
        return f"{base}-r{int(number) + 1 if number.isdigit() else 1}"

    # -- disk ---------------------------------------------------------------------------------

    def _save(self, project_id: str, loaded: Loaded) -> None:
        directory = self.config.project_dir(project_id)
        directory.mkdir(parents=True, exist_ok=True)
        learned = {choice.name: choice.learned() for choice in loaded.model.choices}
        saved = {"hash": loaded.config_hash, "learned": learned, "examples_used": loaded.model.examples_used}
        artifact.save(directory / MODEL_FILE, saved)
        (directory / "version").write_text(loaded.version + "\n")

    def _from_disk(self, project_id: str, wanted_hash: str) -> Loaded | None:
        path = self.config.project_dir(project_id) / MODEL_FILE
        try:
            saved = artifact.load(path, self.classifier_types)
        except artifact.Refused as refused:
            log.warning("project %s: saved model refused, refitting instead: %s", project_id, refused)
            return None
        if not isinstance(saved, dict) or saved.get("hash") != wanted_hash:
            return None
        model = ContextModel(self._configs[project_id], self.guidelines(project_id), self.classifier_factory)
        for choice in model.choices:
            if choice.name in saved["learned"]:
                choice.restore(saved["learned"][choice.name])
        model.examples_used = saved.get("examples_used", 0)
        return Loaded(model, self.version(project_id), wanted_hash)

    def _hash(self, project_id: str, label_config: str) -> str:
        key = (f"{label_config}\0{self.book.digest(project_id) or ''}\0{self.config.classifier or ''}\0"
               f"{self.config.embeddings or ''}\0{SAVED_FORMAT}")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _project_lock(self, project_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(project_id, threading.Lock())


def load_classifier_factory(spec: str | None, embeddings: str | None = None):
    """A callable (multilabel) -> classifier, from "module:attribute" or an installed entry point name.

    The classifier needs `fit(texts, labels)`, `predict_proba(texts)` and `classes_`, like scikit-learn's.
    Without one, the default classifier, with sentence embeddings beside its words when `embeddings`
    names a model (the `embeddings` extra).
    """
    if spec and embeddings:
        raise LSContextError("set either a classifier of your own or embeddings for the default one, not both")
    if embeddings:
        from .embeddings import embedding_factory

        factory = embedding_factory(embeddings)
        log.info("the default classifier reads sentence embeddings from '%s' beside its words", embeddings)
        return factory
    if not spec:
        return None
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as error:
            raise LSContextError(f"classifier '{spec}' cannot be loaded: {error}") from None
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not found:
            raise LSContextError(f"no classifier named '{spec}' in the '{ENTRY_POINT_GROUP}' entry points")
        target = found[0].load()
    return lambda multilabel: target(multilabel=multilabel) if _takes_multilabel(target) else target()


def _takes_multilabel(target) -> bool:
    import inspect

    try:
        return "multilabel" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        return False
