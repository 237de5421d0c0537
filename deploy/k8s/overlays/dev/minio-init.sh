#!/bin/sh
# One-shot (docker compose service `minio-init`): the portal bucket and a non-root S3 user
# with read/write on it. Idempotent: safe to run on every `docker compose up`.
set -eu
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD"
mc mb --ignore-existing "local/$PORTAL_S3_BUCKET"
mc version enable "local/$PORTAL_S3_BUCKET" || true
mc admin user add local "$PORTAL_S3_ACCESS_KEY" "$PORTAL_S3_SECRET_KEY"
mc admin policy attach local readwrite --user "$PORTAL_S3_ACCESS_KEY" 2>/dev/null || true
echo "bucket $PORTAL_S3_BUCKET ready"
