"""files, references, datasets seen, upload sessions, download counts, quotas

Revision ID: storage_0002
Revises: storage_0001
Create Date: 2026-11-27 10:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql as pg

revision = "storage_0002"
down_revision = "storage_0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organization_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("bucket", sa.String(255), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("declared_media_type", sa.String(255), nullable=True),
        sa.Column("type_mismatch", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("uploaded_by", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.Column("purged", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_files_organization_id", "files", ["organization_id"])
    op.create_index(
        "ix_files_unpurged", "files", ["deleted_at"], postgresql_where=sa.text("NOT purged")
    )
    op.create_table(
        "file_references",
        sa.Column("file_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("dataset_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("public", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_file_references_dataset_id", "file_references", ["dataset_id"])
    op.create_table(
        "datasets_seen",
        sa.Column("dataset_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organization_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
    )
    op.create_table(
        "upload_sessions",
        sa.Column("id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("organization_id", pg.UUID(as_uuid=True), nullable=False),
        sa.Column("bucket", sa.String(255), nullable=False),
        sa.Column("key", sa.String(1024), nullable=False),
        sa.Column("s3_upload_id", sa.String(1024), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("declared_media_type", sa.String(255), nullable=True),
        sa.Column("size", sa.BigInteger, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("file_id", pg.UUID(as_uuid=True), nullable=True),
        sa.Column("parts", pg.JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("ix_upload_sessions_organization_id", "upload_sessions", ["organization_id"])
    op.create_index(
        "ix_upload_sessions_open_expiry",
        "upload_sessions",
        ["expires_at"],
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "download_counts",
        sa.Column("file_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("count", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_download_counts_day", "download_counts", ["day"])
    op.create_table(
        "organization_quotas",
        sa.Column("organization_id", pg.UUID(as_uuid=True), primary_key=True),
        sa.Column("quota_bytes", sa.BigInteger, nullable=False),
        sa.Column("modified_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "organization_quotas",
        "download_counts",
        "upload_sessions",
        "datasets_seen",
        "file_references",
        "files",
    ):
        op.drop_table(table)
