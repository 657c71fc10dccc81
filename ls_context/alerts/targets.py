"""Where alerts go: a Slack incoming webhook, any JSON webhook, or e-mail over SMTP, each named by one URL.

    slack+https://hooks.slack.com/services/T000/B000/XXXX   Slack's {"text": ...}; also Mattermost, Rocket.Chat
    json+https://alerts.example.com/ls-context              {"text": ..., "alerts": [...]}; plain https:// is the same
    smtp://user:password@mail.example.com:587?from=ls@example.com&to=lead@example.com,qa@example.com
                                                            STARTTLS when the server offers it; smtps:// for TLS

The URLs carry credentials, so they come from the environment (LS_CONTEXT_ALERTS) and are shown,
logged and stored only by their channel name: the scheme and a short hash.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import requests

from ls_context.errors import LSContextError

TIMEOUT = 10  # seconds; a channel that hangs longer is retried later, never holding up the courier for long
KINDS = {"slack+https": "slack", "slack+http": "slack", "json+https": "json", "json+http": "json", "https": "json",
         "http": "json", "smtp": "smtp", "smtps": "smtp"}


class AlertTargetError(LSContextError):
    """An alert target URL that cannot be used; the message never repeats the URL's secrets."""


class SendError(Exception):
    """A channel did not take a message (refused, unreachable, timed out): retried later."""


@dataclass(frozen=True)
class Target:
    """One alert channel: how to send, and its name (safe to show)."""

    kind: str  # "slack", "json" or "smtp"
    url: str
    channel: str

    def send(self, subject: str, text: str, alerts: list[dict]) -> None:
        """Deliver one message; SendError when the channel does not take it."""
        try:
            if self.kind == "smtp":
                self._mail(subject, text)
                return
            body = {"text": text} if self.kind == "slack" else {"text": text, "subject": subject, "alerts": alerts}
            answer = requests.post(self._http_url(), json=body, timeout=TIMEOUT)
        except (requests.RequestException, OSError, smtplib.SMTPException) as error:
            raise SendError(f"{self.channel}: {type(error).__name__}") from None
        if answer.status_code >= 300:
            raise SendError(f"{self.channel}: HTTP {answer.status_code}")

    def _http_url(self) -> str:
        return self.url.split("+", 1)[1] if "+" in self.url.split("://", 1)[0] else self.url

    def _mail(self, subject: str, text: str) -> None:
        parts = urlsplit(self.url)
        query = parse_qs(parts.query)
        message = EmailMessage()
        message["Subject"], message["From"] = subject, query["from"][0]
        message["To"] = ", ".join(address.strip() for to in query["to"] for address in to.split(","))
        message.set_content(text)
        connect = smtplib.SMTP_SSL if parts.scheme == "smtps" else smtplib.SMTP
        with connect(parts.hostname, parts.port or (465 if parts.scheme == "smtps" else 25), timeout=TIMEOUT) as server:
            if parts.scheme == "smtp" and server.has_extn("starttls"):
                server.starttls(context=ssl.create_default_context())
            if parts.username:
                server.login(unquote(parts.username), unquote(parts.password or ""))
            server.send_message(message)


def parse_targets(text: str | None) -> list[Target]:
    """The targets of LS_CONTEXT_ALERTS: URLs separated by white space (an e-mail's `to` takes commas)."""
    targets = []
    for number, url in enumerate((text or "").split()):
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in KINDS:
            raise AlertTargetError(f"alert target {number + 1}: unknown kind '{scheme or url[:12]}' "
                                   "(use slack+https://, json+https://, https://, smtp:// or smtps://)")
        kind = KINDS[scheme]
        parts = urlsplit(url)
        if not parts.hostname:
            raise AlertTargetError(f"alert target {number + 1} ({kind}): no host")
        if kind == "smtp" and not (parse_qs(parts.query).get("from") and parse_qs(parts.query).get("to")):
            raise AlertTargetError(f"alert target {number + 1} (smtp): needs ?from=...&to=... in the URL")
        targets.append(Target(kind, url, f"{kind}-{hashlib.sha256(url.encode()).hexdigest()[:8]}"))
    return targets
