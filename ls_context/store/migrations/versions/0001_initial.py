"""the first schema: events, annotations, task data, gold, checks, flags, labelers, write-backs

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = True):
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "ls_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("project_id", sa.Integer, index=True),
        sa.Column("payload", sa.JSON, nullable=False),
        _when("received_at", nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "ls_annotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("task_id", sa.Integer, nullable=False, index=True),
        sa.Column("labeler_id", sa.Integer, index=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.String(40)),
        sa.Column("lead_time", sa.Float),
        sa.Column("cancelled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "ls_task_data",
        sa.Column("task_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("data", sa.JSON, nullable=False),
    )
    op.create_table(
        "ls_gold",
        sa.Column("task_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("result", sa.JSON, nullable=False),
        sa.Column("explanation", sa.Text, nullable=False),
    )
    op.create_table(
        "ls_checks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("task_id", sa.Integer, nullable=False, index=True),
        sa.Column("annotation_id", sa.Integer, nullable=False, index=True),
        sa.Column("updated_at", sa.String(40)),
        sa.Column("labeler_id", sa.Integer, index=True),
        sa.Column("control", sa.String(200), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("passed", sa.Boolean),
        sa.Column("expected", sa.Text, nullable=False),
        sa.Column("given", sa.Text, nullable=False),
        _when("checked_at", nullable=False),
        sa.UniqueConstraint("annotation_id", "updated_at", "control"),
    )
    op.create_table(
        "ls_flags",
        sa.Column("annotation_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("task_id", sa.Integer, nullable=False, index=True),
        sa.Column("labeler_id", sa.Integer),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("label", sa.Text, nullable=False),
    )
    op.create_table(
        "ls_labelers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(320), nullable=False),
    )
    op.create_table(
        "ls_writebacks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("task_id", sa.Integer, nullable=False, index=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        _when("next_attempt_at", nullable=False),
        sa.Column("last_error", sa.Text),
        _when("created_at", nullable=False),
        _when("delivered_at"),
    )
    op.create_index("ix_ls_writebacks_next_attempt_at", "ls_writebacks", ["next_attempt_at"])


def downgrade() -> None:
    for table in ("ls_writebacks", "ls_labelers", "ls_flags", "ls_checks", "ls_gold", "ls_task_data", "ls_annotations", "ls_events"):
        op.drop_table(table)
