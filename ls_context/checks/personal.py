"""Who may read which feedback: each labeler their own, through a personal link signed by the server.

Open-source Label Studio shows task data, task meta and every annotation of a task to every user,
so a verdict written there would reach the other labelers (and reveal which tasks are gold). The
verdicts stay in the store instead; a labeler reads theirs on a page whose link carries their user
id signed with the webhook secret: ids are not guessable entry points, and changing the secret
revokes every link.
"""

from __future__ import annotations

from sqlalchemy import case, func, select

from ls_context.store import Feedback, Labeler, Store

SALT = "ls-context labeler feedback"


def personal_token(secret: str, labeler_id: int) -> str:
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(secret, salt=SALT).dumps(int(labeler_id))


def labeler_of_token(secret: str, token: str) -> int | None:
    """The labeler a token was signed for, or None when it was not signed with this secret."""
    from itsdangerous import BadSignature, URLSafeSerializer

    try:
        labeler_id = URLSafeSerializer(secret, salt=SALT).loads(token)
    except BadSignature:
        return None
    return labeler_id if isinstance(labeler_id, int) and not isinstance(labeler_id, bool) else None


def feedback_link(backend_url: str, secret: str, labeler_id: int) -> str:
    return f"{backend_url.rstrip('/')}/feedback/{personal_token(secret, labeler_id)}"


def gold_summary(store: Store, project_id: int) -> dict[int, tuple[int, int]]:
    """labeler id -> (gold answers passed, gold answers checked) in a project, counting each answer's last version."""
    latest = _latest_feedback(project_id)
    with store.reading() as session:
        rows = session.execute(
            select(latest.c.labeler_id, func.sum(case((latest.c.passed.is_(True), 1), else_=0)), func.count())
            .where(latest.c.passed.is_not(None)).group_by(latest.c.labeler_id)
        ).all()
    return {labeler: (int(passed or 0), int(total)) for labeler, passed, total in rows if labeler is not None}


def recent_feedback(store: Store, labeler_id: int, limit: int = 50) -> tuple[Labeler | None, list[Feedback]]:
    """A labeler and their newest feedback, newest first (one row per version of each answer)."""
    with store.reading() as session:
        person = session.get(Labeler, labeler_id)
        rows = list(session.scalars(select(Feedback).where(Feedback.labeler_id == labeler_id)
                                    .order_by(Feedback.id.desc()).limit(limit)))
    return person, rows


def _latest_feedback(project_id: int):
    """Each annotation's newest feedback row in a project, as a subquery."""
    newest = select(func.max(Feedback.id)).where(Feedback.project_id == project_id).group_by(Feedback.annotation_id)
    return select(Feedback.labeler_id, Feedback.passed).where(Feedback.id.in_(newest)).subquery()
