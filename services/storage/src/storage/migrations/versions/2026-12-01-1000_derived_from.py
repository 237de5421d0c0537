"""files.derived_from: the file a derived copy (a UTF-8 CSV of a spreadsheet) was made from

Revision ID: storage_0003
Revises: storage_0002
Create Date: 2026-12-01 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "storage_0003"
down_revision = "storage_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("files", sa.Column("derived_from", pg.UUID(as_uuid=True), nullable=True))
    op.create_index("ix_files_derived_from", "files", ["derived_from"])


def downgrade() -> None:
    op.drop_index("ix_files_derived_from", table_name="files")
    op.drop_column("files", "derived_from")
