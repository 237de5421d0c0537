"""stored_file: derived_from and the public download URL (issue 5: derived CSV copies)

Revision ID: catalog_0006
Revises: catalog_0005
Create Date: 2026-11-29 01:00:00

``storage.file.stored`` of a derived copy carries ``derived_from`` (the source file); the catalog
keeps it in its file read model and resolves a resource's copies when it builds documents, so
the order in which the copy, the source and the resource arrive does not matter.
"""

import sqlalchemy as sa
from alembic import op

revision = "catalog_0006"
down_revision = "catalog_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("stored_file", sa.Column("derived_from", sa.Uuid(), nullable=True))
    op.add_column("stored_file", sa.Column("download_url", sa.Text(), nullable=True))
    op.create_index(
        "ix_stored_file_derived_from",
        "stored_file",
        ["derived_from"],
        postgresql_where=sa.text("derived_from IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_stored_file_derived_from", table_name="stored_file")
    op.drop_column("stored_file", "download_url")
    op.drop_column("stored_file", "derived_from")
