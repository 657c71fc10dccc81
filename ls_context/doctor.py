"""Checks of a resolved configuration, for `ls-context config show`: can every part reach every other?"""

from __future__ import annotations

from dataclasses import dataclass

import requests

from .config import Config
from .errors import LSContextError


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn" or "FAIL"
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name}: {self.detail}"


def checks(config: Config) -> list[Check]:
    return ([store(config), label_studio(config), secret(config), backend(config)] + ([redis(config)] if config.redis_url else [])
            + ([alerts(config)] if config.alerts else []))


def alerts(config: Config) -> Check:
    """The alert targets parse; each is named by its channel, never by its URL (which holds credentials)."""
    from .alerts import AlertTargetError, parse_targets

    try:
        targets = parse_targets(config.alerts)
    except AlertTargetError as error:
        return Check("alerts", "FAIL", str(error))
    return Check("alerts", "ok", f"{', '.join(t.channel for t in targets)}; digest every {config.alert_digest:g} s; "
                                 f"flags alerting: {config.alert_flags or 'none'}")


def store(config: Config) -> Check:
    from .store import Store

    store = Store(config.store_url())
    if store.file_missing():
        return Check("store", "warn", f"no store yet at {store.where()}: `ls-context db upgrade` creates it (serve does too)")
    try:
        current, needed = store.revision()
    except LSContextError as error:
        return Check("store", "FAIL", str(error))
    if current == needed:
        return Check("store", "ok", f"schema at {current}")
    state = "empty" if current is None else f"at {current}"
    return Check("store", "warn", f"schema {state}, this version needs {needed}: `ls-context db upgrade` (serve does it too)")


def label_studio(config: Config) -> Check:
    from .labelstudio import Gateway

    if not (config.label_studio_url and config.label_studio_api_key):
        return Check("Label Studio", "FAIL", "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY")
    try:
        me = Gateway.from_config(config, retries=0, timeout=10).whoami()
    except LSContextError as error:
        return Check("Label Studio", "FAIL", str(error))
    return Check("Label Studio", "ok", f"{config.label_studio_url} answers; the key is {me.email}'s")


def secret(config: Config) -> Check:
    if config.webhook_secret:
        return Check("webhook secret", "ok", "set; /webhook requires it")
    if config.insecure:
        return Check("webhook secret", "warn", "not set, insecure mode: anyone who can reach the server can post events")
    return Check("webhook secret", "FAIL", "not set: the server refuses to start (set LS_CONTEXT_WEBHOOK_SECRET, "
                                            "for instance to `openssl rand -hex 16`)")


def backend(config: Config) -> Check:
    if not config.backend_url:
        return Check("model server", "warn", "backend_url not set: `ls-context setup` needs --backend-url")
    try:
        answer = requests.get(f"{config.backend_url}/health", auth=config.basic_auth, timeout=5)
    except requests.RequestException as error:
        return Check("model server", "FAIL", f"{config.backend_url} does not answer ({type(error).__name__})")
    if answer.status_code == 401:
        return Check("model server", "FAIL", f"{config.backend_url} refuses our basic auth (BASIC_AUTH_USER / BASIC_AUTH_PASS)")
    if answer.status_code != 200:
        return Check("model server", "FAIL", f"{config.backend_url}/health answered HTTP {answer.status_code}")
    return Check("model server", "ok", f"{config.backend_url} answers")


def redis(config: Config) -> Check:
    try:
        from redis import Redis

        Redis.from_url(config.redis_url, socket_timeout=3, socket_connect_timeout=3).ping()
    except ImportError:
        return Check("Redis", "FAIL", "the redis package is missing: pip install 'ls-context[queue]'")
    except Exception as error:  # redis-py raises ConnectionError, TimeoutError, AuthenticationError...
        return Check("Redis", "FAIL", f"cannot reach it ({type(error).__name__})")
    return Check("Redis", "ok", "answers")
