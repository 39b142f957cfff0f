"""A job's log read by line number, rendered to HTML.

Logs are stored as ~64 KiB LogChunks whose boundaries fall anywhere, even
inside a line or an escape sequence. The job page never loads a whole log
(a million lines is ~50 MB): it asks for pages of lines, so this module keeps
a per-job index of how many line breaks each chunk holds. The index costs one
pass over the log the first time (~0.15 s for a million lines) and then grows
by the new chunks only, which is what keeps a live log's polling cheap.

ANSI SGR colours and attributes become <span>s; a line's starting colour
state is carried over from the text before it, across chunk boundaries.
Carriage-return progress bars collapse to their last state, everything else
is HTML-escaped. ansi2html cannot carry its state from one call to the next,
hence this small converter.
"""

import bisect
import html
import re
import threading
from collections import OrderedDict

from django.db.models.functions import Substr

from builds.models import LogChunk

PAGE_MAX = 1000
SEARCH_MAX_MATCHES = 1000

# --- ANSI -------------------------------------------------------------------

# CSI (colours, cursor moves, erase), OSC (titles, hyperlinks) and the
# two-byte escapes; only SGR ("…m") changes what is shown.
_ESCAPE = re.compile(
    r"\x1b(?:\[([0-9;:]*)[ -/]*([@-~])|\[[<=>?][0-9;:]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_]|$)"
)
_SGR = re.compile(r"\x1b\[([0-9;:]*)m")
# Control characters a terminal would not print (tab stays).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# (bold, dim, italic, underline, strike, inverse, fg, bg); a colour is None
# (default), 0-255 (palette) or an (r, g, b) tuple.
DEFAULT = (False, False, False, False, False, False, None, None)


