"""Alembic environment: the target is SQLModel.metadata; the URL comes from the settings."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import issuesight.db.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from issuesight.core.settings import get_settings
from issuesight.db.engine import make_engine
from issuesight.db.search import include_name

config = context.config
target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else get_settings().database_url


def run_migrations_offline() -> None:
    context.configure(
        url=_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    # A migration may rewrite a large table or build an index: no statement bound.
    engine = make_engine(_url(), statement_timeout=0)
    try:
        with engine.connect() as connection:
            # Batch mode lets ALTERs work on SQLite, which cannot alter most columns in place.
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                render_as_batch=True,
                compare_type=True,
                include_name=include_name,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
