"""alerts and notices: messages for the team's channels, each channel's pace, and what changed in the guidelines per labeler

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ls_alerts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("project_id", sa.Integer),
        sa.Column("task_id", sa.Integer),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("link", sa.Text),
        sa.Column("key", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_ls_alerts_channel", "ls_alerts", ["channel"])
    op.create_index("ix_ls_alerts_status", "ls_alerts", ["status"])
    op.create_index("ix_ls_alerts_key", "ls_alerts", ["key"])
    op.create_table(
        "ls_alert_channels",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("last_sent_at", sa.DateTime(timezone=True)),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", sa.DateTime(timezone=True)),
    )


    op.create_table(
        "ls_notices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, nullable=False),
        sa.Column("labeler_id", sa.Integer, nullable=False),
        sa.Column("guidelines_number", sa.Integer, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "labeler_id", "guidelines_number"),
    )
    op.create_index("ix_ls_notices_labeler_id", "ls_notices", ["labeler_id"])


def downgrade() -> None:
    op.drop_index("ix_ls_notices_labeler_id", "ls_notices")
    op.drop_table("ls_notices")
    op.drop_table("ls_alert_channels")
    op.drop_index("ix_ls_alerts_key", "ls_alerts")
    op.drop_index("ix_ls_alerts_status", "ls_alerts")
    op.drop_index("ix_ls_alerts_channel", "ls_alerts")
    op.drop_table("ls_alerts")
