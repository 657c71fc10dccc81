"""Run a real Label Studio from its own virtual environment, on loopback, for the demo and the tests.

Label Studio pins dozens of exact versions, so it lives in a venv of its own (LS_CONTEXT_LS_VENV,
by default in the user cache, ~/.cache/ls-context/label-studio-<version>) and is driven as a
subprocess. Migrating a fresh data dir costs about 40 s; a migrated template copied per run brings
a start down to a few seconds. Nothing is ever written next to the installed package.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ls_context.config import default_cache
from ls_context.errors import NotReady

LABEL_STUDIO_VERSION = "1.23.2"
VENV_ENV_VAR = "LS_CONTEXT_LS_VENV"
CACHE_ENV_VAR = "LS_CONTEXT_CACHE"


def cache_dir() -> Path:
    """Where Label Studio's venv and the migrated template live (LS_CONTEXT_CACHE, else the user cache)."""
    return Path(os.environ.get(CACHE_ENV_VAR) or default_cache()).expanduser().resolve()


def venv_dir(venv: str | os.PathLike | None = None) -> Path:
    return Path(venv or os.environ.get(VENV_ENV_VAR) or cache_dir() / f"label-studio-{LABEL_STUDIO_VERSION}").expanduser()


def find_label_studio(venv: str | os.PathLike | None = None) -> Path:
    """Return the `label-studio` executable of its own venv, or say how to get one."""
    exe = venv_dir(venv) / "bin" / "label-studio"
    if not exe.exists():
        raise NotReady(
            f"Label Studio {LABEL_STUDIO_VERSION} not found at {exe}: `ls-context demo` installs it there on its "
            f"first run (about 2 minutes and 1 GB), or point {VENV_ENV_VAR} at a venv that has it"
        )
    return exe


