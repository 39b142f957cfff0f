import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin account (once) and print how to sign in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, username, **kw):
        User = get_user_model()
        path = settings.DATA_DIR / "admin_password"
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser(username, "", password)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(password + "\n")
            path.chmod(0o600)
            self.stdout.write(f"Created the admin account: {username} / {password}")
        elif path.exists():
            self.stdout.write(
                f"Admin account: {username} / {path.read_text().strip()} (unless changed since; kept in {path})"
            )
