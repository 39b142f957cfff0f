"""Runs the web server (gunicorn) and a django-q2 cluster side by side.

Deliberately free of Django: `manage.py serve` execs into this, so the
process that only watches its two children costs a few MB, not a whole
Django app's worth (small boxes are why people self-host).
"""

import argparse
import os
import signal
import subprocess
import sys
import time


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manage.py serve")
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-worker", action="store_true")
    parser.add_argument("--no-web", action="store_true")
    parser.add_argument("--base-url", default="")
    args = parser.parse_args(argv)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python = sys.executable
    procs = {}
    if not args.no_web:
        procs["web"] = subprocess.Popen([
            python, "-m", "gunicorn", "ciproject.wsgi:application",
            "--bind", args.bind, "--workers", str(args.web_workers), "--threads", str(args.threads),
            "--worker-class", "gthread", "--preload", "--timeout", "120",
            "--graceful-timeout", "10", "--log-level", "warning",
            "--max-requests", "20000", "--max-requests-jitter", "2000",
        ], cwd=root)
    if not args.no_worker:
        procs["worker"] = subprocess.Popen([python, os.path.join(root, "manage.py"), "qcluster"], cwd=root)
    if not args.no_web:
        print(f"Herald CI is running: {args.base_url or 'http://' + args.bind}/  (Ctrl-C stops)", flush=True)

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
                    print(f"{name} exited with code {p.returncode}; stopping", file=sys.stderr, flush=True)
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
    return code


if __name__ == "__main__":
    sys.exit(main())
