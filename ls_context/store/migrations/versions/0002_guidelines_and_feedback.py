"""guidelines versions per project, feedback per labeler, the data of gold tasks

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ls_guidelines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("version", sa.String(100), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "number"),
    )
    op.create_table(
        "ls_feedback",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False, index=True),
        sa.Column("task_id", sa.Integer, nullable=False),
        sa.Column("annotation_id", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.String(40)),
        sa.Column("labeler_id", sa.Integer, index=True),
        sa.Column("passed", sa.Boolean),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("annotation_id", "updated_at"),
    )
    with op.batch_alter_table("ls_gold") as table:
        table.add_column(sa.Column("data", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("ls_gold") as table:
        table.drop_column("data")
    op.drop_table("ls_feedback")
    op.drop_table("ls_guidelines")
