"""What still waits, and what went wrong for good: the figures behind `ls-context status`."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select, update

from ls_context.store import Alert, Event, Store, Writeback


@dataclass
class Backlog:
    events: dict[str, int]  # status -> count: pending, processing, done, failed
    writebacks: dict[str, int]  # pending, retrying (pending after a failure), delivered, superseded, dead
    dead: list[Writeback] = field(default_factory=list)  # the newest dead write-backs, with their reason
    failed: list[Event] = field(default_factory=list)  # the newest events that failed to process
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)  # (channel, status) -> count
    dead_alerts: list[Alert] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.writebacks.get("dead") and not self.events.get("failed") and not self.dead_alerts


def backlog(store: Store, project_id: int | None = None, shown: int = 10) -> Backlog:
    """Counts of events and write-backs by state (of one project, or all), with the newest dead and failed ones."""
    events_where = [Event.project_id == project_id] if project_id is not None else []
    writebacks_where = [Writeback.project_id == project_id] if project_id is not None else []
    with store.reading() as session:
        events = dict(session.execute(select(Event.status, func.count()).where(*events_where).group_by(Event.status)).all())
        writebacks = dict(session.execute(
            select(Writeback.status, func.count()).where(*writebacks_where).group_by(Writeback.status)).all())
        writebacks["retrying"] = session.scalar(select(func.count()).select_from(Writeback).where(
            *writebacks_where, Writeback.status == "pending", Writeback.attempts > 0))
        dead = list(session.scalars(select(Writeback).where(*writebacks_where, Writeback.status == "dead")
                                    .order_by(Writeback.id.desc()).limit(shown)))
        failed = list(session.scalars(select(Event).where(*events_where, Event.status == "failed")
                                      .order_by(Event.id.desc()).limit(shown)))
        alerts_where = [Alert.project_id == project_id] if project_id is not None else []
        alerts = {(channel, status): n for channel, status, n in session.execute(
            select(Alert.channel, Alert.status, func.count()).where(*alerts_where).group_by(Alert.channel, Alert.status)).all()}
        dead_alerts = list(session.scalars(select(Alert).where(*alerts_where, Alert.status == "dead")
                                           .order_by(Alert.id.desc()).limit(shown)))
    return Backlog(events, writebacks, dead, failed, alerts, dead_alerts)


def retry_failed_events(store: Store, project_id: int | None = None) -> int:
    """Put failed events back to pending (after their cause is fixed); how many."""
    where = [Event.status == "failed"] + ([Event.project_id == project_id] if project_id is not None else [])
    with store.session() as session:
        return session.execute(update(Event).where(*where).values(status="pending", error=None)).rowcount
