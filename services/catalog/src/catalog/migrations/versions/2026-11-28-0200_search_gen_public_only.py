"""search generation: bumped only by writes the public can see

Revision ID: catalog_0005
Revises: catalog_0004
Create Date: 2026-11-28 02:00:00

The search cache serves published datasets only. Until now every dataset write bumped the
generation, so an editor saving drafts emptied the public cache and every such write queued on
the one search_state row until commit. Now a dataset write bumps it only when the row was or
becomes published (row-level trigger with a WHEN condition); organization writes still always do
(their names are in every answer).
"""

from alembic import op

revision = "catalog_0005"
down_revision = "catalog_0004"
branch_labels = None
depends_on = None

WHEN = {
    "INSERT": "NEW.status = 'published'",
    "UPDATE": "OLD.status = 'published' OR NEW.status = 'published'",
    "DELETE": "OLD.status = 'published'",
}


def upgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS dataset_search_gen ON dataset")
    for verb, cond in WHEN.items():
        op.execute(
            f"CREATE TRIGGER dataset_search_gen_{verb.lower()} AFTER {verb} ON dataset "
            f"FOR EACH ROW WHEN ({cond}) EXECUTE FUNCTION catalog_bump_search_gen()"
        )


def downgrade() -> None:
    for verb in WHEN:
        op.execute(f"DROP TRIGGER IF EXISTS dataset_search_gen_{verb.lower()} ON dataset")
    op.execute(
        "CREATE TRIGGER dataset_search_gen AFTER INSERT OR UPDATE OR DELETE ON dataset "
        "FOR EACH STATEMENT EXECUTE FUNCTION catalog_bump_search_gen()"
    )
