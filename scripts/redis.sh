#!/usr/bin/env bash
# A Redis for the tests, on loopback only. Prints the HERALD_REDIS_URL to use.
set -euo pipefail
data=${HERALD_DATA_DIR:-$(pwd)/data}
port=${HERALD_REDIS_PORT:-63799}
command -v redis-server >/dev/null || { echo "Redis is not installed: apt-get install redis-server" >&2; exit 1; }
case "${1:-start}" in
  start)
    mkdir -p "$data"
    if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
      redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
        --dir "$data" --logfile "$data/redis.log" --pidfile "$data/redis.pid"
      for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    fi
    echo "redis://127.0.0.1:$port/0"
    ;;
  stop)
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    ;;
esac
