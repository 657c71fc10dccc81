"""Every version of each project's guidelines, kept in the store, so every process uses the same ones.

`ls-context setup` and `ls-context guidelines push` add a version; the server, the workers and the
commands read the newest. Projects that never had one fall back to the server's default file
(LS_CONTEXT_GUIDELINES), if any.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ls_context.store import GuidelinesVersion, Store

from .loader import load, parse
from .schema import Guidelines


@dataclass(frozen=True)
class Pushed:
    """The outcome of a push: the project's version number, and whether it was new."""

    number: int
    version: str
    digest: str
    new: bool


class GuidelinesBook:
    """Guidelines per project from the store, cached for `ttl` seconds per project (reads are on the hot path)."""

    def __init__(self, store: Store, default: str | Path | None = None, ttl: float = 2.0):
        self.store = store
        self.default_path = Path(default) if default else None
        self.ttl = ttl
        self._default: tuple[int, Guidelines] | None = None
        self._cache: dict[int, tuple[float, str | None, Guidelines | None]] = {}
        self._lock = threading.Lock()

    def push(self, project_id: int, text: str, source: str = "") -> Pushed:
        """Store `text` (validated) as the project's newest version, unless it is the newest already."""
        guidelines = parse(text, source=source or "<guidelines>")
        digest = hashlib.sha256(text.encode()).hexdigest()
        with self.store.session() as session:
            newest = self._newest(session, project_id)
            if newest is not None and newest.digest == digest:
                return Pushed(newest.number, newest.version, digest, False)
            number = (newest.number if newest else 0) + 1
            session.add(GuidelinesVersion(project_id=project_id, number=number, version=guidelines.version,
                                          digest=digest, text=text, source=source))
        with self._lock:
            self._cache.pop(project_id, None)
        return Pushed(number, guidelines.version, digest, True)

    def push_file(self, project_id: int, path: str | Path) -> Pushed:
        path = Path(path)
        load(path)  # errors name the file and line
        return self.push(project_id, path.read_text(encoding="utf-8"), source=str(path.resolve()))

    def latest(self, project_id) -> Guidelines | None:
        """The project's newest guidelines (or the default file's); re-checked at most every `ttl` seconds."""
        return self._entry(int(project_id))[2]

    def digest(self, project_id) -> str | None:
        """What identifies the guidelines in use for a project: changes whenever they do."""
        return self._entry(int(project_id))[1]

    def refresh(self, project_id) -> Guidelines | None:
        """Read the newest version now, whatever the cache says (Label Studio's /setup calls this)."""
        with self._lock:
            self._cache.pop(int(project_id), None)
        return self.latest(project_id)

    def versions(self, project_id: int) -> list[GuidelinesVersion]:
        with self.store.reading() as session:
            return list(session.scalars(select(GuidelinesVersion).where(GuidelinesVersion.project_id == project_id)
                                        .order_by(GuidelinesVersion.number)))

    def _entry(self, project_id: int) -> tuple[float, str | None, Guidelines | None]:
        now = time.monotonic()
        cached = self._cache.get(project_id)
        if cached is not None and now - cached[0] < self.ttl:
            return cached
        with self.store.reading() as session:
            row = session.execute(
                select(GuidelinesVersion.digest, GuidelinesVersion.number).where(GuidelinesVersion.project_id == project_id)
                .order_by(GuidelinesVersion.number.desc()).limit(1)
            ).first()
        if row is None:
            entry = (now, *self._default_guidelines())
        elif cached is not None and cached[1] == row.digest:
            entry = (now, cached[1], cached[2])
        else:
            with self.store.reading() as session:
                text = session.scalar(select(GuidelinesVersion.text).where(
                    GuidelinesVersion.project_id == project_id, GuidelinesVersion.number == row.number))
            entry = (now, row.digest, parse(text, source=f"project {project_id} guidelines v{row.number}"))
        with self._lock:
            self._cache[project_id] = entry
        return entry

    def _default_guidelines(self) -> tuple[str | None, Guidelines | None]:
        if self.default_path is None:
            return None, None
        mtime = self.default_path.stat().st_mtime_ns
        if self._default is None or self._default[0] != mtime:
            self._default = (mtime, load(self.default_path))
        return f"default:{mtime}", self._default[1]

    @staticmethod
    def _newest(session, project_id: int) -> GuidelinesVersion | None:
        return session.scalar(select(GuidelinesVersion).where(GuidelinesVersion.project_id == project_id)
                              .order_by(GuidelinesVersion.number.desc()).limit(1))
