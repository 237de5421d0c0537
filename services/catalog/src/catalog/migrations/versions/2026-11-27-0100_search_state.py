"""search state: a generation counter bumped by every write to dataset or organization

Revision ID: catalog_0003
Revises: catalog_0002
Create Date: 2026-11-27 01:00:00

The search cache (catalog.search) keys its entries by this counter. It is bumped inside the
writing transaction by a statement-level trigger, so a reader that sees a new generation also
sees the rows that caused it (no stale cache entry under a new key), on every replica.
"""

from alembic import op

revision = "catalog_0003"
down_revision = "catalog_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE TABLE search_state (id integer PRIMARY KEY CHECK (id = 1), gen bigint NOT NULL)"
    )
    op.execute("INSERT INTO search_state (id, gen) VALUES (1, 1)")
    op.execute(
        """
        CREATE FUNCTION catalog_bump_search_gen() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE search_state SET gen = gen + 1 WHERE id = 1;
            RETURN NULL;
        END $$
        """
    )
    for table in ("dataset", "organization"):
        op.execute(
            f"CREATE TRIGGER {table}_search_gen AFTER INSERT OR UPDATE OR DELETE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION catalog_bump_search_gen()"
        )


def downgrade() -> None:
    for table in ("dataset", "organization"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_search_gen ON {table}")
    op.execute("DROP FUNCTION IF EXISTS catalog_bump_search_gen()")
    op.execute("DROP TABLE IF EXISTS search_state")
