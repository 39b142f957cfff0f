#!/usr/bin/env python
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ciproject.settings")
    if sys.argv[1:] in (["version"], ["--version"]):
        # Django answers both with its own version before any command runs.
        from ciproject import __version__

        print(f"Herald CI {__version__}")
        return
    if sys.argv[1:2] == ["exec"]:
        # A throwaway installation of its own (builds.localrun.launcher):
        # no need to load Django here first.
        from builds.localrun.launcher import launch

        sys.exit(launch("exec", sys.argv[2:], prog="manage.py"))
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
