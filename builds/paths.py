"""Path filters: whether a build, or a step, runs for the files a push changes.

    paths: [src/**, "!src/**/*.md"]   # the build runs if a changed file matches
    ignore_paths: [docs/**]           # the build is skipped if every changed file matches
    steps:
      - name: docs
        when: {path: [docs/**]}       # the step runs if a changed file matches

Patterns are globs matched against paths from the repository root (wcmatch,
https://facelessuser.github.io/wcmatch/glob/): `*` and `?` stay within one
folder, `**` crosses folders, `[abc]` and `{a,b}` as in a shell, names
starting with a dot are matched like any other, and `!pattern` excludes what
the others match (a list of exclusions alone starts from every file).

Which files changed is builds/changes.py's business; None there means
unknown (a new branch, a tag, a manual build…), and then no filter applies:
everything runs. So does a push that changes no file at all (an empty
commit, pushed to start a build).

The patterns come from the pipeline file and the file names from a payload
or a diff: both only ever matched, never opened. The pattern lists are
bounded here, brace expansion too (MAX_EXPANDED).
"""

from functools import lru_cache

from wcmatch import glob

FLAGS = glob.GLOBSTAR | glob.NEGATE | glob.NEGATEALL | glob.DOTGLOB | glob.BRACE | glob.FORCEUNIX
MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 500
# Patterns in a list once its {a,b} braces are expanded.
MAX_EXPANDED = 1000
# What a log line or a reason lists before "and N more".
SHOWN_FILES = 20
SHOWN_PATTERNS = 5


class Skipped(Exception):
    """paths: / ignore_paths: leave nothing to build: the job ends skipped
    with this message as its reason."""


def parse(c, mapping, key, where):
    """The patterns under `key` of a parsed mapping (a list of strings, or
    one string), checked with the pipeline's _Checker `c`; [] when absent."""
    if key not in mapping:
        return []
    line = c.line_of(mapping, key)
    patterns = c.string_list(mapping, key, where)
    name = f"{where}{key}"
    if not patterns:
        c.fail(line, name, "must list at least one pattern (or be left out)")
    if len(patterns) > MAX_PATTERNS:
        c.fail(line, name, f"lists {len(patterns)} patterns; the limit is {MAX_PATTERNS}")
    for pattern in patterns:
        why = _problem(pattern)
        if why:
            c.fail(line, name, f"{pattern[:80]!r} {why}")
    try:
        _compiled(tuple(patterns))
    except Exception as e:  # wcmatch's own words: too many patterns once braces are expanded
        c.fail(line, name, f"cannot be used: {e}")
    return patterns


def _problem(pattern):
    if not pattern.strip():
        return "is empty"
    if len(pattern) > MAX_PATTERN_LENGTH:
        return f"is longer than {MAX_PATTERN_LENGTH} characters"
    if "\0" in pattern:
        return "contains a NUL character"
    body = pattern[1:] if pattern.startswith("!") else pattern
    if not body:
        return "excludes nothing: write the pattern after the '!' (like '!docs/**')"
    if body.startswith("/"):
        return f"starts with '/': patterns are relative to the repository root (write {body.lstrip('/')!r})"
    if ".." in body.split("/"):
        return "contains '..': changed files are named from the repository root, so it never matches"
    if body.endswith("/"):
        return f"names a folder: write {body + '**'!r} to match the files in it"
    return ""


@lru_cache(maxsize=256)
def _compiled(patterns):
    return glob.compile(list(patterns), flags=FLAGS, limit=MAX_EXPANDED)


def matching(patterns, files):
    """The files a pattern list matches (a file matches when some pattern
    does and no `!pattern` does)."""
    matcher = _compiled(tuple(patterns))
    return [f for f in files if matcher.match(f)]


def step_runs(patterns, files):
    """A step's when.path: it runs if a changed file matches, or when the
    changed files are unknown (None) or none (an empty push)."""
    return not patterns or not files or bool(matching(patterns, files))


def check_build(pipeline, files, log):
    """Raise Skipped when paths: / ignore_paths: leave nothing to build;
    the log says which files decided it, either way."""
    if not (pipeline.paths or pipeline.ignore_paths) or files is None:
        return
    if not files:
        log.note("No file changed: paths: and ignore_paths: do not apply; the build runs")
        return
    changed = count(files)
    rest = files
    if pipeline.ignore_paths:
        ignored = set(matching(pipeline.ignore_paths, files))
        rest = [f for f in files if f not in ignored]
        if not rest:
            raise Skipped(f"{changed}; all match ignore_paths: {shown(pipeline.ignore_paths)}")
        log.note(f"{changed}; not matching ignore_paths: {listed(rest)}")
    if pipeline.paths:
        hits = matching(pipeline.paths, rest)
        if not hits:
            left = "" if rest is files else f" ({len(rest)} not ignored)"
            raise Skipped(f"{changed}{left}; none matches paths: {shown(pipeline.paths)}")
        log.note(f"{changed}; matching paths: {shown(pipeline.paths)}: {listed(hits)}")


def count(files):
    return "1 file changed" if len(files) == 1 else f"{len(files)} files changed"


def shown(patterns):
    more = len(patterns) - SHOWN_PATTERNS
    return "[" + ", ".join(patterns[:SHOWN_PATTERNS]) + (f", … {more} more" if more > 0 else "") + "]"


def listed(files):
    more = len(files) - SHOWN_FILES
    return ", ".join(_printable(f) for f in files[:SHOWN_FILES]) + (f" and {more} more" if more > 0 else "")


def _printable(name):
    # A file name is the pusher's text: a newline or an escape sequence in
    # one must not pose as a line of Herald's own in the log.
    return name if name.isprintable() else name.encode("unicode_escape").decode("ascii")
