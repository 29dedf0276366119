"""hardening: delivery columns as long as the parser allows, issue change tracking, regeneration
limits

Revision ID: 0006
Revises: 0005

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from issuesight.db.types import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # The parser accepts delivery ids of 128 characters and events and actions of 64; the
    # columns held 100 and 60, so PostgreSQL refused such a delivery with an error (a 500).
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "delivery_id",
            existing_type=sa.String(length=100),
            type_=sa.String(length=128),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "event",
            existing_type=sa.String(length=60),
            type_=sa.String(length=64),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "action",
            existing_type=sa.String(length=60),
            type_=sa.String(length=64),
            existing_nullable=True,
        )

    # Plain ADD COLUMN, not a batch: on SQLite a batch would copy and rename github_issues,
    # which the full-text search triggers (0003) refer to.
    op.add_column("github_issues", sa.Column("handled_updated_at", UTCDateTime(), nullable=True))
    op.add_column(
        "github_issues",
        sa.Column("watched", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # Issues recorded before this revision: their tutorial work was started when they were
    # recorded (the old order), so nothing is pending for them.
    op.execute("UPDATE github_issues SET handled_updated_at = source_updated_at")

    op.create_table(
        "regeneration_limits",
        sa.Column("tutorial_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=True),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tutorial_id"], ["tutorial_contents.id"]),
        sa.PrimaryKeyConstraint("tutorial_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("regeneration_limits")
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): no copy of the table its triggers refer to.
    op.drop_column("github_issues", "watched")
    op.drop_column("github_issues", "handled_updated_at")
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.alter_column(
            "action",
            existing_type=sa.String(length=64),
            type_=sa.String(length=60),
            existing_nullable=True,
        )
        batch_op.alter_column(
            "event",
            existing_type=sa.String(length=64),
            type_=sa.String(length=60),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "delivery_id",
            existing_type=sa.String(length=128),
            type_=sa.String(length=100),
            existing_nullable=False,
        )