def _xterm(n):
    """The xterm-256 palette colour n (16-255) as #rrggbb."""
    if n < 232:
        n -= 16
        levels = (0, 95, 135, 175, 215, 255)
        r, g, b = levels[n // 36], levels[n // 6 % 6], levels[n % 6]
    else:
        r = g = b = 8 + (n - 232) * 10
    return f"#{r:02x}{g:02x}{b:02x}"


def apply_sgr(state, params):
    bold, dim, italic, underline, strike, inverse, fg, bg = state
    codes = []
    for p in params.replace(":", ";").split(";"):
        try:
            codes.append(int(p) if p else 0)
        except ValueError:
            return state
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            bold, dim, italic, underline, strike, inverse, fg, bg = DEFAULT
        elif c == 1:
            bold = True
        elif c == 2:
            dim = True
        elif c == 3:
            italic = True
        elif c == 4:
            underline = True
        elif c == 7:
            inverse = True
        elif c == 9:
            strike = True
        elif c == 22:
            bold = dim = False
        elif c == 23:
            italic = False
        elif c == 24:
            underline = False
        elif c == 27:
            inverse = False
        elif c == 29:
            strike = False
        elif 30 <= c <= 37:
            fg = c - 30
        elif 90 <= c <= 97:
            fg = c - 90 + 8
        elif c == 39:
            fg = None
        elif 40 <= c <= 47:
            bg = c - 40
        elif 100 <= c <= 107:
            bg = c - 100 + 8
        elif c == 49:
            bg = None
        elif c in (38, 48):
            colour = None
            if i + 2 < len(codes) and codes[i + 1] == 5:
                colour = codes[i + 2] if 0 <= codes[i + 2] <= 255 else None
                i += 2
            elif i + 4 < len(codes) and codes[i + 1] == 2:
                colour = tuple(max(0, min(255, v)) for v in codes[i + 2 : i + 5])
                i += 4
            else:
                i = len(codes)  # malformed: ignore the rest, as terminals do
            if colour is not None:
                if c == 38:
                    fg = colour
                else:
                    bg = colour
        i += 1
    return (bold, dim, italic, underline, strike, inverse, fg, bg)


_open_tags = {}


def _open_tag(state):
    tag = _open_tags.get(state)
    if tag is None:
        bold, dim, italic, underline, strike, inverse, fg, bg = state
        classes, styles = [], []
        if inverse:
            fg, bg = (bg if bg is not None else "bg"), (fg if fg is not None else "fg")
        for prefix, prop, colour in (("f", "color", fg), ("g", "background-color", bg)):
            if colour is None:
                continue
            if colour in ("fg", "bg"):
                classes.append(f"{prefix}-{colour}")
            elif isinstance(colour, tuple):
                styles.append(f"{prop}:#{colour[0]:02x}{colour[1]:02x}{colour[2]:02x}")
            elif colour < 16:
                classes.append(f"{prefix}{colour}")
            else:
                styles.append(f"{prop}:{_xterm(colour)}")
        for flag, name in ((bold, "b"), (dim, "d"), (italic, "i"), (underline, "u"), (strike, "s")):
            if flag:
                classes.append(name)
        attrs = ""
        if classes:
            attrs += f' class="{" ".join(classes)}"'
        if styles:
            attrs += f' style="{";".join(styles)}"'
        tag = f"<span{attrs}>"
        if len(_open_tags) < 4096:
            _open_tags[state] = tag
    return tag


def _render_segment(text, state):
    """HTML for text without line breaks; returns (html, state, visible)."""
    if "\x1b" not in text:
        text = _CONTROL.sub("", text)
        if not text:
            return "", state, False
        body = html.escape(text, quote=False)
        return (body if state == DEFAULT else _open_tag(state) + body + "</span>"), state, True
    out = []
    visible = False
    pos = 0
    for m in _ESCAPE.finditer(text):
        if m.start() > pos:
            piece = _CONTROL.sub("", text[pos : m.start()])
            if piece:
                visible = True
                body = html.escape(piece, quote=False)
                out.append(body if state == DEFAULT else _open_tag(state) + body + "</span>")
        if m.group(2) == "m":
            state = apply_sgr(state, m.group(1))
        pos = m.end()
    if pos < len(text):
        piece = _CONTROL.sub("", text[pos:])
        if piece:
            visible = True
            body = html.escape(piece, quote=False)
            out.append(body if state == DEFAULT else _open_tag(state) + body + "</span>")
    return "".join(out), state, visible


def render_line(line, state=DEFAULT):
    """One line (without its "\\n") as HTML; returns (html, state after it).

    A carriage return starts the line over, as in a terminal: only the last
    state of a progress bar is shown (an empty redraw does not erase it).
    """
    if "\r" not in line:
        out, state, _ = _render_segment(line, state)
        return out, state
    shown = ""
    for segment in line.split("\r"):
        out, state, visible = _render_segment(segment, state)
        if visible:
            shown = out
    return shown, state


def state_after(text, state=DEFAULT):
    """The SGR state at the end of text (only the part after its last plain
    reset matters, which keeps this cheap on long text)."""
    cut = max(text.rfind("\x1b[0m"), text.rfind("\x1b[m"))
    if cut >= 0:
        state, text = DEFAULT, text[cut:]
    for m in _SGR.finditer(text):
        state = apply_sgr(state, m.group(1))
    return state


def render_lines(lines, state=DEFAULT):
    out = []
    for line in lines:
        rendered, state = render_line(line, state)
        out.append(rendered)
    return out, state


def strip_ansi(text):
    return _CONTROL.sub("", _ESCAPE.sub("", text)) if "\x1b" in text else text


# --- the line index ------------------------------------------------------------


class LogIndex:
    """Where each line of a job's log is: per chunk, its seq, the number of
    line breaks before it and in it, and when it was written."""

    __slots__ = ("seqs", "before", "counts", "created", "esc", "ends", "last_char", "lock")

    def __init__(self):
        self.seqs, self.before, self.counts, self.created = [], [], [], []
        self.esc = []  # whether the chunk holds an escape (so may change colours)
        self.ends = {}  # chunk index -> SGR state at its end, once worked out
        self.last_char = ""
        self.lock = threading.Lock()

    @property
    def last_seq(self):
        return self.seqs[-1] if self.seqs else 0

    @property
    def newlines(self):
        return self.before[-1] + self.counts[-1] if self.seqs else 0

    @property
    def partial(self):
        """Whether the log's last line has not ended yet."""
        return bool(self.seqs) and self.last_char != "\n"

    @property
    def total(self):
        return self.newlines + (1 if self.partial else 0)

    def extend(self, rows, final):
        for seq, count, created, esc, last_char in rows:
            # Chunks are written one after another by one writer, but a
            # reader may see them commit out of order; never index past a gap
            # of a running job (it would shift every later line).
            if not final and self.seqs and seq != self.seqs[-1] + 1:
                break
            self.before.append(self.newlines)
            self.seqs.append(seq)
            self.counts.append(count)
            self.created.append(created)
            self.esc.append(esc)
            self.last_char = last_char

    def chunk_of_newline(self, k):
        """Index of the chunk holding the k-th line break (1-based)."""
        # before[i] < k <= before[i] + counts[i]; chunks without a break are
        # skipped by bisecting on the running totals.
        return bisect.bisect_left(self.before, k) - 1 if k > 0 else 0

    def line_of_seq(self, seq):
        """Number of the line holding the first character of chunk `seq`."""
        i = bisect.bisect_left(self.seqs, seq)
        if i >= len(self.seqs):
            return self.newlines + 1
        return self.before[i] + 1


INDEX_BATCH = 64
_indexes = OrderedDict()
_indexes_lock = threading.Lock()
_INDEXES_KEPT = 64


def log_index(job, final):
    """The job's up-to-date line index (kept per process, keyed so a reused
    id in a fresh database never picks up another job's index)."""
    key = (job.pk, job.created_at)
    with _indexes_lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = LogIndex()
        _indexes.move_to_end(key)
        while len(_indexes) > _INDEXES_KEPT:
            _indexes.popitem(last=False)
    with index.lock:
        # Counted here rather than by the database: reading the text is
        # cheaper than SQL's replace() on both SQLite and PostgreSQL, and
        # batches keep memory bounded however long the log.
        while True:
            batch = list(
                LogChunk.objects.filter(job=job, seq__gt=index.last_seq)
                .order_by("seq")
                .values_list("seq", "text", "created")[:INDEX_BATCH]
            )
            last_seq = index.last_seq
            index.extend(
                ((seq, text.count("\n"), created, "\x1b" in text, text[-1:]) for seq, text, created in batch),
                final,
            )
            if len(batch) < INDEX_BATCH or index.last_seq == last_seq:
                break
    return index


def _texts(job, first_seq, last_seq):
    return list(
        LogChunk.objects.filter(job=job, seq__gte=first_seq, seq__lte=last_seq)
        .order_by("seq")
        .values_list("text", flat=True)
    )


# An SGR sequence cut off by the end of a chunk (its rest opens the next one).
_CUT_SGR = re.compile(r"\x1b(\[[0-9;:]*)?$")
_SGR_REST = re.compile(r"\[?[0-9;:]*[@-~]?")


def _resets(text):
    return "\x1b[0m" in text or "\x1b[m" in text


STATE_LOOKBACK_CHUNKS = 64


def state_before_chunk(job, index, i):
    """The SGR state at the start of chunk i: folded from the nearest earlier
    chunk that resets the colours (or whose end state is known), skipping
    chunks without escapes, which cannot change it. Exact unless colours were
    set more than STATE_LOOKBACK_CHUNKS escape-bearing chunks before any reset."""
    pending = []  # (chunk index, text), newest first
    base = DEFAULT
    j = i - 1
    while j >= 0 and len(pending) < STATE_LOOKBACK_CHUNKS:
        if j in index.ends:
            base = index.ends[j]
            break
        batch = []
        while j >= 0 and len(batch) < 4 and j not in index.ends:
            if index.esc[j]:
                batch.append(j)
            j -= 1
        if not batch:
            continue
        texts = dict(
            LogChunk.objects.filter(job=job, seq__in=[index.seqs[k] for k in batch]).values_list("seq", "text")
        )
        reset = False
        for k in batch:
            text = texts.get(index.seqs[k], "")
            if k + 1 < len(index.seqs) and _CUT_SGR.search(text[-40:]):
                # Applying that sequence again when its own chunk is read is
                # harmless: an SGR code sets attributes to fixed values.
                head = (
                    LogChunk.objects.filter(job=job, seq=index.seqs[k + 1])
                    .annotate(head=Substr("text", 1, 40))
                    .values_list("head", flat=True)
                    .first()
                    or ""
                )
                text += _SGR_REST.match(head).group()
            pending.append((k, text))
            if _resets(text):
                reset = True
                break
        if reset:
            break
    state = base
    for k, text in reversed(pending):
        state = state_after(text, state)
        index.ends[k] = state
    return state


def read_lines(job, index, start, count):
    """Lines start..start+count-1 (1-based, without their "\\n"), clipped to
    the log, with the SGR state at the start of the first one and the index
    of the chunk each line starts in."""
    total = index.total
    if not index.seqs or start > total or count <= 0:
        return [], DEFAULT, []
    end = min(start + count - 1, total)
    first = index.chunk_of_newline(start - 1)
    last = index.chunk_of_newline(end) if end <= index.newlines else len(index.seqs) - 1
    texts = _texts(job, index.seqs[first], index.seqs[last])
    if len(texts) != last - first + 1:
        return [], DEFAULT, []
    offsets, pos = [], 0
    for t in texts:
        offsets.append(pos)
        pos += len(t)
    text = "".join(texts)
    # Skip to the start of line `start`: the (start-1)-th break overall is
    # the (start-1 - before[first])-th one from the first chunk's start.
    begin = 0
    for _ in range(start - 1 - index.before[first]):
        begin = text.index("\n", begin) + 1
    prefix = text[:begin]
    state = DEFAULT if _resets(prefix) else state_before_chunk(job, index, first)
    state = state_after(prefix, state)
    lines, starts, p = [], [], begin
    for _ in range(end - start + 1):
        starts.append(first + bisect.bisect_right(offsets, p) - 1 if p < len(text) else len(index.seqs) - 1)
        nl = text.find("\n", p)
        if nl < 0:
            lines.append(text[p:])
            break
        lines.append(text[p:nl])
        p = nl + 1
    return lines, state, starts


def chunk_batches(job, size=32, after=0):
    """The job's log as lists of (seq, text), in order, `size` chunks at a
    time: keyset pagination, so memory stays flat whatever the log's size."""
    last = after
    while True:
        batch = list(LogChunk.objects.filter(job=job, seq__gt=last).order_by("seq").values_list("seq", "text")[:size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def search(job, query, limit=SEARCH_MAX_MATCHES):
    """Numbers of the lines containing query (case-insensitive, colours
    ignored), first `limit` of them; and whether there were more."""
    needle = query.casefold()
    matches = []
    line = 1  # number of the line `carry` starts
    carry = ""
    for batch in chunk_batches(job):
        # Keep the unfinished last line for the next batch: a match may span
        # two chunks.
        text = carry + "".join(t for _, t in batch)
        cut = text.rfind("\n") + 1
        carry = text[cut:]
        for found in _find(strip_ansi(text[:cut]).casefold(), needle, line):
            matches.append(found)
            if len(matches) > limit:
                return matches[:limit], True
        line += text.count("\n", 0, cut)
    if carry:
        for found in _find(strip_ansi(carry).casefold(), needle, line):
            matches.append(found)
    return matches[:limit], len(matches) > limit


def _find(text, needle, first_line):
    pos, line, counted = 0, first_line, 0
    while True:
        hit = text.find(needle, pos)
        if hit < 0:
            return
        line += text.count("\n", counted, hit)
        counted = hit
        yield line
        # Next match on a later line only: one entry per line.
        nl = text.find("\n", hit)
        if nl < 0:
            return
        pos = nl + 1
