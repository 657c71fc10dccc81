"""Deliver queued write-backs to Label Studio: each by one process at a time, the newest of a task winning.

A delivering process first claims write-backs with a lease, in a short transaction, so two processes
never send the same one and a killed process delays it by one lease at most. A task has at most one
write-back in flight, and an older one whose keys a newer one also sets is superseded instead of sent,
so versions cannot land out of order. Label Studio refusing a write-back for good (a 4xx other than
408 and 429), or too many failed attempts, makes it dead: kept with the reason, shown by `ls-context status`.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import timedelta

from sqlalchemy import and_, or_, select, text, update

from ls_context.store import Store, Writeback, now

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 12  # with the backoff below, about an hour of retrying
MAX_BACKOFF_S = 600
RETRYABLE_REFUSALS = {408, 429}
# PostgreSQL advisory lock held while claiming: "ls-wbk" in ASCII.
CLAIM_LOCK = 0x6C732D77626B


def new_owner() -> str:
    """A name for one delivering process (or thread pool), written into the leases it takes."""
    return uuid.uuid4().hex


def claim_due(store: Store, owner: str, limit: int) -> list[Writeback]:
    """Lease up to `limit` due write-backs, one per task, superseding older ones a newer one makes redundant."""
    moment = now()
    with store.reading() as session:  # the courier asks every second: take the write lock only when there is work
        if session.scalar(select(Writeback.id).where(_due(moment)).limit(1)) is None:
            return []
    with store.session() as session:
        _claiming_alone(session)
        moment = now()
        due = list(session.scalars(select(Writeback).where(_due(moment)).order_by(Writeback.id).limit(limit * 4)))
        if not due:
            return []
        pending = list(session.scalars(select(Writeback).where(
            Writeback.status == "pending", Writeback.task_id.in_({w.task_id for w in due})).order_by(Writeback.id)))
        stale = _superseded(pending)
        if stale:
            session.execute(update(Writeback).where(Writeback.id.in_(stale), _free(moment))
                            .values(status="superseded", last_error="a newer write-back to this task replaced it"))
        busy = {w.task_id for w in pending if w.lease_until is not None and _aware(w.lease_until) >= moment}
        chosen: list[Writeback] = []
        for writeback in due:
            if writeback.id in stale or writeback.task_id in busy:
                continue
            busy.add(writeback.task_id)  # one write-back in flight per task: versions land in order
            chosen.append(writeback)
            if len(chosen) == limit:
                break
        if chosen:
            session.execute(update(Writeback).where(Writeback.id.in_([w.id for w in chosen]))
                            .values(lease_owner=owner, lease_until=moment + LEASE))
    return chosen


def deliver(store: Store, studio, writeback: Writeback, owner: str, alerts=None) -> str:
    """Send one claimed write-back; "delivered", "retry" or "dead". Only the lease's owner records the outcome.

    A write-back that dies is told to the alert channels (`alerts`, AlertSettings) in the same transaction.
    """
    try:
        studio.merge_into_task(writeback.task_id, writeback.kind, writeback.payload)
    except Exception as error:  # Label Studio down, slow or refusing
        return _failed(store, writeback, owner, error, alerts)
    with store.session() as session:
        session.execute(update(Writeback).where(Writeback.id == writeback.id, Writeback.lease_owner == owner).values(
            status="delivered", delivered_at=now(), attempts=writeback.attempts + 1, lease_owner=None, lease_until=None))
    return "delivered"


def deliver_due(store: Store, studio, limit: int = 50) -> tuple[int, int]:
    """Claim and send due write-backs one after another (commands and tests); (delivered, failed)."""
    owner = new_owner()
    outcomes = [deliver(store, studio, writeback, owner) for writeback in claim_due(store, owner, limit)]
    return outcomes.count("delivered"), len(outcomes) - outcomes.count("delivered")


def _failed(store: Store, writeback: Writeback, owner: str, error: Exception, alerts=None) -> str:
    attempts = writeback.attempts + 1
    status = getattr(error, "status", None)
    permanent = status is not None and 400 <= status < 500 and status not in RETRYABLE_REFUSALS
    reason = f"{type(error).__name__}: {error}"[:1000]
    if permanent or attempts >= MAX_ATTEMPTS:
        values = dict(status="dead", last_error=reason)
        log.error("write-back %s to task %s is dead after %d attempt(s) (%s); `ls-context status` lists it",
                  writeback.id, writeback.task_id, attempts, "refused" if permanent else "too many failures")
        outcome = "dead"
    else:
        # Jitter spreads the retries of many write-backs (and of several processes) after an outage.
        delay = timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_S) * random.uniform(0.8, 1.2))
        values = dict(next_attempt_at=now() + delay, last_error=reason)
        level = logging.WARNING if attempts == 1 else logging.DEBUG  # one line per write-back, not one per retry
        log.log(level, "write-back %s to task %s failed (attempt %d), retrying in %.0f s: %s", writeback.id,
                writeback.task_id, attempts, delay.total_seconds(), type(error).__name__)
        outcome = "retry"
    with store.session() as session:
        recorded = session.execute(update(Writeback).where(Writeback.id == writeback.id, Writeback.lease_owner == owner).values(
            attempts=attempts, lease_owner=None, lease_until=None, **values)).rowcount
        if outcome == "dead" and recorded and alerts:
            alerts.queue(session, "dead_writeback", f"A write-back to task {writeback.task_id} (project {writeback.project_id}) "
                         f"is dead after {attempts} attempt(s): {reason[:200]}", writeback.project_id, writeback.task_id)
    return outcome


def _superseded(pending: list[Writeback]) -> set[int]:
    """Ids of write-backs that a newer one to the same task and part sets entirely (pending is oldest first)."""
    stale = set()
    for index, older in enumerate(pending):
        for newer in pending[index + 1:]:
            if (newer.task_id, newer.kind) == (older.task_id, older.kind) and set(older.payload) <= set(newer.payload):
                stale.add(older.id)
                break
    return stale


def _due(moment):
    """Waiting, its retry time come, and no process delivering it."""
    return and_(Writeback.status == "pending", Writeback.next_attempt_at <= moment, _free(moment))


def _free(moment):
    """No process holds a lease on it (never leased, or the lease ran out)."""
    return or_(Writeback.lease_until.is_(None), Writeback.lease_until < moment)


def _claiming_alone(session) -> None:
    """One claiming transaction at a time across processes; claims take milliseconds."""
    if session.bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK})
    else:
        # Python's sqlite3 begins a transaction only at the first write: this one takes the write lock
        # now, so what is read next cannot change before the claim is written.
        session.execute(text("UPDATE ls_writebacks SET id = id WHERE 1 = 0"))


def _aware(moment):
    """SQLite hands back naive datetimes (stored in UTC)."""
    from datetime import timezone

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)
