"""Turns a build's output into LogChunks.

Output arrives as bytes from a reader thread; the runner's main thread
flushes it to the database in batches (by size, or every
HERALD_LOG_FLUSH_SECONDS) so a reader sees it within a second while a chatty
build writes a handful of rows a second, not one per line.

Before storing: invalid UTF-8 replaced, NUL bytes stripped, over-long lines
cut, secret values masked (also across chunk boundaries), and the whole log
capped at HERALD_LOG_MAX_BYTES. Past the cap the build goes on and the log
keeps its head and its tail (where failures are): the first three quarters
of the cap are stored as they come, then output is held back in memory, at
most the last quarter of it, and stored when the log closes, after a line
saying how much of the middle was left out.
"""

import codecs
import collections
import re
import threading
import time

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Max

from builds.dbgrace import Grace
from builds.masking import MASK, secret_values, server_secrets
from builds.models import Job, LogChunk

_LINE_BREAK = re.compile(r"([\r\n])")


class LogWriter:
    def __init__(
        self,
        job,
        secrets=(),
        *,
        flush_seconds=None,
        chunk_bytes=None,
        line_max=None,
        max_bytes=None,
        fresh=False,
        grace=None,
        output=None,
    ):
        self.job = job
        # Called with each piece of text as it is stored (masked, capped):
        # `manage.py exec` prints the log live with it (builds.localrun).
        self.output = output
        self.flush_seconds = settings.HERALD_LOG_FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self.chunk_bytes = chunk_bytes or settings.HERALD_LOG_CHUNK_BYTES
        self.line_max = line_max or settings.HERALD_LOG_LINE_MAX
        self.max_bytes = max_bytes or settings.HERALD_LOG_MAX_BYTES
        # A job just claimed has no log yet: spare the query on the hot path.
        self.seq = 0 if fresh else LogChunk.objects.filter(job=job).aggregate(m=Max("seq"))["m"] or 0
        self.stored = 0
        # Past the head, the last `tail_bytes` of output wait in `_tail`.
        self.tail_bytes = self.max_bytes // 4
        self.head_bytes = self.max_bytes - self.tail_bytes
        self._tail = collections.deque()
        self._tail_len = 0
        self._cap_seq = None  # the seq of the line saying the cap was reached
        self._stored_whole_line = True
        self.omitted_bytes = 0
        self.omitted_lines = 0
        self.grace = grace or Grace()
        self._lock = threading.Lock()
        self._pending = []
        self._pending_len = 0
        # What waits for the database stays in memory, up to this much.
        self._pending_max = max(16 * 1024 * 1024, 4 * self.chunk_bytes)
        self.lost_while_away = 0
        self._line_len = 0
        self._at_line_start = True
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._last_flush = time.monotonic()
        self.set_secrets(secrets)

    def set_secrets(self, secrets):
        self._secrets = secret_values([*secrets, *server_secrets()])

    def _holdback(self, text):
        """Length of the longest end of `text` that could be the start of a
        secret: held back until the next flush shows how it continues."""
        best = 0
        last = text[-1:]
        if not last:
            return 0
        for secret in self._secrets:
            i = secret.find(last, 0, len(secret) - 1)
            while i >= 0:
                k = i + 1
                if k > best and text.endswith(secret[:k]):
                    best = k
                i = secret.find(last, i + 1, len(secret) - 1)
        return best

    # --- input (any thread) -------------------------------------------------

    def write_bytes(self, data):
        self.write(self._decoder.decode(data))

    def write(self, text):
        text = text.replace("\0", "") if text else ""
        if not text:
            return
        with self._lock:
            if self._pending_len > self._pending_max:
                # The database has been away a while and the build talks a
                # lot: count what can't be kept, say so when it is back.
                self.lost_while_away += len(text)
                return
            self._pending.append(text)
            self._pending_len += len(text)
            self._at_line_start = text[-1] in "\r\n"

    def _cap_lines(self, text):
        # Runs in flush, after masking: cutting a line first could cut a
        # secret in two and leave its first half unmasked.
        last_break = max(text.rfind("\n"), text.rfind("\r"))
        if self._line_len + len(text) <= self.line_max:
            # No line can be over the limit: the common case, kept cheap.
            if last_break >= 0:
                self._line_len = len(text) - last_break - 1
            else:
                self._line_len += len(text)
            return text
        out = []
        parts = _LINE_BREAK.split(text)
        # parts alternates: text, break, text, break, ..., text
        for i in range(0, len(parts), 2):
            ends_line = i + 1 < len(parts)
            piece = parts[i] + (parts[i + 1] if ends_line else "")
            if piece:
                out.append(self._clip(piece, self.line_max, ends_line))
        return "".join(out)

    def _clip(self, piece, limit, ends_line):
        body = piece[:-1] if ends_line else piece
        room = limit - self._line_len
        if room <= 0:
            kept = ""
        elif len(body) > room:
            kept = body[:room] + " … [line cut]"
        else:
            kept = body
        self._line_len = 0 if ends_line else self._line_len + len(body)
        return kept + (piece[-1] if ends_line else "")

    # --- output (the runner's main thread) ----------------------------------

    def due(self):
        if not self._pending_len:
            return False
        return self._pending_len >= self.chunk_bytes or time.monotonic() - self._last_flush >= self.flush_seconds

    def flush(self, final=False):
        with self._lock:
            text = "".join(self._pending)
            self._pending, self._pending_len = [], 0
            if self.lost_while_away:
                text += (
                    f"\n\033[1;36m[herald]\033[0m {self.lost_while_away:,} characters of output were lost"
                    " while the database was unavailable.\n"
                )
                self.lost_while_away = 0
        self._last_flush = time.monotonic()
        if self._secrets and text:
            for secret in self._secrets:
                text = text.replace(secret, MASK)
            keep = 0 if final else self._holdback(text)
            if keep:
                # A secret may be split across this flush and the next.
                text, tail = text[:-keep], text[-keep:]
                with self._lock:
                    self._pending.insert(0, tail)
                    self._pending_len += len(tail)
        if text:
            self._store(self._cap_lines(text))

    def section(self):
        """End what came before (a step's output is complete when its
        container exits) and return the seq of the chunk the next output
        starts: the steps' sections of the log. Past the cap, a step starts
        at the line saying so."""
        tail = self._decoder.decode(b"", final=True)
        self._decoder.reset()
        if tail:
            self.write(tail)
        self.flush(final=True)
        return self._cap_seq or self.seq + 1

    def _store(self, text):
        if self._cap_seq is None:
            data = text.encode()
            room = self.head_bytes - self.stored
            if len(data) <= room:
                self._insert(text)
                return
            fits = data[:room]
            # End the head on a whole line where there is one.
            head = fits[: fits.rfind(b"\n") + 1 or room].decode(errors="ignore")
            self._insert(head)
            text = text[len(head) :]
            self._insert(self._cap_note())
            self._cap_seq = self.seq
        self._hold(text)

    def _insert(self, text):
        if self.output is not None and text:
            self.output(text)
        for start in range(0, len(text), self.chunk_bytes):
            self.seq += 1
            self.grace.call(self._create, self.seq, text[start : start + self.chunk_bytes], what="storing the log")
        self.stored += len(text.encode())
        if text:
            self._stored_whole_line = text[-1] in "\r\n"

    def _create(self, seq, text):
        try:
            LogChunk.objects.create(job=self.job, seq=seq, text=text)
        except IntegrityError:
            pass  # stored by an attempt whose answer the database never sent

    def _cap_note(self):
        start = "" if self._stored_whole_line else "\n"
        return (
            f"{start}\033[1;36m[herald]\033[0m The log reached {_mib(self.head_bytes)} of its"
            f" {_mib(self.max_bytes)} limit (HERALD_LOG_MAX_BYTES): the build goes on, and the last"
            f" {_mib(self.tail_bytes)} of its output will follow here when it ends.\n"
        )

    def _hold(self, text):
        """Keep the last tail_bytes of output past the head."""
        self._tail.append(text)
        self._tail_len += len(text.encode())
        while self._tail_len > self.tail_bytes:
            first = self._tail[0]
            size = len(first.encode())
            if self._tail_len - size >= self.tail_bytes:
                self._tail.popleft()
                self._omit(first, size)
            else:
                excess = self._tail_len - self.tail_bytes
                cut = first.encode()[:excess].decode(errors="ignore") or first[:1]
                self._tail[0] = first[len(cut) :]
                self._omit(cut, len(cut.encode()))

    def _omit(self, text, size):
        self._tail_len -= size
        self.omitted_bytes += size
        self.omitted_lines += text.count("\n")

    def close(self):
        tail = self._decoder.decode(b"", final=True)
        if tail:
            self.write(tail)
        self.flush(final=True)
        if self._cap_seq is not None:
            held = "".join(self._tail)
            if self.omitted_bytes and "\n" in held:
                # Start the tail on a whole line.
                partial, _, held = held.partition("\n")
                self._omit(partial + "\n", len(partial.encode()) + 1)
            self._tail.clear()
            if self.omitted_bytes:
                self._insert(
                    f"\033[1;36m[herald]\033[0m {self.omitted_lines:,} lines ({self.omitted_bytes:,} bytes)"
                    " of output were left out here; the last part follows.\n"
                )
            self._insert(held)
        self.grace.call(
            Job.objects.filter(pk=self.job.pk).update, log_bytes=F("log_bytes") + self.stored, what="storing the log"
        )

    def note(self, text):
        """A line from Herald itself, set apart from the build's output."""
        start = "" if self._at_line_start else "\n"  # the build's last line had no newline
        self.write(f"{start}\033[1;36m[herald]\033[0m {text}\n")


def _mib(size):
    return f"{size / (1024 * 1024):g} MiB"
