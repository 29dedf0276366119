"""full-text search over issues and tutorials

Revision ID: 0003
Revises: 0002

One search document per tutorial: the tutorial's title, summary and concepts and its issue's
title and body. The database keeps it current with triggers on the tables it is made from, so
no write path (submission, generation, sync, webhook, anything added later) can forget it.

- SQLite: an FTS5 table (`tutorial_search`, porter stemming, diacritics folded, ranked with
  bm25). FTS5 rows are addressed by an integer rowid, so `search_keys` gives each tutorial a
  stable one (an INTEGER PRIMARY KEY, which VACUUM keeps).
- PostgreSQL: `tutorial_search` holds a weighted `tsvector` per tutorial (English stemming;
  A: titles, B: concepts, C: summary, D: issue body) behind a GIN index, ranked with ts_rank_cd.
"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# An issue body can be 500 KB (GitHub allows 65 536 characters, payloads can be anything): the
# searchable part is bounded, and PostgreSQL refuses a tsvector over 1 MB.
BODY_CHARS = 100_000

# -- SQLite ----------------------------------------------------------------------------------

_SQLITE_DOCUMENT = f"""
INSERT INTO tutorial_search (rowid, title, issue_title, concepts, summary, issue_body)
SELECT k.doc_id,
       coalesce(c.title, ''),
       coalesce(i.title, ''),
       coalesce((SELECT group_concat(co.name || ' ' || replace(co.slug, '-', ' '), ' ')
                   FROM tutorial_concepts tc JOIN concepts co ON co.id = tc.concept_id
                  WHERE tc.content_id = c.id), ''),
       coalesce(CASE WHEN json_valid(c.structured)
                     THEN json_extract(c.structured, '$.summary') END, ''),
       substr(coalesce(CASE WHEN json_valid(i.raw_data)
                            THEN json_extract(i.raw_data, '$.body') END, ''), 1, {BODY_CHARS})
  FROM search_keys k
  JOIN tutorial_contents c ON c.id = k.tutorial_id
  JOIN github_issues i ON i.id = c.issue_id
 WHERE k.tutorial_id = {{tutorial}};
"""


def _sqlite_refresh(tutorial: str) -> str:
    """Statements (for a trigger body) that rebuild one tutorial's document."""
    return (
        "DELETE FROM tutorial_search WHERE rowid = "
        f"(SELECT doc_id FROM search_keys WHERE tutorial_id = {tutorial});"
        + _SQLITE_DOCUMENT.format(tutorial=tutorial)
    )


_SQLITE_TRIGGERS = {
    "tutorial_search_content_insert": (
        "AFTER INSERT ON tutorial_contents",
        "INSERT OR IGNORE INTO search_keys (tutorial_id) VALUES (NEW.id);"
        + _sqlite_refresh("NEW.id"),
    ),
    "tutorial_search_content_update": (
        "AFTER UPDATE OF title, structured ON tutorial_contents",
        _sqlite_refresh("NEW.id"),
    ),
    "tutorial_search_content_delete": (
        "AFTER DELETE ON tutorial_contents",
        "DELETE FROM tutorial_search WHERE rowid = "
        "(SELECT doc_id FROM search_keys WHERE tutorial_id = OLD.id);"
        "DELETE FROM search_keys WHERE tutorial_id = OLD.id;",
    ),
    "tutorial_search_issue_update": (
        "AFTER UPDATE OF title, raw_data ON github_issues",
        _sqlite_refresh("(SELECT id FROM tutorial_contents WHERE issue_id = NEW.id)"),
    ),
    "tutorial_search_concept_insert": (
        "AFTER INSERT ON tutorial_concepts",
        _sqlite_refresh("NEW.content_id"),
    ),
    "tutorial_search_concept_delete": (
        "AFTER DELETE ON tutorial_concepts",
        _sqlite_refresh("OLD.content_id"),
    ),
}


def _upgrade_sqlite() -> None:
    op.execute(
        "CREATE TABLE search_keys ("
        " doc_id INTEGER PRIMARY KEY,"
        " tutorial_id CHAR(32) NOT NULL UNIQUE)"
    )
    op.execute(
        "CREATE VIRTUAL TABLE tutorial_search USING fts5("
        " title, issue_title, concepts, summary, issue_body,"
        " tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    for name, (when, body) in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} FOR EACH ROW BEGIN {body} END")
    # What exists already.
    op.execute("INSERT INTO search_keys (tutorial_id) SELECT id FROM tutorial_contents")
    op.execute(_SQLITE_DOCUMENT.format(tutorial="k.tutorial_id"))


