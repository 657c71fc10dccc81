"""Who may read which feedback: each labeler their own, and the lead anyone's, through signed links.

Open-source Label Studio shows task data, task meta and every annotation of a task to every user,
so a verdict written there would reach the other labelers (and reveal which tasks are gold). The
verdicts stay in the store instead; a labeler reads theirs on a page whose link carries their user
id signed with a key the server keeps in its store. Not the webhook secret or basic auth: Label
Studio shows every webhook's headers, and so both, to every user of the organisation.
"""

from __future__ import annotations

from sqlalchemy import case, func, select

from ls_context.store import Course, Feedback, Labeler, Notice, Store

KEY_NAME = "feedback-links"
LABELER, LEAD = "ls-context labeler feedback", "ls-context lead view"


class Links:
    """Signed links to the feedback pages: a labeler's own page, and the lead's view of any labeler."""

    def __init__(self, key: str):
        from itsdangerous import URLSafeSerializer

        self._labeler = URLSafeSerializer(key, salt=LABELER)
        self._lead = URLSafeSerializer(key, salt=LEAD)

    @classmethod
    def of(cls, store: Store) -> "Links":
        """The links every process sharing this store signs and checks alike."""
        return cls(store.key(KEY_NAME))

    def labeler_token(self, labeler_id: int) -> str:
        return self._labeler.dumps(int(labeler_id))

    def labeler_of(self, token: str) -> int | None:
        """The labeler a token was signed for, or None when this server did not sign it."""
        labeler_id = _loads(self._labeler, token)
        return labeler_id if isinstance(labeler_id, int) and not isinstance(labeler_id, bool) else None

    def lead_token(self) -> str:
        return self._lead.dumps("lead")

    def is_lead(self, token: str | None) -> bool:
        return token is not None and _loads(self._lead, token) == "lead"

    def feedback_url(self, backend_url: str, labeler_id: int) -> str:
        return f"{backend_url.rstrip('/')}/feedback/{self.labeler_token(labeler_id)}"

    def dashboard_url(self, backend_url: str, project_id: int) -> str:
        """The lead's dashboard of a project."""
        return f"{backend_url.rstrip('/')}/projects/{project_id}/dashboard?lead={self.lead_token()}"

    def lead_url(self, backend_url: str) -> str:
        """The lead's view of labeler <id>: the link with the id filled in."""
        return f"{backend_url.rstrip('/')}/labelers/<user id>?lead={self.lead_token()}"


def _loads(serializer, token: str):
    from itsdangerous import BadSignature

    try:
        return serializer.loads(token)
    except BadSignature:
        return None


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


def where_answered(store: Store, project_ids) -> dict[int, str]:
    """How a labeler's page names each project: an onboarding course by the project it prepares for."""
    with store.reading() as session:
        courses = dict(session.execute(select(Course.course_project_id, Course.project_id)
                                       .where(Course.course_project_id.in_(set(project_ids)))).all())
    return {project: f"Onboarding course of project {courses[project]}" if project in courses else f"Project {project}"
            for project in project_ids}


def recent_notices(store: Store, labeler_id: int, limit: int = 3) -> list[Notice]:
    """What changed in the guidelines, as told to this labeler, newest first."""
    with store.reading() as session:
        return list(session.scalars(select(Notice).where(Notice.labeler_id == labeler_id, Notice.text != "")
                                    .order_by(Notice.id.desc()).limit(limit)))


def _latest_feedback(project_id: int):
    """Each annotation's newest feedback row in a project, as a subquery."""
    newest = select(func.max(Feedback.id)).where(Feedback.project_id == project_id).group_by(Feedback.annotation_id)
    return select(Feedback.labeler_id, Feedback.passed).where(Feedback.id.in_(newest)).subquery()


def remember_emails(store: Store, users) -> None:
    """Webhooks name a labeler by id only: the lead's pages show emails once Label Studio's user list was read."""
    from ls_context.checks.processor import remember_labeler

    with store.session() as session:
        for user in users:
            remember_labeler(session, user.id, user.email or "")
