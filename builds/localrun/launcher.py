"""The process a user starts (`manage.py exec`, `herald exec`): it makes a
throwaway installation in a temporary directory and runs the build in a
child process pointed at it, then removes the directory.

Why a child process rather than switching settings in this one: Django
reads its settings once per process, from the environment, and the user's
environment names their server's database (DATABASE_URL, perhaps a
PostgreSQL that is not even running), data dir and instance. The child is
given an environment of its own — an SQLite file, a data dir and a
workspace dir under the temporary directory, an instance name of its own —
so nothing the run does can reach the configured installation, and the
directory is removed here whatever becomes of the child.

The child runs in a session of its own, so a terminal's Ctrl-C reaches
this process only, which passes it on once (the child cancels the build
as a server cancels one, and exits 130); it dies with this process
(PR_SET_PDEATHSIG, SIGTERM: it still removes its containers). Free of
Django: `herald exec` starts the child without loading Django here.
"""

import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import docker

from builds.docker.objects import remove_instance_objects
from ciproject.pdeathsig import die_with_parent

# Set in the child's environment to the temporary directory: the command
# runs the build only where it is set (builds.management.commands.exec).
MARKER = "HERALD_LOCAL_RUN"
# The program's name as the user typed it (manage.py, herald), for the child's usage line.
PROG = "HERALD_LOCAL_PROG"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def local_environment(tmp, base=None):
    """The child's environment: the user's, with the installation's own
    places replaced by ones under `tmp`."""
    base = dict(os.environ if base is None else base)
    # Distinct from every server's instance (whose sweeper removes only its
    # own objects, as this run does); after the user's own instance when
    # there is one, so a test run's sweeper also finds what a killed run left.
    prefix = base.get("HERALD_INSTANCE") or ""
    instance = f"{prefix}-local-" if prefix else "local-"
    # Where this Herald's code is, whatever the directory the user runs in.
    code = str(Path(__file__).resolve().parents[2])
    path = base.get("PYTHONPATH")
    return {
        **base,
        MARKER: tmp,
        "PYTHONPATH": f"{code}{os.pathsep}{path}" if path else code,
        "DJANGO_SETTINGS_MODULE": "ciproject.settings",
        "DATABASE_URL": f"sqlite:///{tmp}/herald.sqlite3",
        "HERALD_DATA_DIR": os.path.join(tmp, "data"),
        "HERALD_WORKSPACE_DIR": os.path.join(tmp, "workspaces"),
        "HERALD_INSTANCE": instance + secrets.token_hex(4),
        # The queue is never used; the ORM broker needs no server.
        "HERALD_REDIS_URL": "",
        # Nothing is kept for a retry from the job page: there is none.
        "HERALD_KEEP_WORKSPACE_MINUTES": "0",
    }


def launch(command, args, prog="herald"):
    """Run `command` (exec, lint) with `args` in a child; returns its exit
    code. `prog`: what the child's usage and errors call the program."""
    tmp = tempfile.mkdtemp(prefix="herald-exec-")
    os.chmod(tmp, 0o700)
    parent = os.getpid()
    child = None
    early = []  # signals before the child existed: passed on once it does

    def forward(signum, frame):
        if child is None:
            early.append(signum)
        elif child.poll() is None:
            child.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in FORWARDED}
    try:
        env = {**local_environment(tmp), PROG: prog}
        child = subprocess.Popen(
            [sys.executable, "-m", "ciproject.cli", command, *args],
            env=env,
            start_new_session=True,
            preexec_fn=lambda: die_with_parent(parent, signal.SIGTERM),
        )
        for signum in early:
            child.send_signal(signum)
        code = child.wait()
        if code < 0:
            # Killed outright (SIGKILL, the OOM killer): what it had not removed yet.
            remove_objects(env["HERALD_INSTANCE"])
            return 128 - code  # as a shell says it
        return code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        shutil.rmtree(tmp, ignore_errors=True)


def remove_objects(instance):
    try:
        client = docker.from_env(timeout=60)
    except docker.errors.DockerException:
        return
    try:
        remove_instance_objects(client, instance)
    finally:
        client.close()
