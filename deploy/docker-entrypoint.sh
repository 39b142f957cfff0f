#!/bin/sh
# The entry point of Herald's image (Dockerfile): the arguments are a
# manage.py command. `serve` (the web server) first brings the database up
# to date, collects the static files and creates the first admin account
# (DJANGO_SUPERUSER_USERNAME, DJANGO_SUPERUSER_PASSWORD_FILE…) when there is
# none, so one web container is all an upgrade needs.
set -e
cd /app
if [ "$1" = serve ]; then
    python manage.py migrate --noinput
    python manage.py collectstatic --noinput -v0
    python manage.py ensureadmin
fi
exec python manage.py "$@"
