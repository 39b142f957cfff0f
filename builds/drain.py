"""Graceful drain: what a worker does between SIGTERM and its exit.

`manage.py qcluster` is Herald's own (builds/management/commands/qcluster.py,
django-q2's command with a cluster that drains). Before the cluster forks,
it puts a drain deadline in shared memory, which the sentinel and every
worker inherit. The first SIGTERM or SIGINT sets it to now +
HERALD_DRAIN_SECONDS and django-q2 then stops as it always does (the pusher
stops, each worker ends the task it holds, then exits); meanwhile

- builds.tasks.run_next_job claims no job: it passes its token on;
- a running build goes on until the deadline; then the job's Watchdog stops
  it and the runner puts the job back in the queue (Job.requeue): never
  "worker lost" for a restart.

A second signal moves the deadline to now: running builds stop at once and
are requeued all the same.

Every process the cluster forks also dies with its parent
(ciproject.pdeathsig): a cluster whose main process is killed outright
leaves no worker behind to run beside the next cluster; the reaper then
requeues the jobs it ran, once (builds.housekeeping).

Outside a cluster (the web server, tests running a job in-process) nothing
ever drains.
"""

import multiprocessing
import time
from multiprocessing import util

from ciproject.pdeathsig import die_with_parent

# [deadline as time.monotonic() (0: not draining), 1.0 if told to stop at
# once]. CLOCK_MONOTONIC is one clock for the whole machine, so a deadline
# set by the cluster's main process means the same in its workers.
_state = None


def prepare():
    """In the cluster's main process, before it forks anything."""
    global _state
    _state = multiprocessing.RawArray("d", 2)
    util.register_after_fork(_state, _die_with_parent)


def _die_with_parent(_):
    # Run by multiprocessing in each process it forks (the sentinel, its
    # workers, monitor and pusher), before the process's target.
    die_with_parent(multiprocessing.parent_process().pid)


def begin(seconds):
    """Start draining: running builds get `seconds` more (the first signal),
    or stop now (seconds=0, the second)."""
    if _state is None:
        return
    deadline = time.monotonic() + seconds
    if not _state[0] or deadline < _state[0]:
        _state[0] = deadline
    if not seconds:
        _state[1] = 1.0


def draining():
    return _state is not None and _state[0] > 0


def expired():
    """Whether running builds must stop now."""
    return draining() and time.monotonic() >= _state[0]


def hurried():
    """Whether the builds were told to stop at once (a second signal)."""
    return _state is not None and _state[1] > 0
