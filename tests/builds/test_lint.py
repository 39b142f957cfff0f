"""`manage.py lint`: a pipeline checked as a build would check it — the
same message, proven against real builds of the same files — and the
friendlier messages for YAML's common traps."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from builds.errors import PipelineError
from builds.pipeline import parse_herald, parse_yaml
from tests.builds.helpers import run_commit
from tests.support import TEST_IMAGE

ROOT = Path(__file__).resolve().parents[2]


def lint(*args, cwd=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "lint", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=os.environ,
        timeout=60,
    )


def message(text):
    with pytest.raises(PipelineError) as e:
        parse_herald(parse_yaml(text.encode(), ".herald.yml"), ".herald.yml")
    return str(e.value), e.value.line


# --- the same messages as a build ------------------------------------------------

BAD_FILES = {
    "unknown key": f"image: {TEST_IMAGE}\ncommands:\n  - echo hi\ncolour: blue\n",
    "a command with ': '": f"image: {TEST_IMAGE}\nsteps:\n  - name: greet\n    commands:\n      - echo note: hi\n",
    "a tab": f"image: {TEST_IMAGE}\nsteps:\n\t- name: greet\n",
    "no dashes": f"image: {TEST_IMAGE}\ncommands:\n  echo one\n  echo two\n",
    "steps as a mapping": f"image: {TEST_IMAGE}\nsteps:\n  name: greet\n  commands: [echo hi]\n",
    "an unknown secret": f"image: {TEST_IMAGE}\nsteps:\n  - commands: [env]\n    secrets: [NPM_TOKEN]\n",
}


@pytest.mark.docker
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_it_gives_exactly_the_reason_a_build_of_the_file_ends_with(
    case, git_repo, make_repository, test_image, tmp_path
):
    src = git_repo()
    sha = src.commit({".herald.yml": BAD_FILES[case]})
    job = run_commit(make_repository("acme/widgets", clone_url=src.url), sha)
    assert job.status == "errored" and job.reason.startswith(".herald.yml, line ")

    # The repository has no secrets: --secrets '' says so, as the build knew.
    checked = lint(src.path, "--secrets", "")
    assert checked.returncode == 1
    assert checked.stderr.strip() == job.reason
    assert checked.stdout == ""


def test_a_valid_checkout_exits_0_with_what_it_would_run(tmp_path):
    (tmp_path / ".herald.yml").write_text(
        "image: alpine:3\nmatrix: {PY: ['3.11', '3.12']}\nsteps:\n"
        "  - name: test\n    image: python:${PY}-slim\n    commands: [pytest]\n    secrets: [CODECOV_TOKEN]\n"
        "  - name: image\n    build: Dockerfile\n    when: {branch: [main]}\n"
    )
    result = lint(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        ".herald.yml: valid — 2 steps, 2 jobs",
        "  job: PY=3.11",
        "  job: PY=3.12",
        "  step test (python:${PY}-slim): secrets CODECOV_TOKEN",
        "  step image (docker build .): when branch: main",
        "  secrets not checked: CODECOV_TOKEN (pass --secrets with the repository's secret names "
        "to check them as a build does)",
    ]
    # Given the repository's secret names, a name it lacks fails as in a build.
    refused = lint(tmp_path, "--secrets", "NPM_TOKEN,OTHER")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        ".herald.yml, line 7, steps[0].secrets: unknown secret 'CODECOV_TOKEN'; add it in the repository's settings"
    )
    assert lint(tmp_path, "--secrets", "CODECOV_TOKEN").returncode == 0


def test_it_reads_the_current_directory_and_files_of_any_name(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    here = lint(cwd=tmp_path)
    assert here.returncode == 0 and here.stdout.startswith("Dockerfile: valid — 1 step, 1 job")

    (tmp_path / "ci.yml").write_text("image: alpine:3\ncommands: [true]\ntimeout: soon\n")
    (tmp_path / ".herald.yml").symlink_to("ci.yml")
    named = lint(tmp_path / "ci.yml")
    assert (named.returncode, named.stderr.strip()) == (
        1,
        "ci.yml, line 3, timeout: must be a duration like 30s, 20m or 1h",
    )
    # A link is read at its target and named as the build names it.
    linked = lint(tmp_path / ".herald.yml")
    assert linked.stderr.strip() == ".herald.yml, line 3, timeout: must be a duration like 30s, 20m or 1h"
    assert lint(tmp_path).stderr.strip() == linked.stderr.strip()

    missing = lint(tmp_path / "nope.yml")
    assert missing.returncode == 2 and "nope.yml: no such file or directory" in missing.stderr


def test_a_file_past_the_limit_gets_the_builds_message(tmp_path):
    (tmp_path / ".herald.yml").write_text("# " + "x" * 600 * 1024 + "\n")
    result = lint(tmp_path / ".herald.yml")
    assert (result.returncode, result.stderr.strip()) == (1, ".herald.yml: the file is 600 KiB; the limit is 512 KiB")


# --- YAML's traps, said at the item -------------------------------------------------


def test_a_command_with_colon_space_is_named_at_its_own_line():
    text = "image: alpine:3\nsteps:\n  - name: a\n    commands:\n      - make\n      - echo note: hi\n"
    # Before: ".herald.yml, line 4, steps[0].commands: must be a list of strings",
    # at the commands: key, with no word of why.
    assert message(text) == (
        ".herald.yml, line 6, steps[0].commands[1]: this command reads as a mapping because of ': ' — "
        'quote it: - "echo note: hi"',
        6,
    )
    # In a flow list too, and a number keeps its spelling in the suggestion.
    assert message("image: alpine:3\ncommands: [make, echo v: 3.10]\n")[0] == (
        ".herald.yml, line 2, commands[1]: this command reads as a mapping because of ': ' — "
        'quote it: - "echo v: 3.10"'
    )
    # Any list, not only commands.
    assert (
        "this item reads as a mapping"
        in message("image: alpine:3\nsteps:\n  - commands: [true]\n    when:\n      branch:\n        - main: x\n")[0]
    )


def test_a_tab_is_named_as_a_tab():
    # Before: "invalid YAML: found character '\t' that cannot start any token".
    assert message("image: alpine:3\nsteps:\n  - name: a\n\tcommands: [true]\n") == (
        ".herald.yml, line 4: invalid YAML: a tab indents this line; YAML needs spaces",
        4,
    )
    assert message("image:\talpine:3\ncommands: [true]\n")[0] == (
        ".herald.yml, line 1: invalid YAML: a tab separates words on this line; YAML needs spaces there "
        "(or quote the value)"
    )


def test_commands_without_dashes_are_not_run_as_one_command():
    # Before: accepted, and the build ran `echo one echo two` as one command.
    text = "image: alpine:3\nsteps:\n  - name: a\n    commands:\n      echo one\n      echo two\n"
    assert message(text) == (
        ".herald.yml, line 5, steps[0].commands: lines 5-6 read as one command, 'echo one echo two', because "
        "they have no '- ': start each command with '- ' (or quote a long command on one line)",
        5,
    )
    # One long command started on its key's line stays one command, as before.
    p = parse_herald(parse_yaml(b"image: x\ncommands: ./configure\n  --prefix=/usr\n", ".herald.yml"), ".herald.yml")
    assert p.steps[0].commands == ["./configure --prefix=/usr"]


def test_a_list_item_without_its_dash_is_named():
    # Before: "line 5: invalid YAML: could not find expected ':'" — the line
    # after the culprit (or the end of the file).
    assert message("image: alpine:3\ncommands:\n  - echo one\n  echo two\n") == (
        ".herald.yml, line 4: invalid YAML: this line is not a list item like the ones above it: start it with '- '",
        4,
    )
    # Before: "expected <block end>, but found '?'".
    assert message("image: x\nsteps:\n  - name: a\n    commands: [x]\n  name: b\n  commands: [y]\n") == (
        ".herald.yml, line 5: invalid YAML: the list that begins on line 3 goes on here without '- ': "
        "start each item with '- '",
        5,
    )
    # Before: "line 3, steps: must be a non-empty list of steps", which an
    # author reads as "add a step".
    assert message("image: x\nsteps:\n  name: test\n  commands: [x]\n") == (
        ".herald.yml, line 3, steps: is a mapping here, but steps are a list: start each step with '- ' (- name: …)",
        3,
    )


def test_colon_space_twice_on_a_line_says_to_quote():
    # Before: "invalid YAML: mapping values are not allowed here".
    assert message("image: x\nsteps:\n  - name: a\n    commands: echo a: b\n") == (
        ".herald.yml, line 4: invalid YAML: ': ' appears twice on this line: quote a value that contains ': ' "
        '(key: "a: b")',
        4,
    )
