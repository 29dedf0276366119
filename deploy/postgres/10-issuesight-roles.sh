#!/bin/sh
# IssueSight's own PostgreSQL roles, least privilege first. The postgres image runs this once,
# as the superuser, when it initialises an empty data directory (/docker-entrypoint-initdb.d);
# tests/test_database_roles.py runs it against a PostgreSQL of its own.
#
#   issuesight_owner  owns the `issuesight` database and its schema: migrations run as it.
#   issuesight_app    what the API and the workers connect as: it can read and write rows,
#                     and nothing else (no DDL, no TRUNCATE, no other database).
#
# The superuser stays Temporal's (it creates its own databases); IssueSight never uses it.
set -eu
: "${ISSUESIGHT_OWNER_PASSWORD:?set ISSUESIGHT_OWNER_PASSWORD}"
: "${ISSUESIGHT_APP_PASSWORD:?set ISSUESIGHT_APP_PASSWORD}"
database="${ISSUESIGHT_DB:-issuesight}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" \
     --dbname "${POSTGRES_DB:-postgres}" \
     -v owner_password="$ISSUESIGHT_OWNER_PASSWORD" \
     -v app_password="$ISSUESIGHT_APP_PASSWORD" \
     -v database="$database" <<'SQL'
CREATE ROLE issuesight_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE issuesight_app LOGIN PASSWORD :'app_password' CONNECTION LIMIT 200;
CREATE DATABASE :"database" OWNER issuesight_owner;
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO issuesight_app;
\connect :"database"
ALTER SCHEMA public OWNER TO issuesight_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO issuesight_app;
-- Tables and sequences the migrations create later are the app's to use, not to change.
ALTER DEFAULT PRIVILEGES FOR ROLE issuesight_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO issuesight_app;
ALTER DEFAULT PRIVILEGES FOR ROLE issuesight_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO issuesight_app;
SQL
