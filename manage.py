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
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
