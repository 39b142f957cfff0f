"""Run the web server (gunicorn) and a django-q2 worker cluster together.

`make run` uses this; so do the end-to-end tests and the benchmark. On
machines that only build, run `manage.py qcluster` alone. Either one is
restarted should it die, and Ctrl-C drains running builds
(ciproject.supervisor).
"""

import os
import sys

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Run the web server and a build worker, restarting either should it die. Ctrl-C stops: running "
        "builds get HERALD_DRAIN_SECONDS to finish, a second Ctrl-C puts them back in the queue at once."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("HERALD_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("HERALD_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("HERALD_WEB_THREADS", "4")))
        parser.add_argument("--no-worker", action="store_true", help="web server only")
        parser.add_argument("--no-web", action="store_true", help="worker only")

    def handle(self, bind, web_workers, threads, no_worker, no_web, **kw):
        settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)
        args = [
            sys.executable,
            "-m",
            "ciproject.supervisor",
            "--bind",
            bind,
            "--web-workers",
            str(web_workers),
            "--threads",
            str(threads),
            "--base-url",
            settings.HERALD_BASE_URL,
            "--drain-seconds",
            str(settings.HERALD_DRAIN_SECONDS),
        ]
        if settings.HERALD_LOG_FORMAT == "json":
            args.append("--json-logs")
        if no_worker:
            args.append("--no-worker")
        if no_web:
            args.append("--no-web")
        sys.stdout.flush()
        os.chdir(settings.BASE_DIR)
        # Replace this Django process with the small supervisor.
        os.execv(sys.executable, args)
