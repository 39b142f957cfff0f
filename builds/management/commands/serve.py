"""Run the web server (gunicorn) and a django-q2 worker cluster together.

`make run` uses this; so do the end-to-end tests and the benchmark. On
machines that only build, run `manage.py qcluster` alone.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server and a build worker; stops both on Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("HERALD_BIND", "127.0.0.1:8000"))
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("HERALD_WEB_WORKERS", "2")))
        parser.add_argument("--threads", type=int, default=int(os.environ.get("HERALD_WEB_THREADS", "4")))
        parser.add_argument("--no-worker", action="store_true", help="web server only")
        parser.add_argument("--no-web", action="store_true", help="worker only")

    def handle(self, bind, web_workers, threads, no_worker, no_web, **kw):
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        procs = {}
        if not no_web:
            procs["web"] = subprocess.Popen([
                python, "-m", "gunicorn", "ciproject.wsgi:application",
                "--bind", bind, "--workers", str(web_workers), "--threads", str(threads),
                "--worker-class", "gthread", "--preload", "--timeout", "120",
                "--graceful-timeout", "10", "--log-level", "warning",
                "--max-requests", "20000", "--max-requests-jitter", "2000",
            ], cwd=settings.BASE_DIR)
        if not no_worker:
            procs["worker"] = subprocess.Popen([python, manage, "qcluster"], cwd=settings.BASE_DIR)
        if not no_web:
            self.stdout.write(f"Herald CI is running: {settings.HERALD_BASE_URL}/  (web on {bind}; Ctrl-C stops)")
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        code = 0
        try:
            while not stopping:
                for name, p in procs.items():
                    if p.poll() is not None:
                        self.stderr.write(f"{name} exited with code {p.returncode}; stopping")
                        code = p.returncode or 1
                        stopping = True
                time.sleep(0.5)
        finally:
            for p in procs.values():
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 20
            for p in procs.values():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
        sys.exit(code)
