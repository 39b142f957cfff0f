"""Path filters in .herald.yml: what parses (and the errors, with their
line), the glob semantics, and the whole build's decision."""

import pytest

from builds import paths
from builds.errors import PipelineError
from builds.pipeline import parse_herald, parse_yaml


def parse(text):
    return parse_herald(parse_yaml(text.encode(), ".herald.yml"), ".herald.yml")


def error(text):
    with pytest.raises(PipelineError) as e:
        parse(text)
    return str(e.value)


FILE = """\
image: alpine
paths: [src/**, "!src/**/*.md"]
ignore_paths: docs/**
steps:
  - name: test
    commands: [make test]
  - name: docs
    when: {branch: [main], path: ["docs/**", "*.md"]}
    commands: [make docs]
"""


def test_it_parses_paths_ignore_paths_and_when_path():
    p = parse(FILE)
    assert p.paths == ["src/**", "!src/**/*.md"]
    assert p.ignore_paths == ["docs/**"]  # one string is a list of one
    assert p.steps[0].when is None
    assert p.steps[1].when.path == ["docs/**", "*.md"] and p.steps[1].when.branch == ["main"]
    assert p.filters_paths()


def test_a_pipeline_without_path_filters_needs_no_changed_files():
    p = parse("image: alpine\nsteps:\n  - {name: a, commands: [x], when: {branch: [main]}}\n")
    assert not p.filters_paths()


@pytest.mark.parametrize(
    "text, message",
    [
        ("paths: {src: 1}\n", ".herald.yml, line 2, paths: must be a list of strings"),
        ("paths: [src/**, [nested]]\n", ".herald.yml, line 2, paths: must be a list of strings"),
        ("paths: []\n", ".herald.yml, line 2, paths: must list at least one pattern (or be left out)"),
        ('ignore_paths: ["  "]\n', ".herald.yml, line 2, ignore_paths: '  ' is empty"),
        (
            "paths: [/src/**]\n",
            "line 2, paths: '/src/**' starts with '/': patterns are relative to the repository root (write 'src/**')",
        ),
        ('paths: ["!"]\n', "line 2, paths: '!' excludes nothing: write the pattern after the '!' (like '!docs/**')"),
        ("paths: [../x/**]\n", "line 2, paths: '../x/**' contains '..'"),
        ("paths: [docs/]\n", "line 2, paths: 'docs/' names a folder: write 'docs/**' to match the files in it"),
        ('paths: ["a\\0b"]\n', "line 2, paths: 'a\\x00b' contains a NUL character"),
        ("paths: [" + "x" * 501 + "]\n", "is longer than 500 characters"),
        (
            "paths: [" + ", ".join(f"p{i}" for i in range(101)) + "]\n",
            "line 2, paths: lists 101 patterns; the limit is 100",
        ),
        # Brace expansion is bounded (wcmatch's limit): a file cannot make a worker expand millions of patterns.
        (
            "paths: ['{a,b,c,d,e,f,g,h,i,j}{a,b,c,d,e,f,g,h,i,j}{a,b,c,d,e,f,g,h,i,j}{a,b}/**']\n",
            "line 2, paths: cannot be used: Pattern limit exceeded the limit of 1000",
        ),
        ("pathz: [src/**]\n", "line 2, pathz: unknown key"),
    ],
)
def test_bad_top_level_patterns_are_refused_with_their_line(text, message):
    assert message in error("image: alpine\n" + text + "commands: [x]\n")


def test_bad_when_path_is_refused_with_its_line():
    text = """\
image: alpine
steps:
  - name: a
    commands: [x]
    when:
      branch: [main]
      path: {docs: yes}
"""
    assert error(text) == ".herald.yml, line 7, steps[0].when.path: must be a list of strings"
    assert "steps[0].when.paths: unknown key (allowed: branch, event, path, tag)" in error(
        text.replace("path: {docs: yes}", "paths: [docs/**]")
    )


# --- matching ------------------------------------------------------------------------

FILES = [
    "README.md",
    "docs/guide.md",
    "docs/api/index.md",
    "src/app.py",
    "src/lib/util.py",
    "src/lib/NOTES.md",
    ".github/ci.yml",
]


