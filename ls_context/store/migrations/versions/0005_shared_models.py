"""shared models: answers each server learns in order, their lessons, published full fits, leases for one fitter and one learner

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ls_answers_changed",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ls_answers_changed_project_id", "ls_answers_changed", ["project_id"])
    op.create_table(
        "ls_model_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("config_hash", sa.String(32), nullable=False),
        sa.Column("file", sa.String(200), nullable=False),
        sa.Column("learned_up_to", sa.Integer, nullable=False),
        sa.Column("examples", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "version"),
    )
    op.create_index("ix_ls_model_versions_project_id", "ls_model_versions", ["project_id"])
    op.create_table(
        "ls_lessons",
        sa.Column("answer_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("lesson", sa.JSON, nullable=False),
    )
    op.create_table(
        "ls_leases",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ls_leases")
    op.drop_table("ls_lessons")
    op.drop_index("ix_ls_model_versions_project_id", "ls_model_versions")
    op.drop_table("ls_model_versions")
    op.drop_index("ix_ls_answers_changed_project_id", "ls_answers_changed")
    op.drop_table("ls_answers_changed")
