#!/bin/sh
# First start of the PostgreSQL volume: the app's login role. `eltrace db migrate --grant eltrace_app`
# (the compose migrate service, run as the owner) then gives it row rights on every table.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE eltrace_app LOGIN PASSWORD :'pw';
SQL
