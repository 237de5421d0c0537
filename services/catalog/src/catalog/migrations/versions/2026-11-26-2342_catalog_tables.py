"""catalog tables

Revision ID: catalog_0002
Revises: catalog_0001
Create Date: 2026-11-26 23:42:55.176529
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "catalog_0002"
down_revision = "catalog_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # generated from the models, then edited by hand
    op.create_table(
        "dataset_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(), nullable=True),
        sa.Column("actor_email", sa.String(), nullable=True),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("changes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_history")),
    )
    op.create_index(
        op.f("ix_dataset_history_dataset_id"), "dataset_history", ["dataset_id"], unique=False
    )
    op.create_table(
        "organization",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("title_en", sa.String(), nullable=True),
        sa.Column("edrpou", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("website", sa.String(), nullable=True),
        sa.Column("responsible_persons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("requires_update_moderation", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organization")),
        sa.UniqueConstraint("name", name=op.f("uq_organization_name")),
    )
    op.create_table(
        "post",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("body_html", sa.String(), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("dataset_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author_id", sa.String(), nullable=True),
        sa.Column("author_name", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post")),
    )
    op.create_index(op.f("ix_post_kind"), "post", ["kind"], unique=False)
    op.create_table(
        "register_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("title_en", sa.String(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("responsible_person", sa.String(), nullable=True),
        sa.Column("list_code", sa.String(), nullable=True),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("update_frequency", sa.String(), nullable=True),
        sa.Column("planned_publication_date", sa.Date(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("notes", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_register_entry")),
        sa.UniqueConstraint("list_code", name=op.f("uq_register_entry_list_code")),
        sa.UniqueConstraint("request_id", name=op.f("uq_register_entry_request_id")),
    )
    op.create_index(
        op.f("ix_register_entry_organization_id"),
        "register_entry",
        ["organization_id"],
        unique=False,
    )
    op.create_table(
        "stored_file",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("original_name", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_file")),
    )
    op.create_table(
        "dataset",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("title_en", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("description_en", sa.String(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("organization_id", sa.Uuid(), nullable=False),
        sa.Column("maintainer", sa.String(), nullable=True),
        sa.Column("maintainer_email", sa.String(), nullable=True),
        sa.Column("maintainer_phone", sa.String(), nullable=True),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("themes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("license_id", sa.String(), nullable=False),
        sa.Column("language", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("legal_basis", sa.String(), nullable=True),
        sa.Column("purpose", sa.String(), nullable=True),
        sa.Column("update_frequency", sa.String(), nullable=True),
        sa.Column("temporal_start", sa.Date(), nullable=True),
        sa.Column("temporal_end", sa.Date(), nullable=True),
        sa.Column("spatial", sa.String(), nullable=True),
        sa.Column("spatial_uri", sa.String(), nullable=True),
        sa.Column("data_actuality_date", sa.Date(), nullable=True),
        sa.Column("version", sa.String(), nullable=True),
        sa.Column("structure_url", sa.String(), nullable=True),
        sa.Column("list_code", sa.String(), nullable=True),
        sa.Column("register_entry_id", sa.Uuid(), nullable=True),
        sa.Column("access_rights", sa.String(), nullable=False),
        sa.Column("formats", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        sa.Column("moderation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pending", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("pending_status", sa.String(), nullable=True),
        sa.Column("search_title", sa.String(), nullable=False),
        sa.Column("search_vector", postgresql.TSVECTOR(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organization.id"],
            name=op.f("fk_dataset_organization_id_organization"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset")),
        sa.UniqueConstraint("name", name=op.f("uq_dataset_name")),
    )
    op.create_index(op.f("ix_dataset_list_code"), "dataset", ["list_code"], unique=False)
    op.create_index(
        op.f("ix_dataset_organization_id"), "dataset", ["organization_id"], unique=False
    )
    op.create_index(op.f("ix_dataset_status"), "dataset", ["status"], unique=False)
    op.create_table(
        "resource",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("name_en", sa.String(), nullable=True),
        sa.Column("description", sa.String(), nullable=True),
        sa.Column("format", sa.String(), nullable=True),
        sa.Column("media_type", sa.String(), nullable=True),
        sa.Column("file_id", sa.Uuid(), nullable=True),
        sa.Column("url", sa.String(), nullable=True),
        sa.Column("download_url", sa.String(), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("structure_url", sa.String(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["dataset.id"], name=op.f("fk_resource_dataset_id_dataset")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource")),
    )
    op.create_index(op.f("ix_resource_dataset_id"), "resource", ["dataset_id"], unique=False)
    op.create_table(
        "resource_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_by", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resource.id"], name=op.f("fk_resource_version_resource_id_resource")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resource_version")),
    )
    op.create_index(
        op.f("ix_resource_version_resource_id"), "resource_version", ["resource_id"], unique=False
    )

    # search: lexemes are built by catalog.text (no Ukrainian stemmer in PostgreSQL)
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_index(
        "ix_dataset_search_vector", "dataset", ["search_vector"], postgresql_using="gin"
    )
    op.create_index(
        "ix_dataset_search_title_trgm",
        "dataset",
        ["search_title"],
        postgresql_using="gin",
        postgresql_ops={"search_title": "gin_trgm_ops"},
    )
    op.create_index("ix_dataset_themes", "dataset", ["themes"], postgresql_using="gin")
    op.create_index("ix_dataset_keywords", "dataset", ["keywords"], postgresql_using="gin")
    op.create_index("ix_dataset_formats", "dataset", ["formats"], postgresql_using="gin")
    op.create_index("ix_dataset_modified_at", "dataset", ["modified_at"])
    op.create_index("ix_dataset_history_dataset_at", "dataset_history", ["dataset_id", "at"])


def downgrade() -> None:
    for ix in (
        "ix_dataset_search_vector",
        "ix_dataset_search_title_trgm",
        "ix_dataset_themes",
        "ix_dataset_keywords",
        "ix_dataset_formats",
        "ix_dataset_modified_at",
    ):
        op.drop_index(ix, table_name="dataset")
    op.drop_index("ix_dataset_history_dataset_at", table_name="dataset_history")
    # generated from the models, then edited by hand
    op.drop_index(op.f("ix_resource_version_resource_id"), table_name="resource_version")
    op.drop_table("resource_version")
    op.drop_index(op.f("ix_resource_dataset_id"), table_name="resource")
    op.drop_table("resource")
    op.drop_index(op.f("ix_dataset_status"), table_name="dataset")
    op.drop_index(op.f("ix_dataset_organization_id"), table_name="dataset")
    op.drop_index(op.f("ix_dataset_list_code"), table_name="dataset")
    op.drop_table("dataset")
    op.drop_table("stored_file")
    op.drop_index(op.f("ix_register_entry_organization_id"), table_name="register_entry")
    op.drop_table("register_entry")
    op.drop_index(op.f("ix_post_kind"), table_name="post")
    op.drop_table("post")
    op.drop_table("organization")
    op.drop_index(op.f("ix_dataset_history_dataset_id"), table_name="dataset_history")
    op.drop_table("dataset_history")
