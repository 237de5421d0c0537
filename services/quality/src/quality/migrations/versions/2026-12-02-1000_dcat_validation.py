"""q_dcat_validation: harvest-export's SHACL result per dataset (harvest.dataset.validated)

Revision ID: quality_0004
Revises: quality_0003
Create Date: 2026-12-02 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "quality_0004"
down_revision = "quality_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "q_dcat_validation",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("conforms", sa.Boolean(), nullable=False),
        sa.Column("violations", postgresql.JSONB(), nullable=False),
        sa.Column("profile", sa.String(), nullable=False),
        sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_q_dcat_validation")),
    )


def downgrade() -> None:
    op.drop_table("q_dcat_validation")
