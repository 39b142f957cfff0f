from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from repositories.models import ApiToken


class Command(BaseCommand):
    help = "Print a new personal API token for a user (use as Authorization: Bearer <token>)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")
        parser.add_argument(
            "--expires-days",
            type=int,
            default=None,
            metavar="N",
            help="refuse the token N days from now (default: never)",
        )
        parser.add_argument(
            "--read-only",
            action="store_true",
            help="the token may read (GET) but not cancel, restart, approve, decline or run",
        )

    def handle(self, username, name, expires_days, read_only, **kw):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if expires_days is not None and expires_days < 1:
            raise CommandError("--expires-days must be at least 1")
        row = ApiToken(
            user=user,
            name=name,
            read_only=read_only,
            expires_at=timezone.now() + timedelta(days=expires_days) if expires_days else None,
        )
        token = row.set_new_token()
        row.save()
        self.stdout.write(token)
        notes = (["read-only"] if read_only else []) + (
            [f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC"] if row.expires_at else []
        )
        if notes:
            self.stderr.write(f"({', '.join(notes)})")
