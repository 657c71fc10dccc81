"""The alert outbox: alerts are queued as rows in the transaction that found them, and sent by the courier.

Each channel sends at most one message per digest window: the first alert after a quiet window
goes at once, the ones that follow within the window wait and go together as one digest. A
channel that fails is retried with backoff; after `MAX_FAILURES` tries in a row its waiting alerts
are dead (kept, with the reason). Delivery is at least once: a process killed between sending and
recording sends that message again.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import or_, select, update

from ls_context.store import Alert, AlertChannel, Store, now

from .targets import SendError, Target, parse_targets

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
MAX_FAILURES = 12  # about an hour of retrying with the backoff below
MAX_BACKOFF_S = 600
BATCH = 500  # alerts in one digest at most; the rest go in the next
SHOWN = 20  # alert lines a digest spells out; it counts the others
KIND_NAMES = {"flag": "flag", "gate": "pilot gate", "dead_writeback": "write-back dead", "labeler": "labeler below the bar"}


@dataclass(frozen=True)
class AlertSettings:
    """Where alerts go, how often a channel may speak, and which flag reasons alert."""

    targets: tuple[Target, ...] = ()
    digest: float = 60.0  # seconds: one message per channel per window at most
    flag_reasons: frozenset = field(default_factory=lambda: frozenset({"Guideline unclear"}))
    label_studio_url: str | None = None

    @classmethod
    def from_config(cls, config) -> "AlertSettings":
        reasons = frozenset(r.strip() for r in (config.alert_flags or "").split(",") if r.strip())
        return cls(tuple(parse_targets(config.alerts)), config.alert_digest, reasons, config.label_studio_url)

    def queue(self, session, kind: str, text: str, project_id: int | None = None, task_id: int | None = None,
              key: str | None = None) -> None:
        """One alert per channel, in the caller's transaction: it is sent if and only if what caused it is stored.

        With a `key`, a channel that was already told about it is not told again.
        """
        link = self.task_link(project_id, task_id)
        for target in self.targets:
            if key is not None and session.scalar(select(Alert.id).where(Alert.channel == target.channel, Alert.key == key).limit(1)):
                continue
            session.add(Alert(channel=target.channel, kind=kind, project_id=project_id, task_id=task_id, text=text, link=link, key=key))

    def task_link(self, project_id: int | None, task_id: int | None) -> str | None:
        if not (self.label_studio_url and project_id is not None):
            return None
        base = f"{self.label_studio_url.rstrip('/')}/projects/{project_id}/data"
        return f"{base}?task={task_id}" if task_id is not None else base


def deliver_alerts(store: Store, settings: AlertSettings, owner: str) -> tuple[int, int]:
    """Send what is due on every channel; (messages sent, messages failed)."""
    sent = failed = 0
    for target in settings.targets:
        outcome = _deliver_channel(store, settings, target, owner)
        sent, failed = sent + (outcome == "sent"), failed + (outcome == "failed")
    return sent, failed


def _deliver_channel(store: Store, settings: AlertSettings, target: Target, owner: str) -> str | None:
    alerts = _claim(store, settings, target.channel, owner)
    if not alerts:
        return None
    subject, text = message(alerts)
    try:
        target.send(subject, text, [_as_json(alert) for alert in alerts])
    except SendError as error:
        _failed(store, target.channel, owner, [alert.id for alert in alerts], str(error))
        return "failed"
    with store.session() as session:
        moment = now()
        session.execute(update(Alert).where(Alert.id.in_([a.id for a in alerts])).values(status="sent", sent_at=moment))
        session.execute(update(AlertChannel).where(AlertChannel.channel == target.channel).values(
            last_sent_at=moment, failures=0, next_attempt_at=None, lease_owner=None, lease_until=None))
    return "sent"


def _claim(store: Store, settings: AlertSettings, channel: str, owner: str) -> list[Alert]:
    """The channel's waiting alerts, leased to `owner`, when the channel may speak now; else []."""
    moment = now()
    with store.reading() as session:  # asked every second: take the write lock only when there is work
        if session.scalar(select(Alert.id).where(Alert.channel == channel, Alert.status == "pending").limit(1)) is None:
            return []
    with store.session() as session:
        if session.get(AlertChannel, channel) is None:
            session.add(AlertChannel(channel=channel, failures=0))
            session.flush()
        quiet_since = moment - timedelta(seconds=settings.digest)
        claimed = session.execute(update(AlertChannel).where(
            AlertChannel.channel == channel,
            or_(AlertChannel.lease_until.is_(None), AlertChannel.lease_until < moment),
            or_(AlertChannel.next_attempt_at.is_(None), AlertChannel.next_attempt_at <= moment),
            or_(AlertChannel.last_sent_at.is_(None), AlertChannel.last_sent_at <= quiet_since),
        ).values(lease_owner=owner, lease_until=moment + LEASE)).rowcount
        if not claimed:
            return []
        alerts = list(session.scalars(select(Alert).where(Alert.channel == channel, Alert.status == "pending")
                                      .order_by(Alert.id).limit(BATCH)))
        session.expunge_all()
    if not alerts:
        with store.session() as session:
            session.execute(update(AlertChannel).where(AlertChannel.channel == channel, AlertChannel.lease_owner == owner)
                            .values(lease_owner=None, lease_until=None))
    return alerts


def _failed(store: Store, channel: str, owner: str, ids: list[int], error: str) -> None:
    with store.session() as session:
        row = session.get(AlertChannel, channel)
        failures = (row.failures if row else 0) + 1
        if failures >= MAX_FAILURES:
            session.execute(update(Alert).where(Alert.id.in_(ids)).values(status="dead", last_error=error[:1000]))
            log.error("alert channel %s failed %d times in a row: %d alert(s) dead (%s)", channel, failures, len(ids), error)
            failures = 0
        else:
            level = logging.WARNING if failures == 1 else logging.DEBUG
            log.log(level, "alert channel %s failed (attempt %d), retrying: %s", channel, failures, error)
        session.execute(update(AlertChannel).where(AlertChannel.channel == channel).values(
            failures=failures, next_attempt_at=now() + timedelta(seconds=min(2 ** failures, MAX_BACKOFF_S)),
            lease_owner=None, lease_until=None))


def message(alerts: list[Alert]) -> tuple[str, str]:
    """(subject, text): one alert as it is; several as a digest, counted by kind, the first `SHOWN` spelled out."""
    if len(alerts) == 1:
        alert = alerts[0]
        return f"ls-context: {alert.text.splitlines()[0][:120]}", _line(alert)
    counts = Counter(KIND_NAMES.get(alert.kind, alert.kind) for alert in alerts)
    summary = ", ".join(f"{n} {name}{'s' if n > 1 else ''}" for name, n in counts.most_common())
    lines = [f"{len(alerts)} alerts: {summary}"] + [f"- {_line(alert)}" for alert in alerts[:SHOWN]]
    if len(alerts) > SHOWN:
        lines.append(f"... and {len(alerts) - SHOWN} more")
    return f"ls-context: {len(alerts)} alerts ({summary})", "\n".join(lines)


def _line(alert: Alert) -> str:
    return alert.text + (f" {alert.link}" if alert.link else "")


def _as_json(alert: Alert) -> dict:
    return {"id": alert.id, "kind": alert.kind, "project": alert.project_id, "task": alert.task_id, "text": alert.text,
            "link": alert.link, "created_at": alert.created_at.isoformat() if alert.created_at else None}
