import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin account (once) and print its password, which is not kept anywhere."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

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
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username, "", password)
        self.stdout.write(
            f"Created the admin account: {username} / {password}\n"
            f"This is the only time the password is shown; to set a new one: "
            f"python manage.py changepassword {username}"
        )
