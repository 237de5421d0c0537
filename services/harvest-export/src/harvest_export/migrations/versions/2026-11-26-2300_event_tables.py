"""event tables: outbox, inbox, dead letters

Revision ID: harvest_export_0001
Revises:
Create Date: 2026-11-26 23:00:00
"""

from alembic import op
from portal_kit.events.tables import create_event_tables, drop_event_tables

revision = "harvest_export_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_event_tables(op)


def downgrade() -> None:
    drop_event_tables(op)
