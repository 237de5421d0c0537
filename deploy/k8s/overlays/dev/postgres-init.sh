#!/bin/bash
# docker-entrypoint-initdb.d step (runs once, on an empty data directory):
# the application role `portal` and one database per service, owned by it.
set -euo pipefail
: "${PORTAL_DB_PASSWORD:?PORTAL_DB_PASSWORD is required}"
: "${PORTAL_DATABASES:?PORTAL_DATABASES is required}"

psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
     -v pw="$PORTAL_DB_PASSWORD" <<'SQL'
SELECT format('CREATE ROLE portal LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'portal') \gexec
SQL

for db in $PORTAL_DATABASES; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres -v db="$db" <<'SQL'
SELECT format('CREATE DATABASE %I OWNER portal ENCODING ''UTF8'' TEMPLATE template0', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') \gexec
SQL
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$db" -v db="$db" <<'SQL'
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
SELECT format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC', :'db') \gexec
SQL
done
