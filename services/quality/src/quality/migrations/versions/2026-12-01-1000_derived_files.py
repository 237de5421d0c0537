"""q_file: the derived CSV as a storage file (derived_sha256, derived_file_id, derived_from)

Revision ID: quality_0003
Revises: quality_0002
Create Date: 2026-12-01 10:00:00
"""

from alembic import op

revision = "quality_0003"
down_revision = "quality_0002"
branch_labels = None
depends_on = None

# quality_0002 creates the tables from the current models, so on a fresh database the columns
# exist already: add them only where they are missing
COLUMNS = {
    "derived_sha256": "VARCHAR",
    "derived_file_id": "UUID",
    "derived_from": "UUID",
}


def upgrade() -> None:
    for name, type_ in COLUMNS.items():
        op.execute(f"ALTER TABLE q_file ADD COLUMN IF NOT EXISTS {name} {type_}")


def downgrade() -> None:
    for name in COLUMNS:
        op.execute(f"ALTER TABLE q_file DROP COLUMN IF EXISTS {name}")
