"""hardening: delivery columns as long as the parser allows, issue change tracking, regeneration
limits

Revision ID: 0006
Revises: 0005

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from issuesight.db.types import JSONType, UTCDateTime

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
    _backfill_watched()

    op.create_table(
        "regeneration_limits",
        sa.Column("tutorial_id", sa.Uuid(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=True),
        sa.Column("window_started_at", UTCDateTime(), nullable=False),
        sa.Column("window_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["tutorial_id"], ["tutorial_contents.id"]),
        sa.PrimaryKeyConstraint("tutorial_id"),
    )


# The labels a project without its own watches (ProjectStore's DEFAULT_LABELS, copied: a
# migration keeps the rule of its own time).
_DEFAULT_LABELS = ("good first issue", "help wanted")


def _backfill_watched() -> None:
    """`watched` as record_issue would have set it for the stored version: open, carrying one
    of the project's watch labels. Left false, every issue recorded before this revision
    would be invisible to the reconciler and the stale refresh (both select watched issues)
    until GitHub reported a change of it, since an unchanged listing page is a 304 that
    records nothing."""
    projects = sa.table("projects", sa.column("id", sa.Uuid()), sa.column("watch_labels", JSONType))
    issues = sa.table(
        "github_issues",
        sa.column("id", sa.Uuid()),
        sa.column("project_id", sa.Uuid()),
        sa.column("state", sa.String()),
        sa.column("raw_data", JSONType),
        sa.column("watched", sa.Boolean()),
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(issues.c.id, issues.c.raw_data, projects.c.watch_labels)
        .join(projects, projects.c.id == issues.c.project_id)
        .where(issues.c.state == "open")
    )
    watched = []
    for issue_id, raw, labels in rows:
        wanted = {str(label).lower() for label in labels or _DEFAULT_LABELS}
        names = {
            str(label.get("name", "")).lower() if isinstance(label, dict) else str(label).lower()
            for label in (raw.get("labels") if isinstance(raw, dict) else None) or []
        }
        if names & wanted:
            watched.append(issue_id)
    for start in range(0, len(watched), 500):
        bind.execute(
            sa.update(issues)
            .where(issues.c.id.in_(watched[start : start + 500]))
            .values(watched=True)
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