def install_label_studio(venv: str | os.PathLike | None = None, progress=None) -> Path:
    """Create Label Studio's own venv and install it there; `progress(line)` hears pip's output.

    An install cut short leaves no executable behind, so the next run starts it again.
    """
    import sys

    target = venv_dir(venv)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, stdin=subprocess.DEVNULL)
    command = [str(target / "bin" / "python"), "-m", "pip", "install", "--progress-bar", "off",
               f"label-studio=={LABEL_STUDIO_VERSION}"]
    tail: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL) as pip:
        for line in pip.stdout:
            tail = (tail + [line.rstrip()])[-15:]
            if progress:
                progress(line)
    if pip.returncode != 0:
        shutil.rmtree(target, ignore_errors=True)
        raise NotReady(f"installing Label Studio {LABEL_STUDIO_VERSION} failed (pip exit {pip.returncode}):\n" + "\n".join(tail))
    return find_label_studio(target)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (Label Studio would silently move off a taken one)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Account:
    """The admin account a local Label Studio is created with."""

    email: str = "admin@example.com"
    password: str = "ls-context-demo"
    # Legacy tokens are 40 hex characters in Label Studio.
    token: str = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class LocalLabelStudio:
    """One Label Studio server process, its data dir and its admin account."""

    data_dir: Path
    port: int = 0
    host: str = "127.0.0.1"
    account: Account = field(default_factory=Account)
    venv: Path | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return Path(self.data_dir) / "label-studio.log"

    def environment(self) -> dict[str, str]:
        """Environment for a local, offline, loopback-only server.

        The two SSRF switches let Label Studio call webhooks and ML backends on 127.0.0.1;
        they are for a local machine only (see the README's production section).
        """
        env = dict(os.environ)
        env.update(
            LABEL_STUDIO_BASE_DATA_DIR=str(self.data_dir),
            DJANGO_DB="sqlite",
            LABEL_STUDIO_USERNAME=self.account.email,
            LABEL_STUDIO_PASSWORD=self.account.password,
            LABEL_STUDIO_USER_TOKEN=self.account.token,
            LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
            SSRF_PROTECTION_ENABLED="false",
            ML_BLOCK_LOCAL_IP="false",
            LATEST_VERSION_CHECK="false",
            COLLECT_ANALYTICS="false",
            SENTRY_DSN="",
            FRONTEND_SENTRY_DSN="",
        )
        return env

    def init(self, timeout: float = 300) -> None:
        """Migrate the data dir and create the admin account, without serving."""
        exe = find_label_studio(self.venv)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        command = [
            str(exe), "init", "--username", self.account.email,
            "--password", self.account.password, "--user-token", self.account.token,
            "--enable-legacy-api-token", "--no-browser",
        ]
        with open(self.log_path, "ab") as log:
            done = subprocess.run(
                command, env=self.environment(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False,
            )
        if done.returncode != 0:
            raise NotReady(f"`label-studio init` failed (exit {done.returncode}); log: {self.log_path}\n{self.log_tail()}")

    def set_password(self, email: str, password: str) -> None:
        """Give a user a password they can log in with (users created through the API have none)."""
        done = subprocess.run(
            [str(find_label_studio(self.venv)), "reset_password", "--username", email, "--password", password],
            env=self.environment(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
        )
        if done.returncode != 0 or "not found" in done.stdout:
            raise NotReady(f"`label-studio reset_password` for {email} failed: {done.stdout[-500:]}{done.stderr[-500:]}")

    def start(self, timeout: float = 180) -> "LocalLabelStudio":
        """Start the server and wait until it answers /health."""
        exe = find_label_studio(self.venv)
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)
        command = [
            str(exe), "start", "--no-browser", "--internal-host", self.host,
            "--port", str(self.port), "--host", self.url,
        ]
        log = open(self.log_path, "ab")
        # A session of its own, so that stop() reaches the children it spawns too.
        self.process = subprocess.Popen(
            command, env=self.environment(), stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise NotReady(
                    f"Label Studio exited with code {self.process.returncode} while starting; "
                    f"log: {self.log_path}\n{self.log_tail()}"
                )
            if self.is_healthy():
                return
            time.sleep(0.5)
        self.stop()
        raise NotReady(f"Label Studio did not answer /health within {timeout:.0f} s; log: {self.log_path}\n{self.log_tail()}")

    def is_healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self, timeout: float = 20) -> None:
        """Stop the server and every process it started; safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            self.process = None
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)
        except ProcessLookupError:
            pass
        self.process = None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "LocalLabelStudio":
        return self.start() if self.process is None else self

    def __exit__(self, *exc) -> None:
        self.stop()


def template_cache() -> Path:
    """Where the migrated template data dir is kept, shared by the demo and the tests."""
    return cache_dir() / f"ls-template-{LABEL_STUDIO_VERSION}"


def from_template(template_dir: Path, data_dir: Path, venv: Path | None = None, account: Account | None = None) -> LocalLabelStudio:
    """A server whose data dir is a copy of a migrated template, created first if missing.

    The template is built once (about 40 s) and reused by every later run (a few seconds each).
    """
    account = account or Account()
    template_dir, data_dir = Path(template_dir), Path(data_dir)
    if not (template_dir / ".ready").exists():
        template_dir.parent.mkdir(parents=True, exist_ok=True)
        # Two processes starting at once (parallel test workers, a demo beside the tests) build it once.
        with open(template_dir.with_name(template_dir.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (template_dir / ".ready").exists():
                building = template_dir.with_name(template_dir.name + ".building")
                shutil.rmtree(building, ignore_errors=True)
                LocalLabelStudio(data_dir=building, venv=venv, account=account).init()
                shutil.rmtree(template_dir, ignore_errors=True)
                building.rename(template_dir)
                (template_dir / ".ready").touch()
    shutil.rmtree(data_dir, ignore_errors=True)
    shutil.copytree(template_dir, data_dir, ignore=shutil.ignore_patterns(".ready", "*.log"))
    return LocalLabelStudio(data_dir=data_dir, venv=venv, account=account)
