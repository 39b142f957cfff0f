#!/usr/bin/env bash
# Install the Debian/Ubuntu packages Herald needs, only those missing.
#   scripts/bootstrap.sh run    what `make run` needs
#   scripts/bootstrap.sh test   plus what the test suite needs
set -euo pipefail
mode=${1:-run}

need=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
have_cmd git || need+=(git)
if ! docker info >/dev/null 2>&1 && ! have_cmd dockerd; then need+=(docker.io); fi
if [ "$mode" = test ]; then
  have_pkg busybox-static || need+=(busybox-static)
  have_cmd file || need+=(file)
  ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
  have_cmd redis-server || need+=(redis-server)
  have_cmd chromium || need+=(chromium)
  fc-list 2>/dev/null | grep -q . || need+=(fonts-dejavu-core)
  # The Docker Compose test: its base image is made with debootstrap.
  have_cmd debootstrap || need+=(debootstrap)
  have_cmd docker-compose || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
fi

[ ${#need[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" != 0 ]; then
  if have_cmd sudo; then sudo="sudo"; else
    echo "Missing packages: ${need[*]} — install them (apt-get install ${need[*]}) or run as root." >&2
    exit 1
  fi
fi
echo "Installing: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${need[@]}"
