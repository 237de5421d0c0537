"""hx_fetch: when the national harvester last received each dataset

Revision ID: harvest_export_0003
Revises: harvest_export_0002
Create Date: 2026-11-27 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "harvest_export_0003"
down_revision = "harvest_export_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hx_fetch",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_hx_fetch")),
    )
    # the pulls logged before: recognised by the default user agents of the settings
    op.execute(
        """
        INSERT INTO hx_fetch (dataset_id, fetched_at)
        SELECT u.id, max(p.at)
        FROM hx_pull p CROSS JOIN LATERAL unnest(p.ids) AS u(id)
        WHERE p.kind IN ('ckan', 'dcat') AND p.user_agent ILIKE ANY
              (ARRAY['%data.gov.ua%', '%ckanext-harvest%', '%python-requests/%'])
        GROUP BY u.id
        """
    )


def downgrade() -> None:
    op.drop_table("hx_fetch")
