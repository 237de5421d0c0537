"""hx_dataset.shacl_digest: the SHACL result last announced (harvest.dataset.validated)

Revision ID: harvest_export_0004
Revises: harvest_export_0003
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "harvest_export_0004"
down_revision = "harvest_export_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hx_dataset", sa.Column("shacl_digest", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("hx_dataset", "shacl_digest")
