#!/usr/bin/env bash
# Write the secrets docker-compose.yml reads, each a random value in its own
# file; a file that exists is kept (the database's password and the
# encryption key must not change under a running installation).
#   scripts/compose-secrets.sh [DIR]     DIR: $HERALD_SECRETS_DIR, else ./secrets
#
# The directory is 0700; the files are 0644 because Compose mounts them as
# they are (owner and mode included) into containers whose processes are not
# root: the directory is what keeps other users of this machine out.
set -euo pipefail
dir=${1:-${HERALD_SECRETS_DIR:-./secrets}}
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { head -c "$1" /dev/urandom | base64 -w0 | tr '+/' '-_'; }

write() {  # name value
  local path="$dir/$1"
  if [ -s "$path" ]; then
    echo "kept    $path"
    return
  fi
  printf '%s\n' "$2" >"$path.tmp"
  chmod 0644 "$path.tmp"
  mv "$path.tmp" "$path"
  echo "wrote   $path"
}

write secret_key "$(random 48)"
# A Fernet key: 32 random bytes, URL-safe base64.
write encryption_key "$(random 32)"
write admin_password "$(random 18)"
write postgres_password "$(random 24)"
# The same password, as Herald reads it (URL-safe base64 needs no escaping).
write database_url "postgres://herald:$(head -n1 "$dir/postgres_password")@postgres:5432/herald"
