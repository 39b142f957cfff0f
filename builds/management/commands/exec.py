import os
import shutil
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from builds import constants as C
from builds.localrun import launcher, options
from builds.localrun.runner import INTERRUPTED, run


class Command(BaseCommand):
    help = (
        "Run a checkout's pipeline on the local Docker engine as a Herald server would (same runner, containment, "
        "secret masking and log), without a server or a database: the working tree at PATH (default: the "
        "current directory), uncommitted changes included. Exit code: 0 success, 1 failed, 2 errored or a bad "
        "pipeline/option, 3 timed out or cancelled, 130 interrupted."
    )
    # It runs in a throwaway installation (builds.localrun.launcher): nothing to check.
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", default=".", help="the working tree (default: .)")
        parser.add_argument("--step", action="append", metavar="NAME", help="run only this step (repeatable)")
        parser.add_argument("--param", action="append", metavar="NAME=value", help="a parameter's value")
        parser.add_argument("--secret", action="append", metavar="NAME=value", help="a secret (masked in the log)")
        parser.add_argument("--secrets-file", metavar="FILE", help="secrets as NAME=value lines (# comments)")
        parser.add_argument(
            "--matrix", action="append", metavar="KEY=value", help="run the combinations with this value only"
        )
        parser.add_argument(
            "--event", choices=(C.PUSH, C.PULL_REQUEST, C.TAG), default=C.PUSH, help="for when: (default: push)"
        )
        parser.add_argument(
            "--branch", help="the branch (a pull request's target) for when: (default: the checkout's branch)"
        )
        parser.add_argument("--tag", help="the tag for --event tag (default: the tag at HEAD)")
        parser.add_argument("--timeout", help="30s, 20m, 1h (default: the pipeline's, else the server's)")

    def run_from_argv(self, argv):
        if launcher.MARKER not in os.environ:
            # Here is the user's installation: the run gets a throwaway one.
            sys.exit(launcher.launch("exec", argv[2:], prog=os.path.basename(argv[0])))
        super().run_from_argv(argv)

    def handle(self, path, **opts):
        local = Path(os.environ.get(launcher.MARKER, "/nonexistent"))
        database = Path(str(settings.DATABASES["default"]["NAME"]))
        if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.sqlite3" or local not in database.parents:
            raise CommandError("exec runs only in the installation its launcher made: run `manage.py exec`")
        keys = ("step", "param", "secret", "secrets_file", "matrix", "event", "branch", "tag", "timeout")
        launched_by = os.getppid()
        try:
            code = run(path, **{key: opts[key] for key in keys})
        except options.UsageError as e:
            self.stderr.write(str(e))
            code = options.USAGE_EXIT
        except KeyboardInterrupt:  # before the build started: nothing to cancel
            code = INTERRUPTED
        finally:
            if os.getppid() != launched_by:
                # The launcher was killed (this run got its SIGTERM): nobody
                # else will remove the installation.
                shutil.rmtree(local, ignore_errors=True)
        sys.exit(code)
