"""Goals, annotations, alert subscriptions and the alert history.

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
        "goals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("measure", sa.String(50), nullable=False),
        sa.Column("target", sa.Float, nullable=False),
        sa.Column("due", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_annotations_day", "annotations", ["day"])
    op.create_table(
        "alert_subscriptions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(50), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("rule", "email", name="uq_alert_subscription"),
    )
    op.create_table(
        "alert_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(50), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("fired", sa.Boolean, nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("baseline", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("p_value", sa.Float, nullable=True),
        sa.Column("explanation", sa.Text, nullable=False),
        sa.Column("top_contributors", sa.Text, nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mailed", sa.String(20), nullable=False),
        sa.UniqueConstraint("rule", "day", name="uq_alert_check"),
    )
    op.create_index("ix_alert_checks_day", "alert_checks", ["day"])


def downgrade() -> None:
    op.drop_index("ix_alert_checks_day", table_name="alert_checks")
    op.drop_table("alert_checks")
    op.drop_table("alert_subscriptions")
    op.drop_index("ix_annotations_day", table_name="annotations")
    op.drop_table("annotations")
    op.drop_table("goals")
