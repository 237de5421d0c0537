"""read model (organizations, datasets, quality) and the harvest log

Revision ID: harvest_export_0002
Revises: harvest_export_0001
Create Date: 2026-11-27 00:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "harvest_export_0002"
down_revision = "harvest_export_0001"
branch_labels = None
depends_on = None

NAIVE = sa.DateTime(timezone=False)


def upgrade() -> None:
    op.create_table(
        "hx_organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("doc", postgresql.JSONB(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created", NAIVE, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hx_organization")),
    )
    op.create_index(op.f("ix_hx_organization_name"), "hx_organization", ["name"])
    op.create_table(
        "hx_dataset",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("doc", postgresql.JSONB(), nullable=False),
        sa.Column("served", sa.Boolean(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("metadata_created", NAIVE, nullable=True),
        sa.Column("metadata_modified", NAIVE, nullable=True),
        sa.Column("first_served_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("package", postgresql.JSONB(), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("invalid_reason", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("org_name", sa.String(), nullable=False),
        sa.Column("license_id", sa.String(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("groups", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("res_formats", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("search_text", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hx_dataset")),
    )
    op.create_index(op.f("ix_hx_dataset_name"), "hx_dataset", ["name"])
    op.create_index(op.f("ix_hx_dataset_organization_id"), "hx_dataset", ["organization_id"])
    op.create_index(op.f("ix_hx_dataset_served"), "hx_dataset", ["served"])
    op.create_index(op.f("ix_hx_dataset_metadata_modified"), "hx_dataset", ["metadata_modified"])
    op.create_table(
        "hx_quality",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("dataset_revision", sa.Integer(), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("dataset_id", name=op.f("pk_hx_quality")),
    )
    op.create_table(
        "hx_pull",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("client", sa.String(), nullable=False),
        sa.Column("user_agent", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("ids", postgresql.ARRAY(sa.Uuid()), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hx_pull")),
    )
    op.create_index(op.f("ix_hx_pull_at"), "hx_pull", ["at"])
    op.create_index(op.f("ix_hx_pull_user_agent"), "hx_pull", ["user_agent"])


def downgrade() -> None:
    op.drop_table("hx_pull")
    op.drop_table("hx_quality")
    op.drop_table("hx_dataset")
    op.drop_table("hx_organization")
