"""Saved SQL queries and each person's query history.

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
        "saved_queries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_saved_queries_owner", "saved_queries", ["owner"])
    op.create_table(
        "query_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(320), nullable=False),
        sa.Column("sql", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.Integer, nullable=True),
        sa.Column("seconds", sa.Float, nullable=True),
        sa.Column("error", sa.Text, nullable=False),
    )
    op.create_index("ix_query_runs_owner", "query_runs", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_query_runs_owner", table_name="query_runs")
    op.drop_table("query_runs")
    op.drop_index("ix_saved_queries_owner", table_name="saved_queries")
    op.drop_table("saved_queries")