@pytest.mark.parametrize(
    "patterns, matched",
    [
        (["src/**"], ["src/app.py", "src/lib/util.py", "src/lib/NOTES.md"]),
        # `*` stays within one folder; `**/` crosses any number, none included.
        (["*.md"], ["README.md"]),
        (["**/*.md"], ["README.md", "docs/guide.md", "docs/api/index.md", "src/lib/NOTES.md"]),
        (["src/*.py"], ["src/app.py"]),
        # A folder's name alone names no file in it.
        (["docs"], []),
        # `!` excludes from what the other patterns match…
        (["src/**", "!src/**/*.md"], ["src/app.py", "src/lib/util.py"]),
        (["docs/**", "!docs/api/**"], ["docs/guide.md"]),
        # …and alone it starts from every file.
        (["!docs/**", "!*.md"], ["src/app.py", "src/lib/util.py", "src/lib/NOTES.md", ".github/ci.yml"]),
        # Dot files are files like the others; braces and classes as in a shell.
        (["*/*.yml"], [".github/ci.yml"]),
        (["src/**/*.{py,txt}"], ["src/app.py", "src/lib/util.py"]),
        (["src/[a-c]*.py"], ["src/app.py"]),
        # Case matters, as in git.
        (["readme.md"], []),
    ],
)
def test_glob_semantics(patterns, matched):
    assert paths.matching(patterns, FILES) == matched


def test_hostile_names_are_only_matched():
    names = ["../../etc/passwd", "/etc/shadow", "a\nb", "x" * 5000, "src/../../x"]
    assert paths.matching(["docs/**", "*.md"], names) == []
    assert paths.matching(["src/**"], names) == []  # `**` never crosses a ".." segment
    # A long run of wildcards against a long name does not backtrack for ever.
    assert paths.matching(["*a" * 40 + "b"], ["a" * 4000]) == []


@pytest.mark.parametrize(
    "files, runs",
    [
        (None, True),  # unknown: everything runs
        ([], True),  # an empty push: everything runs
        (["docs/a.md"], True),
        (["src/a.py"], False),
    ],
)
def test_a_steps_when_path(files, runs):
    assert paths.step_runs(["docs/**"], files) is runs


class Log:
    def __init__(self):
        self.lines = []

    def note(self, text):
        self.lines.append(text)


def decide(text, files):
    log = Log()
    try:
        paths.check_build(parse("image: alpine\ncommands: [x]\n" + text), files, log)
    except paths.Skipped as e:
        return f"skipped: {e}", log.lines
    return "runs", log.lines


def test_the_whole_builds_decision():
    only_docs = ["docs/a.md", "docs/b.md"]
    assert decide("ignore_paths: [docs/**]\n", only_docs) == (
        "skipped: 2 files changed; all match ignore_paths: [docs/**]",
        [],
    )
    assert decide("ignore_paths: [docs/**]\n", [*only_docs, "src/a.py"]) == (
        "runs",
        ["3 files changed; not matching ignore_paths: src/a.py"],
    )
    assert decide("paths: [src/**]\n", ["README.md", "docs/a.md", "Makefile"]) == (
        "skipped: 3 files changed; none matches paths: [src/**]",
        [],
    )
    assert decide("paths: [src/**, lib/**]\n", ["README.md", "src/a.py"]) == (
        "runs",
        ["2 files changed; matching paths: [src/**, lib/**]: src/a.py"],
    )
    # Both: what ignore_paths leaves must match paths.
    both = "paths: ['**/*.py']\nignore_paths: [tools/**]\n"
    assert decide(both, ["tools/gen.py", "README.md"])[0] == (
        "skipped: 2 files changed (1 not ignored); none matches paths: [**/*.py]"
    )
    assert decide(both, ["tools/gen.py", "src/a.py"])[0] == "runs"
    # Unknown changed files, or none: every step runs.
    assert decide("paths: [src/**]\n", None) == ("runs", [])
    assert decide("paths: [src/**]\n", []) == (
        "runs",
        ["No file changed: paths: and ignore_paths: do not apply; the build runs"],
    )


def test_file_names_cannot_pose_as_log_lines():
    verdict, lines = decide("paths: ['**']\n", ["a\nStep test: success", "b\x1b[2Jc", "naïve.txt"])
    assert lines == ["3 files changed; matching paths: [**]: a\\nStep test: success, b\\x1b[2Jc, naïve.txt"]


def test_long_lists_are_cut_in_the_log():
    files = [f"src/{i:03}.py" for i in range(30)]
    verdict, lines = decide("paths: [src/**, a, b, c, d, e, f]\n", files)
    assert verdict == "runs"
    assert lines[0].startswith("30 files changed; matching paths: [src/**, a, b, c, d, … 2 more]: src/000.py, ")
    assert lines[0].endswith("src/019.py and 10 more")
