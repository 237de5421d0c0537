"""quality tables: catalog read model, files and reports, URL checks, scores, snapshots

Revision ID: quality_0002
Revises: quality_0001
Create Date: 2026-11-27 00:00:00
"""

from alembic import op

revision = "quality_0002"
down_revision = "quality_0001"
branch_labels = None
depends_on = None


def _tables():  # the models of this revision (first schema version)
    from quality.models import QUALITY_TABLES

    return [m.__table__ for m in QUALITY_TABLES]


def upgrade() -> None:
    bind = op.get_bind()
    for t in _tables():
        t.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    for t in reversed(_tables()):
        t.drop(bind, checkfirst=True)
