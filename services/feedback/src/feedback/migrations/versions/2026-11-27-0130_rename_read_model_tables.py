"""rename the catalog read-model tables to known_organization and known_dataset

The catalog owns tables called ``organization`` and ``dataset``; SQLModel keeps every table of a
process in one MetaData, so a process that imports both services' models (the test suite, a
script) could not load them. The feedback copies get names of their own.

Revision ID: feedback_0003
Revises: feedback_0002
Create Date: 2026-11-27 01:30:00
"""

from alembic import op

revision = "feedback_0003"
down_revision = "feedback_0002"
branch_labels = None
depends_on = None

RENAMES = [("organization", "known_organization"), ("dataset", "known_dataset")]
INDEXES = [
    ("ix_dataset_organization_id", "ix_known_dataset_organization_id"),
    ("ix_dataset_register_entry_id", "ix_known_dataset_register_entry_id"),
]


def upgrade() -> None:
    for old, new in RENAMES:
        op.rename_table(old, new)
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{old} TO pk_{new}")
    for old, new in INDEXES:
        op.execute(f"ALTER INDEX {old} RENAME TO {new}")


def downgrade() -> None:
    for old, new in INDEXES:
        op.execute(f"ALTER INDEX {new} RENAME TO {old}")
    for old, new in RENAMES:
        op.execute(f"ALTER TABLE {new} RENAME CONSTRAINT pk_{new} TO pk_{old}")
        op.rename_table(new, old)
