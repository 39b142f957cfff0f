from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from repositories.models import ApiToken


class Command(BaseCommand):
    help = "Print a new personal API token for a user (use as Authorization: Bearer <token>)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="what the token is for")

    def handle(self, username, name, **kw):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        self.stdout.write(ApiToken.issue(user, name=name))
