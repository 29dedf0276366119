"""failed runs: how many runs of a tutorial failed since it last completed, so that syncs stop
starting a failed tutorial again (and paying for it) every interval for an unchanged issue

Revision ID: 0007
Revises: 0006

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Plain ADD COLUMN, not a batch: on SQLite a batch would copy and rename tutorial_contents,
    # which the full-text search triggers (0003) refer to. Tutorials that failed before this
    # revision count one failed run.
    op.add_column(
        "tutorial_contents",
        sa.Column("failed_runs", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE tutorial_contents SET failed_runs = 1 WHERE status = 'FAILED'")


def downgrade() -> None:
    """Downgrade schema."""
    # ALTER TABLE … DROP COLUMN (SQLite 3.35+): no copy of the table its triggers refer to.
    op.drop_column("tutorial_contents", "failed_runs")
