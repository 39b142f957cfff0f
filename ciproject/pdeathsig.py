"""No process of Herald outlives its parent (Linux's PR_SET_PDEATHSIG).

`manage.py serve` starts the web server and the worker cluster with it, and
the cluster starts its sentinel and workers with it (builds.drain): when a
parent is killed outright (SIGKILL, the OOM killer), its children get
SIGKILL too instead of living on as orphans, so a restarted cluster never
runs beside the old one. Free of Django: ciproject.supervisor uses it.
"""

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid, signum=signal.SIGKILL):
    """In a child just forked from `parent_pid`: be killed when it dies
    (or get `signum`: `manage.py exec` gives its run SIGTERM, so the run
    still removes its containers)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    # The parent may have died between the fork and the prctl: then nobody
    # will ever send the signal.
    if os.getppid() != parent_pid:
        os._exit(1)
