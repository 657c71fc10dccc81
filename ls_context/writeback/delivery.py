"""Deliver queued write-backs to Label Studio; a failure is retried with backoff, never dropped."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from ls_context.store import Store, Writeback, now

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 60


def deliver_due(store: Store, studio, limit: int = 50) -> tuple[int, int]:
    """Send every write-back whose time has come; (delivered, failed this round)."""
    with store.session() as session:
        due = list(session.scalars(
            select(Writeback).where(Writeback.status == "pending", Writeback.next_attempt_at <= now())
            .order_by(Writeback.id).limit(limit)
        ))
    delivered = failed = 0
    for writeback in due:
        try:
            studio.merge_into_task(writeback.task_id, writeback.kind, writeback.payload)
        except Exception as error:  # Label Studio down, slow or refusing: try again later
            failed += 1
            attempts = writeback.attempts + 1
            delay = timedelta(seconds=min(2 ** attempts, MAX_BACKOFF_S))
            log.warning("write-back %s to task %s failed (attempt %d), retrying in %s: %s",
                        writeback.id, writeback.task_id, attempts, delay, type(error).__name__)
            with store.session() as session:
                session.execute(update(Writeback).where(Writeback.id == writeback.id).values(
                    attempts=attempts, next_attempt_at=now() + delay, last_error=f"{type(error).__name__}: {error}"[:1000]))
            continue
        delivered += 1
        with store.session() as session:
            session.execute(update(Writeback).where(Writeback.id == writeback.id).values(
                status="delivered", delivered_at=now(), attempts=writeback.attempts + 1))
    return delivered, failed
