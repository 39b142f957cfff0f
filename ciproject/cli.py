"""`herald`, the console command of an installed Herald (pyproject's
[project.scripts]):

    herald exec [PATH] [options]   run a checkout's pipeline locally (manage.py exec)
    herald lint [PATH]             check a pipeline (manage.py lint)
    herald version

`exec` and `lint` need no installation: each runs in a child process with
a throwaway one (builds.localrun.launcher), started without Django's
settings loaded here; that child is `python -m ciproject.cli <command> …`
again.
"""

import os
import sys

from django.core.management import execute_from_command_line

from builds.localrun import launcher
from ciproject import __version__

COMMANDS = ("exec", "lint")
USAGE = """usage: herald <command> [options]

commands:
  exec [PATH]   run the pipeline of the working tree at PATH on the local Docker engine
  lint [PATH]   check a pipeline as a build would
  version       print Herald's version

`herald <command> --help` tells more."""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else ""
    if command in ("version", "--version"):
        print(f"Herald CI {__version__}")
        return 0
    if command not in COMMANDS:
        print(USAGE, file=sys.stderr if command not in ("help", "--help", "-h") else sys.stdout)
        return 0 if command in ("help", "--help", "-h") else 2
    if launcher.MARKER not in os.environ:
        return launcher.launch(command, argv[1:])
    execute_from_command_line([os.environ.get(launcher.PROG, "herald"), *argv])
    return 0


if __name__ == "__main__":
    sys.exit(main())
