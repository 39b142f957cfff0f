"""Runs the web server (gunicorn) and a django-q2 cluster side by side, and
keeps both up.

- A child that exits on its own is started again after a backoff (1 s,
  doubling up to a minute; back to 1 s once it had run for a minute), while
  the other one goes on: webhooks are still accepted while the worker
  cluster restarts, builds still run while the web server restarts.
- Each child runs in a session of its own, so a terminal's Ctrl-C reaches
  this process only, which decides what each child gets; and each dies
  with this process (ciproject.pdeathsig), as the cluster's own processes
  die with the cluster (builds.drain): a supervisor killed outright leaves
  nothing behind to run beside the next one.
- Stopping (SIGTERM, Ctrl-C): the web server stops; the cluster drains —
  running builds get HERALD_DRAIN_SECONDS to finish, then go back in the
  queue. A second SIGTERM or Ctrl-C tells the cluster to stop them now.

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

from ciproject.pdeathsig import die_with_parent

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# A child that ran this long had started fine: its next restart is quick again.
RAN_FINE_SECONDS = 60.0
# What the web server gets to finish its requests (gunicorn's --graceful-timeout is 10 s).
WEB_STOP_SECONDS = 15.0
# What the cluster gets beyond the drain (stopping containers, requeueing),
# and after a second signal.
CLUSTER_STOP_MARGIN = 60.0


class Child:
    def __init__(self, name, argv, cwd):
        self.name, self.argv, self.cwd = name, argv, cwd
        self.proc = None
        self.started = 0.0
        self.restart_at = 0.0
        self.backoff = BACKOFF_FIRST

    def start(self):
        parent = os.getpid()
        self.proc = subprocess.Popen(
            self.argv, cwd=self.cwd, start_new_session=True, preexec_fn=lambda: die_with_parent(parent)
        )
        self.started = time.monotonic()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum):
        if self.running:
            self.proc.send_signal(signum)

    def kill_group(self):
        """SIGKILL whatever is left of the child's session (its process group)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def exited(self, now):
        """The child exited on its own: clean up after it and plan its restart."""
        code = self.proc.returncode
        self.kill_group()
        if now - self.started >= RAN_FINE_SECONDS:
            self.backoff = BACKOFF_FIRST
        delay = self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.proc = None
        self.restart_at = now + delay
        print(f"{self.name} exited with code {code}; starting it again in {delay:g} s", file=sys.stderr, flush=True)

    def wait(self, seconds):
        if self.proc is None:
            return
        try:
            self.proc.wait(timeout=max(0.1, seconds))
        except subprocess.TimeoutExpired:
            print(f"{self.name} did not stop in time; killing it", file=sys.stderr, flush=True)
            self.kill_group()
            self.proc.wait()
        self.kill_group()


def main(argv=None):
    parser = argparse.ArgumentParser(prog="manage.py serve")
    parser.add_argument("--bind", default="127.0.0.1:8000")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-worker", action="store_true")
    parser.add_argument("--no-web", action="store_true")
    parser.add_argument("--base-url", default="")
    parser.add_argument("--drain-seconds", type=float, default=600)
    parser.add_argument("--json-logs", action="store_true", help="HERALD_LOG_FORMAT=json")
    args = parser.parse_args(argv)

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    python = sys.executable
    web = worker = None
    if not args.no_web:
        web = Child(
            "web server",
            [
                python,
                "-m",
                "gunicorn",
                "ciproject.wsgi:application",
                "--bind",
                args.bind,
                "--workers",
                str(args.web_workers),
                "--threads",
                str(args.threads),
                "--worker-class",
                "gthread",
                "--preload",
                "--timeout",
                "120",
                "--graceful-timeout",
                "10",
                "--log-level",
                "warning",
                "--max-requests",
                "20000",
                "--max-requests-jitter",
                "2000",
                # HERALD_LOG_FORMAT=json: its lines, and one a request, as JSON.
                *(
                    ["--logger-class", "ciproject.logs.GunicornJsonLogger", "--access-logfile", "-"]
                    if args.json_logs
                    else []
                ),
            ],
            root,
        )
    if not args.no_worker:
        worker = Child("worker", [python, os.path.join(root, "manage.py"), "qcluster"], root)
    children = [c for c in (web, worker) if c]

    signals = []

    def stop(signum, frame):
        signals.append(signum)
        if len(signals) == 1:
            if web:
                web.signal(signal.SIGTERM)
            if worker and worker.running:
                print(
                    f"Stopping. Running builds get up to {args.drain_seconds:g} s to finish "
                    "(HERALD_DRAIN_SECONDS), then go back in the queue; Ctrl-C again stops them now.",
                    file=sys.stderr,
                    flush=True,
                )
        elif len(signals) == 2 and worker:
            print("Stopping running builds now; they go back in the queue.", file=sys.stderr, flush=True)
        if worker:
            # The cluster drains on the first signal and stops its builds on the second.
            worker.signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start()
    if web:
        print(f"Herald CI is running: {args.base_url or 'http://' + args.bind}/  (Ctrl-C stops)", flush=True)

    while not signals:
        now = time.monotonic()
        for child in children:
            if child.proc is None:
                if now >= child.restart_at:
                    child.start()
            elif child.proc.poll() is not None:
                child.exited(now)
        time.sleep(0.2)

    if web:
        web.wait(WEB_STOP_SECONDS)
    if worker:
        deadline = time.monotonic() + args.drain_seconds + CLUSTER_STOP_MARGIN
        hurried = False
        while worker.running and time.monotonic() < deadline:
            if len(signals) > 1 and not hurried:
                hurried = True
                deadline = min(deadline, time.monotonic() + CLUSTER_STOP_MARGIN)
            time.sleep(0.2)
        worker.wait(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
