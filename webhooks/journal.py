"""The webhook journal: deliveries that arrive while the database is
unavailable or locked wait here, on local disk, until it is back.

One JSON file per delivery in DATA_DIR/journal (0700; files 0600): the
forge, the request's headers (all but Cookie), the body (base64) and the
time it was received. It is written under a temporary name, fsynced,
renamed to <time_ns>-<pid>-<token>.json (names sort in arrival order) and
the directory fsynced: once the forge has its 202, the delivery survives a
crash or a power cut. GitLab's X-Gitlab-Token header is its webhook secret
itself: it waits here as long as the entry does, readable by Herald's user
only, and goes with the file once the delivery is recorded.

The journal is bounded (HERALD_JOURNAL_MAX_BYTES): past it, and on any
error writing (a full disk), write() raises JournalFull, which the forge
gets as 503 with the reason — never a 500, never a silent drop.

The replay is a Drainer: one thread per web process, started by the first
delivery the process journals (or finds waiting), or at start-up when a
previous run left deliveries here (ciproject/wsgi.py). Every
HERALD_JOURNAL_RETRY_SECONDS it takes journal/.drain.lock, so that one
process replays at a time and entries go through in order, and hands each
entry, oldest first, to the replay function (webhooks/views.py), which
records the delivery under the entry's name; then the file is removed. It
stops at the first entry the database cannot take, and starts again there.
While anything waits, new deliveries are journaled behind it (must_queue):
a later push processed before an earlier one would have its job superseded
by the older commit.
"""

import base64
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

SUFFIX = ".json"
LOCK = ".drain.lock"
# An entry whose replay fails this many rounds for a reason other than the
# database (a bug) is moved to journal/failed/, so it cannot hold up the
# deliveries behind it; the log says so.
ATTEMPTS = 5


class JournalFull(Exception):
    """The delivery could not be journaled; str() says why, in one line."""


@dataclass
class Entry:
    name: str
    provider: str
    headers: dict
    body: bytes
    received_at: datetime


def directory():
    return os.path.join(settings.DATA_DIR, "journal")


