"""One configuration for every command and process, whatever its working directory.

Each setting is resolved from, in order of precedence: a command-line option, the environment, the
config file, the default. The config file is TOML, found at $LS_CONTEXT_CONFIG, else
~/.config/ls-context/ls-context.toml, else /etc/ls-context/ls-context.toml; relative paths in it
are relative to the file. Secrets (API key, webhook secret, basic-auth password) come from the
environment only, so a config file can be shared and committed.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import LSContextError

CONFIG_ENV = "LS_CONTEXT_CONFIG"
CONFIG_NAME = "ls-context.toml"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(LSContextError):
    """A configuration that cannot be used: a bad file, an unknown key, a value of the wrong type."""


@dataclass(frozen=True)
class Setting:
    """How one setting is named in the environment, the type of its value, and whether it is a secret or a path."""

    env: str
    kind: type = str
    secret: bool = False
    path: bool = False


SETTINGS: dict[str, Setting] = {
    "model_dir": Setting("MODEL_DIR", path=True),  # models, and the default SQLite store
    "db": Setting("LS_CONTEXT_DB"),  # SQLAlchemy URL of the store
    "label_studio_url": Setting("LABEL_STUDIO_URL"),  # where Label Studio answers
    "label_studio_api_key": Setting("LABEL_STUDIO_API_KEY", secret=True),  # a personal access token or legacy token
    "backend_url": Setting("LS_CONTEXT_BACKEND_URL"),  # where Label Studio reaches `ls-context serve`
    "webhook_secret": Setting("LS_CONTEXT_WEBHOOK_SECRET", secret=True),  # required in the X-LS-Context-Secret header
    "basic_auth_user": Setting("BASIC_AUTH_USER"),  # HTTP basic auth of the model server
    "basic_auth_pass": Setting("BASIC_AUTH_PASS", secret=True),  # HTTP basic auth of the model server
    "guidelines": Setting("LS_CONTEXT_GUIDELINES", path=True),  # guidelines for projects without their own
    "classifier": Setting("LS_CONTEXT_CLASSIFIER"),  # module:attribute or entry point of your own classifier
    "embeddings": Setting("LS_CONTEXT_EMBEDDINGS"),  # sentence-transformers model (name, folder or "packaged")
    "redis_url": Setting("LS_CONTEXT_REDIS_URL"),  # process events on `ls-context worker` (RQ)
    "refit_interval": Setting("LS_CONTEXT_REFIT_INTERVAL", float),  # at least these seconds between two full fits of a project
    "model_poll": Setting("LS_CONTEXT_MODEL_POLL", float),  # seconds between two looks for new answers and model versions
    "sync_every": Setting("LS_CONTEXT_SYNC_EVERY", float),  # seconds between two recoveries of lost webhooks
    "max_body_bytes": Setting("LS_CONTEXT_MAX_BODY_BYTES", int),  # larger requests get 413
    "log_level": Setting("LOG_LEVEL"),  # DEBUG, INFO, WARNING or ERROR
    "insecure": Setting("LS_CONTEXT_INSECURE", bool),  # allow a server without a webhook secret
    "alerts": Setting("LS_CONTEXT_ALERTS", secret=True),  # alert target URLs (Slack, JSON webhook, SMTP), space-separated
    "alert_digest": Setting("LS_CONTEXT_ALERT_DIGEST", float),  # seconds: one message per alert channel per window at most
    "alert_flags": Setting("LS_CONTEXT_ALERT_FLAGS"),  # flag reasons that alert, comma-separated
}


def default_home(environ=os.environ) -> Path:
    """The per-user data location (XDG): ~/.local/share/ls-context."""
    base = environ.get("XDG_DATA_HOME") or Path(environ.get("HOME") or Path.home()) / ".local" / "share"
    return Path(base) / "ls-context"


def default_cache(environ=os.environ) -> Path:
    """The per-user cache (XDG): ~/.cache/ls-context; Label Studio for the demo goes there."""
    base = environ.get("XDG_CACHE_HOME") or Path(environ.get("HOME") or Path.home()) / ".cache"
    return Path(base) / "ls-context"


def config_file_candidates(environ=os.environ) -> list[Path]:
    if environ.get(CONFIG_ENV):
        return [Path(environ[CONFIG_ENV]).expanduser()]
    home = Path(environ.get("HOME") or Path.home())
    user = Path(environ.get("XDG_CONFIG_HOME") or home / ".config") / "ls-context" / CONFIG_NAME
    return [user, Path("/etc/ls-context") / CONFIG_NAME]


@dataclass(frozen=True)
class Config:
    """The resolved configuration; `sources` says where each value came from (for `config show`)."""

    model_dir: Path
    db: str | None = None
    label_studio_url: str | None = None
    label_studio_api_key: str | None = None
    backend_url: str | None = None
    webhook_secret: str | None = None
    basic_auth_user: str | None = None
    basic_auth_pass: str | None = None
    guidelines: Path | None = None
    classifier: str | None = None
    embeddings: str | None = None
    redis_url: str | None = None
    refit_interval: float = 5.0
    model_poll: float = 0.5
    sync_every: float = 0.0
    max_body_bytes: int = 5 * 1024 * 1024
    log_level: str = "INFO"
    insecure: bool = False
    alerts: str | None = None
    alert_digest: float = 60.0
    alert_flags: str = "Guideline unclear"
    worker_interval: float = 1.0  # how often the in-process worker looks for due retries; not a user setting
    file: Path | None = None
    sources: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def resolve(cls, options: dict | None = None, environ=os.environ) -> "Config":
        """Options (None means not given) over environment over file over defaults."""
        values: dict = {"model_dir": default_home(environ)}
        sources: dict = {"model_dir": "default"}
        path = _find_file(environ)
        if path is not None:
            for name, value in _read_file(path).items():
                values[name], sources[name] = value, str(path)
        for name, setting in SETTINGS.items():
            raw = environ.get(setting.env)
            if raw not in (None, ""):
                values[name] = _convert(name, raw, f"environment variable {setting.env}", Path.cwd())
                sources[name] = f"env {setting.env}"
        for name, value in (options or {}).items():
            if value is None:
                continue
            if name in SETTINGS and not isinstance(value, SETTINGS[name].kind) and SETTINGS[name].kind is not str:
                value = _convert(name, str(value), f"option for {name}", Path.cwd())
            elif name in SETTINGS and SETTINGS[name].path:
                value = Path(value).expanduser().resolve()
            values[name], sources[name] = value, "option"
        config = cls(**values, file=path, sources=sources)
        config.check()
        return config

    def check(self) -> None:
        if self.log_level.upper() not in LOG_LEVELS:
            raise ConfigError(f"log_level '{self.log_level}' ({self.sources.get('log_level')}): use one of {', '.join(LOG_LEVELS)}")
        if self.basic_auth_user and not self.basic_auth_pass:
            raise ConfigError("BASIC_AUTH_USER is set but BASIC_AUTH_PASS is not: set both, or neither")
        for name in ("label_studio_url", "backend_url"):
            url = getattr(self, name)
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(f"{name} '{url}' ({self.sources.get(name)}): must start with http:// or https://")

    # -- derived -------------------------------------------------------------------------------

    def store_url(self) -> str:
        return self.db or f"sqlite:///{Path(self.model_dir).resolve() / 'ls-context.sqlite3'}"

    def project_dir(self, project_id) -> Path:
        return Path(self.model_dir) / f"project-{project_id}"

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        return (self.basic_auth_user, self.basic_auth_pass) if self.basic_auth_user else None

    def shown(self) -> list[tuple[str, str, str]]:
        """(name, value with secrets masked, source) for every setting."""
        from sqlalchemy.engine import make_url

        rows = []
        for name, setting in SETTINGS.items():
            value = getattr(self, name)
            if setting.secret:
                text = "set" if value else "not set"
            elif name in ("db", "redis_url") and value:
                text = _without_password(value, make_url)
            else:
                text = "" if value is None else str(value)
            rows.append((name, text, self.sources.get(name, "default")))
        rows.insert(1, ("store", _without_password(self.store_url(), make_url), "derived from db / model_dir"))
        return rows


def _find_file(environ) -> Path | None:
    candidates = config_file_candidates(environ)
    if environ.get(CONFIG_ENV) and not candidates[0].is_file():
        raise ConfigError(f"{CONFIG_ENV} points to {candidates[0]}, which is not a file")
    return next((path for path in candidates if path.is_file()), None)


def _read_file(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    values = {}
    for name, raw in data.items():
        setting = SETTINGS.get(name)
        if setting is None:
            known = ", ".join(key for key, known_setting in SETTINGS.items() if not known_setting.secret)
            raise ConfigError(f"{path}: unknown setting '{name}' (known: {known}; secrets go in the environment)")
        if setting.secret:
            raise ConfigError(f"{path}: '{name}' is a secret; set it in the environment ({setting.env}), not in a file")
        values[name] = _convert(name, raw, str(path), path.parent)
    return values


def _convert(name: str, raw, where: str, base: Path):
    """A raw value (text from the environment, or a TOML value) as the setting's type; paths made absolute."""
    setting = SETTINGS[name]
    try:
        if setting.kind is bool:
            if isinstance(raw, bool):
                return raw
            if str(raw).strip().lower() in ("1", "true", "yes", "on"):
                return True
            if str(raw).strip().lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError("expected true or false")
        if setting.kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError("expected a number")
            value = setting.kind(raw)
            if value < 0:
                raise ValueError("must not be negative")
            return value
        if not isinstance(raw, str) or not raw.strip():
            raise ValueError("expected non-empty text")
    except ValueError as error:
        raise ConfigError(f"{where}: {name} = {raw!r}: {error}") from None
    raw = raw.strip()
    if setting.path:
        return (base / Path(raw).expanduser()).resolve()
    if name == "db" and raw.startswith("sqlite:///") and not raw.startswith("sqlite:////"):
        # A relative SQLite path would follow the working directory: anchor it where it was written.
        return "sqlite:///" + str((base / raw[len("sqlite:///"):]).resolve())
    if name == "log_level":
        return raw.upper()
    return raw.rstrip("/") if name.endswith("_url") and raw.startswith("http") else raw


def _without_password(url: str, make_url) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"
