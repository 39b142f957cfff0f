"""Create the first admin account, once: `make run` and the Docker image's
web server run this at every start.

Without DJANGO_SUPERUSER_PASSWORD (or DJANGO_SUPERUSER_PASSWORD_FILE) the
password is generated and printed that once. With it — Docker Compose reads
it from a secret file — nothing is printed but the account's name, so a
container's log never holds the password. DJANGO_SUPERUSER_USERNAME and
DJANGO_SUPERUSER_EMAIL are the variables Django's `createsuperuser
--noinput` reads, with the same meaning.
"""

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from ciproject.env import envstr


class Command(BaseCommand):
    help = (
        "Create the first admin account, unless a superuser exists. Its name, e-mail and password come from "
        "DJANGO_SUPERUSER_USERNAME, _EMAIL and _PASSWORD (or _PASSWORD_FILE); without a password one is "
        "generated and printed once, and kept nowhere."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default=None, help="default: DJANGO_SUPERUSER_USERNAME, else admin")

    def handle(self, username, **kw):
        User = get_user_model()
        # Versions before milestone 6 kept the password in plain text here:
        # anything that could read the data directory could sign in as admin.
        old = settings.DATA_DIR / "admin_password"
        if old.exists():
            old.unlink()
            self.stdout.write(
                f"Removed {old}: the admin password is no longer kept in a file "
                "(it still works; reset it with: manage.py changepassword)"
            )
        if User.objects.filter(is_superuser=True).exists():
            return
        username = username or os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip() or "admin"
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "").strip()
        try:
            given = envstr("DJANGO_SUPERUSER_PASSWORD") or ""
        except ImproperlyConfigured as e:  # an unreadable _FILE
            raise CommandError(str(e)) from None
        if User.objects.filter(username=username).exists():
            # Promoting an existing account behind its owner's back is not
            # this command's call.
            raise CommandError(
                f"An account named {username!r} exists and is not a superuser: "
                "set DJANGO_SUPERUSER_USERNAME (or --username) to another name."
            )
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser(username, email, password)
        if given:
            source = "DJANGO_SUPERUSER_PASSWORD"
            if os.environ.get("DJANGO_SUPERUSER_PASSWORD_FILE"):
                source += "_FILE"
            self.stdout.write(f"Created the admin account {username!r}, with the password from {source}.")
            return
        self.stdout.write(
            f"Created the admin account: {username} / {password}\n"
            f"This is the only time the password is shown; to set a new one: "
            f"python manage.py changepassword {username}"
        )
