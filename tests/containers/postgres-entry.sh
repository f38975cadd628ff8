#!/bin/bash
# PostgreSQL in tests/containers/run.sh: what the postgres image's entrypoint
# does on an empty data folder, in short: initdb with the superuser's password
# (POSTGRES_PASSWORD), database POSTGRES_DB, then every script of
# /docker-entrypoint-initdb.d (deploy/postgres-init.sh, mounted there as in
# docker-compose.yml) against a socket-only server; then the real server on
# 127.0.0.1:PG_PORT, a password (SCRAM) for every connection.
set -euo pipefail
: "${POSTGRES_PASSWORD:?}" "${POSTGRES_USER:=postgres}" "${POSTGRES_DB:=rebuttal}" "${PG_PORT:?}"
export POSTGRES_USER POSTGRES_DB
PGDATA=${PGDATA:-/var/lib/postgresql/data}
if [[ ! -s $PGDATA/PG_VERSION ]]; then
    mkdir -p "$PGDATA" && chmod 700 "$PGDATA"
    printf '%s\n' "$POSTGRES_PASSWORD" >/tmp/pw
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --auth=scram-sha-256 --pwfile=/tmp/pw \
        -E UTF8 --locale=C.UTF-8 --no-sync >/tmp/initdb.log 2>&1 || { cat /tmp/initdb.log; exit 1; }
    rm -f /tmp/pw
    pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -k /tmp" start
    export PGHOST=/tmp PGPASSWORD=$POSTGRES_PASSWORD
    psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres -c "CREATE DATABASE $POSTGRES_DB"
    for f in /docker-entrypoint-initdb.d/*.sh; do
        [[ -e $f ]] || continue
        echo "postgres-entry: running $f"
        bash "$f"
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGHOST PGPASSWORD
fi
exec postgres -D "$PGDATA" -p "$PG_PORT" -c listen_addresses=127.0.0.1 -k /tmp