def _downgrade_sqlite() -> None:
    for name in _SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS tutorial_search")
    op.execute("DROP TABLE IF EXISTS search_keys")


# -- PostgreSQL ------------------------------------------------------------------------------

_PG_DOCUMENT = f"""
SELECT c.id,
       setweight(to_tsvector('english', coalesce(c.title, '')), 'A')
       || setweight(to_tsvector('english', coalesce(i.title, '')), 'A')
       || setweight(to_tsvector('english', coalesce(
            (SELECT string_agg(co.name || ' ' || replace(co.slug, '-', ' '), ' ')
               FROM tutorial_concepts tc JOIN concepts co ON co.id = tc.concept_id
              WHERE tc.content_id = c.id), '')), 'B')
       || setweight(to_tsvector('english', coalesce(
            CASE WHEN jsonb_typeof(c.structured -> 'summary') = 'string'
                 THEN c.structured ->> 'summary' END, '')), 'C')
       || setweight(to_tsvector('english', left(coalesce(
            CASE WHEN jsonb_typeof(i.raw_data -> 'body') = 'string'
                 THEN i.raw_data ->> 'body' END, ''), {BODY_CHARS})), 'D')
  FROM tutorial_contents c JOIN github_issues i ON i.id = c.issue_id
"""


def _upgrade_postgresql() -> None:
    op.execute(
        "CREATE TABLE tutorial_search ("
        " tutorial_id uuid PRIMARY KEY REFERENCES tutorial_contents (id) ON DELETE CASCADE,"
        " document tsvector NOT NULL)"
    )
    op.execute("CREATE INDEX ix_tutorial_search_document ON tutorial_search USING gin (document)")
    op.execute(
        f"""
        CREATE FUNCTION issuesight_search_refresh(wanted uuid) RETURNS void
        LANGUAGE sql AS $$
          INSERT INTO tutorial_search (tutorial_id, document)
          {_PG_DOCUMENT} WHERE c.id = wanted
          ON CONFLICT (tutorial_id) DO UPDATE SET document = EXCLUDED.document
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION issuesight_search_trigger() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          IF TG_TABLE_NAME = 'tutorial_contents' THEN
            PERFORM issuesight_search_refresh(NEW.id);
          ELSIF TG_TABLE_NAME = 'github_issues' THEN
            PERFORM issuesight_search_refresh(c.id) FROM tutorial_contents c
              WHERE c.issue_id = NEW.id;
          ELSIF TG_OP = 'DELETE' THEN
            PERFORM issuesight_search_refresh(OLD.content_id);
          ELSE
            PERFORM issuesight_search_refresh(NEW.content_id);
          END IF;
          RETURN NULL;
        END
        $$
        """
    )
    triggers = {
        "tutorial_search_content_insert": "AFTER INSERT ON tutorial_contents",
        "tutorial_search_content_update": "AFTER UPDATE OF title, structured ON tutorial_contents",
        "tutorial_search_issue_update": "AFTER UPDATE OF title, raw_data ON github_issues",
        "tutorial_search_concept_change": "AFTER INSERT OR DELETE ON tutorial_concepts",
    }
    for name, when in triggers.items():
        op.execute(
            f"CREATE TRIGGER {name} {when} FOR EACH ROW "
            "EXECUTE FUNCTION issuesight_search_trigger()"
        )
    op.execute(f"INSERT INTO tutorial_search (tutorial_id, document) {_PG_DOCUMENT}")


def _downgrade_postgresql() -> None:
    op.execute("DROP TRIGGER IF EXISTS tutorial_search_content_insert ON tutorial_contents")
    op.execute("DROP TRIGGER IF EXISTS tutorial_search_content_update ON tutorial_contents")
    op.execute("DROP TRIGGER IF EXISTS tutorial_search_issue_update ON github_issues")
    op.execute("DROP TRIGGER IF EXISTS tutorial_search_concept_change ON tutorial_concepts")
    op.execute("DROP FUNCTION IF EXISTS issuesight_search_trigger()")
    op.execute("DROP FUNCTION IF EXISTS issuesight_search_refresh(uuid)")
    op.execute("DROP TABLE IF EXISTS tutorial_search")


def upgrade() -> None:
    """Upgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    """Downgrade schema."""
    if op.get_bind().dialect.name == "postgresql":
        _downgrade_postgresql()
    else:
        _downgrade_sqlite()
