#!/usr/bin/env bash
# A PostgreSQL for the tests, in the data dir, on loopback only.
#   scripts/postgres.sh start   prints the DATABASE_URL to use
#   scripts/postgres.sh stop
set -euo pipefail
data=${HERALD_DATA_DIR:-$(pwd)/data}
port=${HERALD_PG_PORT:-54329}
dir="$data/postgres"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 1; }

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
    if [ ! -f "$dir/PG_VERSION" ]; then
      as_pg "$bin/initdb" -D "$dir" -U herald --auth=trust -E UTF8 >/dev/null
    fi
    opts="-c listen_addresses=127.0.0.1 -p $port -k /tmp -c max_connections=200"
    # Tests trade durability for speed; the benchmark (HERALD_PG_DURABLE=1)
    # measures a server configured as in production.
    [ "${HERALD_PG_DURABLE:-0}" = 1 ] || opts="$opts -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if ! as_pg "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
      if ! as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null; then
        echo "PostgreSQL did not start on 127.0.0.1:$port; the end of $dir/server.log:" >&2
        tail -n 5 "$dir/server.log" >&2 || true
        exit 1
      fi
    fi
    as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U herald -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='herald'" | grep -q 1 \
      || as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U herald herald
    echo "postgres://herald@127.0.0.1:$port/herald"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    ;;
esac
