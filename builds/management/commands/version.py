from django.core.management.base import BaseCommand

from ciproject import __version__


class Command(BaseCommand):
    help = "Print Herald's version."

    def handle(self, *args, **options):
        self.stdout.write(f"Herald CI {__version__}")
