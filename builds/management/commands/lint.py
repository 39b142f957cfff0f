import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from builds.lint import describe, lint_path


class Command(BaseCommand):
    help = (
        "Check a pipeline as a build would, without building it: a directory (default: the current one) is "
        "read as a checkout, a file as a .herald.yml. Exit 0 when it is valid, 1 with the build's message "
        "when it is not."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=".", help="a checkout, or a pipeline file")
        parser.add_argument(
            "--secrets",
            metavar="NAME,NAME",
            help="the repository's secret names: a step naming another is refused as a build refuses it "
            "(--secrets '' for a repository without secrets); without it secret names are not checked",
        )

    def handle(self, path, secrets, **options):
        target = Path(path)
        if not target.exists():
            self.stderr.write(f"{path}: no such file or directory")
            sys.exit(2)
        known = None if secrets is None else {name.strip() for name in secrets.split(",") if name.strip()}
        result = lint_path(target, known)
        if not result.valid:
            self.stderr.write(str(result.error))
            sys.exit(1)
        for line in describe(result):
            self.stdout.write(line)
