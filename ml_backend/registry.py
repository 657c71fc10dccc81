"""The model registry: each project's model, fitted by one process, published, loaded by every other.

/health and /setup are called dozens of times a session: they only read what is already here.
A full fit reads everything the store teaches; one process at a time does it (a lease in the
store), writes the model to the model directory and records the version in the store. Every
server process loads the newest version instead of fitting its own (`sync`, polled by the
watcher), then learns the answers recorded since, one task at a time (`ChoiceModel.learn`): each
new annotation reaches every process's model within a poll, at the same small cost at any size.
A full fit runs again when the project has grown by a tenth since the last one (see `due`), or
when the label config or the guidelines change.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points

from ls_context.config import Config
from ls_context.errors import LSContextError
from ls_context.guidelines import Guidelines
from ls_context.guidelines.book import GuidelinesBook

from . import artifact
from .context_model import ContextModel
from .learning import lessons_from_store, task_example
from .trust import LabelerTrust

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "ls_context.classifiers"
# Bumped when what a saved model holds changes, so a model saved by an older version is refitted, not misread.
SAVED_FORMAT = "5"  # 2: no gold answers; 3: calibration, fields; 4: skops instead of pickle; 5: trust, published versions
GROWTH = 0.1  # a full fit is due when the answers learned one by one since the last one reach this share of its examples
# How long a job stays with a process that stopped answering: longer than any full fit; a few polls for the lessons.
LEASES = {"fit": timedelta(minutes=15), "learn": timedelta(seconds=10)}
FIT_WAIT = 120.0  # seconds a process waits for another's first fit before fitting its own copy
CATCH_UP_BATCH = 500
KEPT_FILES = 3  # published model files kept per project


@dataclass
class Loaded:
    """A model in use: its version, what it was built for, and how far it has learned the recorded answers."""

    model: ContextModel
    version: str
    config_hash: str
    trust: dict = field(default_factory=dict)  # control -> LabelerTrust of the fit: how answers learned later count
    learned_up_to: int = 0  # the last AnswersChanged id this model has learned
    examples_at_fit: int = 0
    learned_since_fit: int = 0
    record_id: int = 0  # the ModelVersion it was published as (0: not published)
    gold: dict = field(default_factory=dict)  # control -> the gold examples of the fit (a fresh fit only)
    next_fit_at: int = 0  # answers learned one by one before a full fit is due

    def __post_init__(self):
        self.next_fit_at = self.next_fit_at or self.growth()

    def growth(self) -> int:
        """How many answers learned one by one make a tenth of what the last full fit learned from."""
        return max(1, math.ceil(GROWTH * self.examples_at_fit))


@dataclass
class Learning:
    """What learning cost this process (CPU of its own threads): for /metrics and the scale benchmark."""

    answers: int = 0
    cpu_seconds: float = 0.0
    latencies: list = field(default_factory=list)  # seconds from webhook to learned, the last 1,000
    full_fits: int = 0
    full_fit_seconds: float = 0.0
    full_fit_cpu_seconds: float = 0.0
    loads: int = 0
    load_seconds: float | None = None  # the last load of a published version
    load_cpu_seconds: float = 0.0

    def learned(self, cpu: float, latency: float | None) -> None:
        self.answers += 1
        self.cpu_seconds += cpu
        if latency is not None:
            self.latencies = (self.latencies + [latency])[-1000:]

    def fitted(self, seconds: float, cpu: float) -> None:
        self.full_fits += 1
        self.full_fit_seconds += seconds
        self.full_fit_cpu_seconds += cpu

    def loaded(self, seconds: float, cpu: float) -> None:
        self.loads += 1
        self.load_seconds = seconds
        self.load_cpu_seconds += cpu

    def summary(self) -> dict:
        ordered = sorted(self.latencies)

        def quantile(q: float):
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4) if ordered else None

        return {"answers_learned": self.answers, "cpu_seconds": round(self.cpu_seconds, 4),
                "latency_p50": quantile(0.5), "latency_p95": quantile(0.95), "full_fits": self.full_fits,
                "full_fit_seconds": round(self.full_fit_seconds, 3), "full_fit_cpu_seconds": round(self.full_fit_cpu_seconds, 3),
                "loads": self.loads, "load_seconds": self.load_seconds and round(self.load_seconds, 3),
                "load_cpu_seconds": round(self.load_cpu_seconds, 3)}


class ModelRegistry:
    """Models by project id; thread-safe; the only place models are built, loaded and taught."""

    def __init__(self, config: Config, store, book: GuidelinesBook):
        self.config = config
        self.store = store
        self.book = book
        self.classifier_factory = load_classifier_factory(config.classifier, config.embeddings)
        # A classifier the configuration names is trusted as its code is: its type may be in a saved model.
        self.classifier_types = frozenset({config.classifier.replace(":", ".")} if config.classifier and ":" in config.classifier else ())
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self.learning = Learning()
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
        newest = self._newest(project_id)
        return newest.version if newest is not None else self.initial_version(project_id)

    def versions(self) -> dict[str, str]:
        return {project_id: loaded.version for project_id, loaded in self._loaded.items()}

    def served(self) -> dict[str, dict]:
        """Per project served: the model version, and the last recorded answer it has learned."""
        return {project_id: {"version": loaded.version, "learned_up_to": loaded.learned_up_to}
                for project_id, loaded in list(self._loaded.items())}

    # -- building -------------------------------------------------------------------------

    def model(self, project_id: str, label_config: str | None = None) -> Loaded:
        """The project's model for this label config: the published one, else fitted (by one process) and published."""
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
                loaded = self._published(project_id, wanted) or self._fit_or_wait(project_id, label_config, wanted)
                self._catch_up(project_id, loaded)
                self._loaded[project_id] = loaded
            return loaded

    def refit(self, project_id: str, force: bool = False) -> Loaded | None:
        """A full fit when one is due (called by the trainer thread), published for every process; None otherwise."""
        label_config = self._configs.get(project_id)
        if not label_config:
            log.debug("project %s: nothing to refit before the first /setup or /predict", project_id)
            return None
        if project_id in self._loaded and not force and not self.due(project_id):
            return None
        current = self._loaded.get(project_id)  # after `due`, which may have loaded a newer version
        if not self._claim(project_id):
            return None  # another process is fitting: the watcher loads its result
        try:
            fitted = self._fit(project_id, label_config)
            if current is not None and current.config_hash == fitted.config_hash and not self._no_worse_on_gold(fitted, current):
                current.next_fit_at = current.learned_since_fit + current.growth()
                return None
            self._publish(project_id, fitted)
        finally:
            self._release(project_id)
        with self._project_lock(project_id):
            self._catch_up(project_id, fitted)
            self._loaded[project_id] = fitted
        return fitted

    def due(self, project_id: str) -> bool:
        """Is a full fit worth its cost? When the answers learned one by one since the last reach a tenth of its examples."""
        self.sync(project_id)
        loaded = self._loaded.get(project_id)
        return loaded is not None and loaded.learned_since_fit >= loaded.next_fit_at

    def sync(self, project_id: str) -> None:
        """Bring this process's model up to date: a newer published version, then the answers recorded since."""
        loaded = self._loaded.get(project_id)
        if loaded is None:
            return
        with self._project_lock(project_id):
            loaded = self._loaded.get(project_id)
            newest = self._newest(project_id)
            if newest is not None and newest.config_hash == loaded.config_hash and newest.id > loaded.record_id:
                published = self._load(project_id, newest)
                if published is not None:
                    loaded = published
                    log.info("project %s: loaded model %s, published by another process", project_id, loaded.version)
            self._catch_up(project_id, loaded)
            self._loaded[project_id] = loaded

    def sync_all(self) -> None:
        for project_id in list(self._loaded):
            self.sync(project_id)

    # -- learning answers one by one ------------------------------------------------------

    def _catch_up(self, project_id: str, loaded: Loaded) -> None:
        """Learn the answers recorded after `loaded.learned_up_to`, in id order (the caller holds the project lock).

        Each answer's lesson is computed once, by the project's learner (a lease: whichever process
        gets there first), and stored; every other process applies the stored lesson. A process
        whose model is not published computes its own.
        """
        from sqlalchemy import select

        from ls_context.store import AnswersChanged, Lesson

        while True:
            with self.store.reading() as session:
                rows = session.execute(
                    select(AnswersChanged.id, AnswersChanged.task_id, AnswersChanged.answers, AnswersChanged.data,
                           AnswersChanged.received_at)
                    .where(AnswersChanged.project_id == int(project_id), AnswersChanged.id > loaded.learned_up_to)
                    .order_by(AnswersChanged.id).limit(CATCH_UP_BATCH)).all()
                stored = dict(session.execute(select(Lesson.answer_id, Lesson.lesson).where(
                    Lesson.record_id == loaded.record_id, Lesson.answer_id.in_([row.id for row in rows]))).all()) if rows else {}
            learner = None  # asked once per batch: taking the lease is a write
            if rows:
                self._recertify(project_id, loaded)
            for row in rows:
                started = time.thread_time()
                lesson = stored.get(row.id)
                if lesson is None:
                    # One learner per published version: a process still on an older one never holds up the newest.
                    learner = learner if learner is not None else (not loaded.record_id or self._claim(project_id, f"learn:{loaded.record_id}"))
                    if not learner:
                        return  # the learner has not written it yet: the next poll applies it
                    lesson = self._lesson(loaded, row)
                    if loaded.record_id:
                        self._store_lesson(row.id, loaded.record_id, lesson)
                self._apply(loaded, row.id, lesson)
                self.learning.learned(time.thread_time() - started, _seconds_since(row.received_at))
            if len(rows) < CATCH_UP_BATCH:
                return

    def _recertify(self, project_id: str, loaded: Loaded) -> None:
        """Who the project's onboarding course certifies now: answers learned from here on count by it."""
        from ls_context.onboarding import certified_labelers

        guidelines = self.guidelines(project_id)
        if guidelines is None:
            return
        with self.store.reading() as session:
            certified = certified_labelers(session, int(project_id), guidelines.onboarding)
        for trust in loaded.trust.values():
            trust.certified = certified

    def _lesson(self, loaded: Loaded, row) -> dict:
        """What one recorded answer teaches each control of this model."""
        answers = [(a.get("annotation"), a.get("labeler"), a.get("result")) for a in row.answers if isinstance(a, dict)]
        lessons = {}
        for choice in loaded.model.choices:
            trust = loaded.trust.get(choice.name) or LabelerTrust()
            example = task_example(row.task_id, answers, row.data or {}, choice.name, choice.field, trust)
            lessons[choice.name] = choice.lesson(row.task_id, example)
        return lessons

    def _apply(self, loaded: Loaded, answer_id: int, lesson: dict) -> None:
        for choice in loaded.model.choices:
            if lesson.get(choice.name):
                choice.learn(lesson[choice.name])
        loaded.learned_up_to = answer_id
        loaded.learned_since_fit += 1

    def _store_lesson(self, answer_id: int, record_id: int, lesson: dict) -> None:
        from sqlalchemy.exc import IntegrityError

        from ls_context.store import Lesson

        try:
            with self.store.session() as session:
                session.add(Lesson(answer_id=answer_id, record_id=record_id, lesson=lesson))
        except IntegrityError:
            pass  # a learner whose lease ran out wrote it too: the same lesson, from the same model

    # -- fitting and publishing -------------------------------------------------------------

    def _fit_or_wait(self, project_id: str, label_config: str, wanted: str) -> Loaded:
        """The first model for this config: fitted here when no other process is fitting it, else theirs when published."""
        deadline = time.monotonic() + FIT_WAIT
        while not self._claim(project_id):
            time.sleep(0.2)
            published = self._published(project_id, wanted)
            if published is not None:
                return published
            if time.monotonic() > deadline:
                log.warning("project %s: another process has been fitting for %.0f s; fitting a copy here", project_id, FIT_WAIT)
                return self._fit(project_id, label_config)
        try:
            published = self._published(project_id, wanted)  # it may have been published while we waited for the lease
            if published is not None:
                return published
            fitted = self._fit(project_id, label_config)
            self._publish(project_id, fitted)
            return fitted
        finally:
            self._release(project_id)

    def _fit(self, project_id: str, label_config: str) -> Loaded:
        """Read what the store teaches (gold answers, trusted consensus) and fit; the store is read here, never per request."""
        from sqlalchemy import func, select

        from ls_context.store import AnswersChanged

        started, cpu = time.perf_counter(), time.thread_time()
        guidelines = self.guidelines(project_id)
        model = ContextModel(label_config, guidelines, self.classifier_factory)
        fields = {choice.name: choice.field for choice in model.choices}
        with self.store.reading() as session:
            # Read before the examples: an answer recorded meanwhile is learned again after the fit, never missed.
            read_up_to = session.scalar(select(func.max(AnswersChanged.id)).where(AnswersChanged.project_id == int(project_id))) or 0
        examples, trust = lessons_from_store(self.store, int(project_id), fields, guidelines)
        model.fit(examples)
        loaded = Loaded(model, self._next_version(project_id), self._hash(project_id, label_config), trust,
                        learned_up_to=read_up_to, examples_at_fit=model.examples_used,
                        gold={control: [e for e in found if e.source == "gold"] for control, found in examples.items()})
        self.learning.fitted(time.perf_counter() - started, time.thread_time() - cpu)
        if model.examples_used == 0 and model.choices:
            log.warning("project %s: model %s fitted on 0 examples: only decision rules pre-annotate until "
                        "the guidelines have examples or labelers annotate", project_id, loaded.version)
        else:
            log.info("project %s: model %s fitted on %d examples in %.1f s", project_id, loaded.version,
                     model.examples_used, time.perf_counter() - started)
        return loaded

    def _no_worse_on_gold(self, fitted: Loaded, current: Loaded) -> bool:
        """Is the full fit at least as accurate on the project's gold as the model that learned one by one?"""
        new, old = gold_accuracy(fitted.model, fitted.gold), gold_accuracy(current.model, fitted.gold)
        if new is None or new >= old - 1e-9:
            return True
        log.warning("project model %s is less accurate on gold (%.3f) than the model learning one by one (%.3f): "
                    "not published; the next full fit waits for more answers", fitted.version, new, old)
        return False

    def _publish(self, project_id: str, loaded: Loaded) -> None:
        """Write the model file, then record the version: a process that sees the record finds the whole file."""
        from sqlalchemy import delete, func, select

        from ls_context.store import AnswersChanged, Lesson, ModelVersion

        directory = self.config.project_dir(project_id)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"model-{loaded.version}.skops"
        learned = {choice.name: choice.learned() for choice in loaded.model.choices}
        trust = {control: sorted(t.weights_.items(), key=str) for control, t in loaded.trust.items()}
        certified = next((sorted(t.certified) for t in loaded.trust.values() if t.certified is not None), None)
        artifact.save(directory / name, {"hash": loaded.config_hash, "learned": learned, "trust": trust, "certified": certified,
                                         "examples_used": loaded.model.examples_used})
        with self.store.session() as session:
            previous = session.execute(select(ModelVersion).where(ModelVersion.project_id == int(project_id))
                                       .order_by(ModelVersion.id.desc()).limit(1)).scalar_one_or_none()
            record = ModelVersion(project_id=int(project_id), version=loaded.version, config_hash=loaded.config_hash,
                                  file=name, learned_up_to=loaded.learned_up_to, examples=loaded.model.examples_used)
            session.add(record)
            session.flush()
            loaded.record_id = record.id
            if previous is not None:
                # Answers the previous version had learned are in both; a process still on an older one loads this one first.
                # The table's newest row stays: SQLite numbers a new row after the largest id left, and an
                # emptied table would number the next answer 1, below every model's cursor, never to be learned.
                newest = select(func.max(AnswersChanged.id)).scalar_subquery()
                done = select(AnswersChanged.id).where(AnswersChanged.project_id == int(project_id),
                                                       AnswersChanged.id <= previous.learned_up_to, AnswersChanged.id < newest)
                session.execute(delete(Lesson).where(Lesson.answer_id.in_(done)))
                session.execute(delete(AnswersChanged).where(AnswersChanged.id.in_(done)))
        # The newest few stay (a process may be reading one); a process that finds its file gone loads a newer one.
        by_age = sorted(directory.glob("model-*.skops"), key=lambda path: path.stat().st_mtime, reverse=True)
        for old in by_age[KEPT_FILES:]:
            if time.time() - old.stat().st_mtime > 60:
                old.unlink(missing_ok=True)

    def _published(self, project_id: str, wanted: str) -> Loaded | None:
        newest = self._newest(project_id)
        if newest is None or newest.config_hash != wanted:
            return None
        return self._load(project_id, newest)

    def _newest(self, project_id: str):
        from sqlalchemy import select

        from ls_context.store import ModelVersion

        try:
            key = int(project_id)
        except ValueError:
            return None
        with self.store.reading() as session:
            return session.execute(select(ModelVersion).where(ModelVersion.project_id == key)
                                   .order_by(ModelVersion.id.desc()).limit(1)).scalar_one_or_none()

    def _load(self, project_id: str, record) -> Loaded | None:
        """A published model read from its file (never refitted here); None when it cannot be used."""
        path = self.config.project_dir(project_id) / record.file
        started, cpu = time.perf_counter(), time.thread_time()
        try:
            saved = artifact.load(path, self.classifier_types)
        except artifact.Refused as refused:
            log.warning("project %s: saved model refused, refitting instead: %s", project_id, refused)
            return None
        if not isinstance(saved, dict) or saved.get("hash") != record.config_hash or project_id not in self._configs:
            return None
        model = ContextModel(self._configs[project_id], self.guidelines(project_id), self.classifier_factory)
        for choice in model.choices:
            if choice.name in saved["learned"]:
                choice.restore(saved["learned"][choice.name])
        model.examples_used = saved.get("examples_used", 0)
        trust = {control: LabelerTrust.with_weights(dict(map(tuple, pairs)), saved.get("certified"))
                 for control, pairs in (saved.get("trust") or {}).items()}
        self.learning.loaded(time.perf_counter() - started, time.thread_time() - cpu)
        return Loaded(model, record.version, record.config_hash, trust, learned_up_to=record.learned_up_to,
                      examples_at_fit=record.examples, record_id=record.id)

    def _claim(self, project_id: str, kind: str = "fit") -> bool:
        """Take (or keep) the project's lease for a job ("fit", or "learn:<version record>"), unless another live process holds it."""
        from sqlalchemy import or_, update
        from sqlalchemy.exc import IntegrityError

        from ls_context.store import Lease, now

        until = now() + LEASES[kind.partition(":")[0]]
        with self.store.session() as session:
            taken = session.execute(update(Lease).where(
                Lease.project_id == int(project_id), Lease.kind == kind, or_(Lease.until < now(), Lease.owner == self.owner),
            ).values(owner=self.owner, until=until)).rowcount
            if taken:
                return True
            if session.get(Lease, (int(project_id), kind)) is not None:
                return False
        try:
            with self.store.session() as session:
                session.add(Lease(project_id=int(project_id), kind=kind, owner=self.owner, until=until))
            return True
        except IntegrityError:
            return False  # another process took it first

    def _release(self, project_id: str, kind: str = "fit") -> None:
        from sqlalchemy import update

        from ls_context.store import Lease, now

        with self.store.session() as session:
            session.execute(update(Lease).where(Lease.project_id == int(project_id), Lease.kind == kind,
                                                Lease.owner == self.owner).values(until=now()))

    def guidelines(self, project_id: str) -> Guidelines | None:
        """The project's newest guidelines from the store (else the server's default file)."""
        return self.book.latest(project_id)

    def initial_version(self, project_id: str) -> str:
        guidelines = self.guidelines(project_id)
        return f"ls-context-g{guidelines.version}-r0" if guidelines else "ls-context-r0"

    def _next_version(self, project_id: str) -> str:
        newest = self._newest(project_id)
        if newest is None:
            return self.initial_version(project_id)
        _, _, number = newest.version.rpartition("-r")
        guidelines = self.guidelines(project_id)
        base = f"ls-context-g{guidelines.version}" if guidelines else "ls-context"
        return f"{base}-r{int(number) + 1 if number.isdigit() else 1}"

    def _hash(self, project_id: str, label_config: str) -> str:
        key = (f"{label_config}\0{self.book.digest(project_id) or ''}\0{self.config.classifier or ''}\0"
               f"{self.config.embeddings or ''}\0{SAVED_FORMAT}")
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def _project_lock(self, project_id: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(project_id, threading.RLock())


def _seconds_since(moment) -> float:
    from ls_context.store import now

    return (now() - (moment if moment.tzinfo else moment.replace(tzinfo=now().tzinfo))).total_seconds()


def gold_accuracy(model: ContextModel, gold: dict) -> float | None:
    """Share of gold examples whose label the model ranks first (a gold task is predicted by the model that never saw it)."""
    right = total = 0
    for choice in model.choices:
        examples = gold.get(choice.name) or []
        if not examples:
            continue
        suggestions = choice.suggest([e.text for e in examples], [e.data or {choice.field: e.text} for e in examples],
                                     [e.task_id for e in examples])
        for example, suggestion in zip(examples, suggestions):
            given = suggestion.labels or (suggestion.candidates[:1] if suggestion.ranked else [])
            right += set(given) == set(example.labels) if choice.multilabel else bool(given) and given[0] in example.labels
            total += 1
    return right / total if total else None


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
