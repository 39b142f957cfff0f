#!/usr/bin/env bash
# Make sure a Docker engine answers; start the distribution's daemon if we can.
set -euo pipefail
data=${HERALD_DATA_DIR:-$(pwd)/data}
docker info >/dev/null 2>&1 && exit 0
if [ -n "${DOCKER_HOST:-}" ]; then
  echo "DOCKER_HOST=$DOCKER_HOST does not answer (docker info failed)." >&2
  exit 1
fi
if [ "$(id -u)" = 0 ] && command -v dockerd >/dev/null 2>&1; then
  if command -v systemctl >/dev/null 2>&1 && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker || true
  fi
  if ! docker info >/dev/null 2>&1; then
    mkdir -p "$data"
    echo "Starting dockerd (log: $data/dockerd.log)"
    nohup dockerd >"$data/dockerd.log" 2>&1 &
  fi
elif command -v sudo >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1; then
  sudo systemctl start docker 2>/dev/null || (sudo nohup dockerd >/tmp/dockerd.log 2>&1 &)
fi
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 0.5
done
echo "No Docker engine answers. Install docker.io, start it (systemctl start docker), and make sure" >&2
echo "this user may use it (root, or a member of the docker group)." >&2
exit 1
