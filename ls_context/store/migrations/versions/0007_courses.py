"""courses: each project's onboarding course in a companion Label Studio project

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ls_courses",
        sa.Column("project_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("course_project_id", sa.Integer, nullable=False, unique=True),
        sa.Column("taught", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ls_courses")