def entries():
    """The names of the waiting deliveries, oldest first."""
    try:
        with os.scandir(directory()) as it:
            return sorted(e.name for e in it if e.name.endswith(SUFFIX) and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def pending():
    """Whether any delivery waits: one scandir of a directory that is
    usually empty or absent (measured: 7-11 µs per webhook, of ~1.4 ms)."""
    try:
        with os.scandir(directory()) as it:
            return any(e.name.endswith(SUFFIX) and not e.name.startswith(".") for e in it)
    except FileNotFoundError:
        return False


# --- the database's state, as this process last saw it ------------------------

# After a failure, deliveries are journaled without touching the database
# until this time.monotonic(): a request then costs no wait on a lock or a
# connection refused, and the drainer is the one that tries again.
_down_until = 0.0


def database_failed():
    global _down_until
    _down_until = time.monotonic() + settings.HERALD_JOURNAL_RETRY_SECONDS


def database_down():
    return time.monotonic() < _down_until


def database_back():
    global _down_until
    _down_until = 0.0


def must_queue():
    """Whether a new delivery goes to the journal without trying the database."""
    return database_down() or pending()


# --- writing and reading entries ---------------------------------------------


def _used_bytes(path):
    # Entries only (not what was set aside in failed/). Several writers at
    # once may pass the limit by a delivery each: it is a bound, not a quota.
    total = 0
    with os.scandir(path) as it:
        for e in it:
            if e.name.endswith(SUFFIX):
                try:
                    total += e.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # replayed meanwhile
                    pass
    return total


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ensure_directory():
    path = directory()
    if not os.path.isdir(path):
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # whatever the umask
    return path


def write(provider, headers, body, received_at):
    """Journal one delivery durably; returns the entry's name."""
    data = json.dumps(
        {
            "provider": provider,
            "headers": headers,
            "body": base64.b64encode(body).decode("ascii"),
            "received_at": received_at.isoformat(),
        }
    ).encode()
    limit = settings.HERALD_JOURNAL_MAX_BYTES
    try:
        path = _ensure_directory()
        used = _used_bytes(path)
        if used + len(data) > limit:
            raise JournalFull(
                f"the webhook journal is full ({used} of HERALD_JOURNAL_MAX_BYTES={limit} bytes wait"
                " for the database); send it again later"
            )
        token = secrets.token_hex(8)
        tmp = os.path.join(path, f".tmp-{token}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            name = f"{time.time_ns():020d}-{os.getpid()}-{token}{SUFFIX}"
            os.rename(tmp, os.path.join(path, name))
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(path)
        return name
    except OSError as e:
        raise JournalFull(f"cannot write the webhook journal: {e.strerror or e}") from e


def read(name):
    with open(os.path.join(directory(), name), "rb") as f:
        data = json.load(f)
    return Entry(
        name=name,
        provider=data["provider"],
        headers=data["headers"],
        body=base64.b64decode(data["body"]),
        received_at=datetime.fromisoformat(data["received_at"]),
    )


def remove(name):
    path = directory()
    try:
        os.unlink(os.path.join(path, name))
    except FileNotFoundError:
        return
    _fsync_dir(path)


def set_aside(name, why):
    failed = os.path.join(directory(), "failed")
    os.makedirs(failed, mode=0o700, exist_ok=True)
    os.rename(os.path.join(directory(), name), os.path.join(failed, name))
    log.error("webhook journal: %s moved to %s: %s", name, failed, why)


# --- the replay -------------------------------------------------------------------


class Drainer:
    """The thread of one process that replays the journal.

    `replay(entry)` records the delivery (under entry.name) and returns True,
    or returns False while the database is unavailable."""

    def __init__(self, replay):
        self.replay = replay
        self.thread = None
        self.pid = None
        self.lock = threading.Lock()
        self.failures = {}
        # Said once per outage in the log, not every round.
        self.stalled = False
        self.replayed = 0

    def start(self):
        """Start the thread unless this process has one (a forked child
        inherits the object but not the thread)."""
        if self.pid == os.getpid() and self.thread.is_alive():
            return
        with self.lock:
            if self.pid == os.getpid() and self.thread.is_alive():
                return
            self.thread = threading.Thread(target=self.run, name="herald-journal", daemon=True)
            self.pid = os.getpid()
            self.thread.start()

    def run(self):
        while True:
            time.sleep(settings.HERALD_JOURNAL_RETRY_SECONDS)
            close_old_connections()
            try:
                self.drain()
            except Exception:
                log.exception("webhook journal: the replay failed; trying again")
            finally:
                close_old_connections()

    def drain(self):
        """Replay what waits, oldest first. True when the journal was
        emptied; False when another process holds the lock or the database
        is still unavailable."""
        if not pending():
            return True
        fd = os.open(os.path.join(directory(), LOCK), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            # Listed again until empty: deliveries journaled meanwhile
            # (while anything waits, new ones queue behind it) go too.
            while names := entries():
                for name in names:
                    if not self._replay(name):
                        if not self.stalled:
                            log.warning("webhook journal: %d deliveries wait for the database", len(entries()))
                            self.stalled = True
                        return False
                    self.replayed += 1
            database_back()
            if self.stalled:
                log.warning("webhook journal: the database is back; %d deliveries replayed", self.replayed)
            self.stalled, self.replayed = False, 0
            return True
        finally:
            os.close(fd)  # releases the lock

    def _replay(self, name):
        try:
            entry = read(name)
        except (OSError, ValueError, KeyError, TypeError) as e:
            set_aside(name, f"unreadable ({e})")
            return True
        try:
            if not self.replay(entry):
                return False
        except Exception as e:
            self.failures[name] = self.failures.get(name, 0) + 1
            if self.failures[name] < ATTEMPTS:
                raise
            self.failures.pop(name)
            log.exception("webhook journal: replaying %s failed %d times", name, ATTEMPTS)
            set_aside(name, f"{type(e).__name__}: {e}")
            return True
        self.failures.pop(name, None)
        remove(name)
        return True
