#!/bin/sh
# The official image's first start, in short: a cluster whose superuser is
# POSTGRES_USER with the password in POSTGRES_PASSWORD_FILE, a database
# POSTGRES_DB, passwords required over the network.
set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "CREATE DATABASE \"$POSTGRES_DB\";" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec "$@" -D "$PGDATA" -c listen_addresses='*'
