"""Reading .herald.yml and the older formats: what is accepted, and the
errors a pipeline author sees (file, line, key — never a traceback)."""

import json
import os
import tracemalloc
from types import SimpleNamespace

import pytest

from builds.errors import PipelineError
from builds.pipeline import MAX_FILE_BYTES, _Loader, load_pipeline, parse_duration

FULL = """\
image: python:3.12-slim          # default image for steps
env: {PIP_DISABLE_PIP_VERSION_CHECK: "1"}
services:                         # sidecar containers reachable by name from every step
  db: {image: postgres:16, env: {POSTGRES_PASSWORD: test}}
  cache: {image: redis:7, command: [redis-server, --save, ""]}
matrix:
  PYTHON: ["3.11", "3.12"]
steps:
  - name: test
    image: python:${PYTHON}-slim
    commands: [pip install -r requirements.txt, pytest -q]
    secrets: [CODECOV_TOKEN]
  - name: image
    build: {dockerfile: Dockerfile, context: .}
    when: {branch: [main], event: [push, tag]}
timeout: 20m
"""


def load(tmp_path, files, known_secrets=None):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return load_pipeline(tmp_path, known_secrets=known_secrets)


def error(tmp_path, files, known_secrets=None):
    with pytest.raises(PipelineError) as e:
        load(tmp_path, files, known_secrets)
    assert "Traceback" not in str(e.value)
    return str(e.value)


def job(event="push", branch="main", tag="", target_branch=""):
    return SimpleNamespace(event=event, branch=branch, tag=tag, target_branch=target_branch)


def test_it_reads_the_documented_example(tmp_path):
    p = load(tmp_path, {".herald.yml": FULL}, known_secrets={"CODECOV_TOKEN"})
    assert p.source == ".herald.yml" and p.timeout == 20 * 60
    assert p.env == {"PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert [(s.name, s.image, s.env, s.command) for s in p.services] == [
        ("db", "postgres:16", {"POSTGRES_PASSWORD": "test"}, None),
        ("cache", "redis:7", {}, ["redis-server", "--save", ""]),
    ]
    test, image = p.steps
    assert test.commands == ["pip install -r requirements.txt", "pytest -q"]
    assert test.secrets == ["CODECOV_TOKEN"] and test.when is None
    assert image.build == {"dockerfile": "Dockerfile", "context": "."}
    assert p.matrix_combinations() == [{"PYTHON": "3.11"}, {"PYTHON": "3.12"}]
    assert [s.image for s in p.for_combination({"PYTHON": "3.12"}).steps][0] == "python:3.12-slim"


def test_the_milestone_one_shorthand_is_a_one_step_pipeline(tmp_path):
    p = load(tmp_path, {".herald.yml": "image: alpine:3\ncommands:\n  - echo hi\n  - make\n"})
    assert len(p.steps) == 1
    assert (p.steps[0].image, p.steps[0].commands) == ("alpine:3", ["echo hi", "make"])


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("20m", 1200), ("1h", 3600), ("45", 2700), (5, 300)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


def test_numbers_keep_the_spelling_they_have_in_the_file(tmp_path):
    p = load(
        tmp_path,
        {".herald.yml": ("image: x\nenv: {VERSION: 3.10, COUNT: 010}\nmatrix: {PY: [3.10, 3.9]}\ncommands: [true]\n")},
    )
    assert p.env == {"VERSION": "3.10", "COUNT": "010"}
    assert p.matrix == {"PY": ["3.10", "3.9"]}


def test_matrix_expands_to_every_combination(tmp_path):
    p = load(tmp_path, {".herald.yml": "image: x\nmatrix: {A: [1, 2], B: [x, y, z]}\ncommands: [true]\n"})
    combos = p.matrix_combinations()
    assert len(combos) == 6 and {"A": "2", "B": "z"} in combos


@pytest.mark.parametrize(
    "files,expected",
    [
        ({".herald.yml": "image: x\ncommands: [true]\ncolour: blue\n"}, ".herald.yml, line 3, colour: unknown key"),
        ({".herald.yml": "image: x\ncommands: [true\n"}, ".herald.yml, line 3: invalid YAML"),
        ({".herald.yml": "steps: []\n"}, ".herald.yml, line 1, steps: must be a non-empty list"),
        (
            {".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: echo\n    always: yes please\n"},
            ".herald.yml, line 5, steps[0].always: must be true or false",
        ),
        (
            {".herald.yml": "image: x\ntimeout: soon\ncommands: [true]\n"},
            ".herald.yml, line 2, timeout: must be a duration",
        ),
        ({".herald.yml": "image: x\nenv: [A, B]\ncommands: [true]\n"}, ".herald.yml, line 2, env: must be a mapping"),
        (
            {".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n    secrets: [NOPE]\n"},
            ".herald.yml, line 5, steps[0].secrets: unknown secret 'NOPE'",
        ),
        (
            {".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n  - name: a\n    commands: [true]\n"},
            ".herald.yml, line 5, steps[1].name: 'a' is used by an earlier step",
        ),
        ({".herald.yml": "image: x\nimage: y\ncommands: [true]\n"}, ".herald.yml, line 2, image: appears twice"),
        (
            {".herald.yml": "steps:\n  - name: a\n    image: python:${PY}\n    commands: [true]\n"},
            ".herald.yml, line 3, steps[0].image: ${PY} is not a matrix variable",
        ),
        (
            {".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n    when: {event: [deploy]}\n"},
            ".herald.yml, line 5, steps[0].when.event: unknown event 'deploy'",
        ),
        (
            {".herald.yml": "image: x\nsteps:\n  - build: {context: ../outside}\n"},
            ".herald.yml, line 3, steps[0].build.context: must be a path inside the repository, without '..' (not '../outside')",
        ),
        (
            {".herald.yml": "image: x\nsteps:\n  - build: {dockerfile: /etc/passwd}\n"},
            ".herald.yml, line 3, steps[0].build.dockerfile: must be a path inside the repository, relative to its root",
        ),
        (
            {".herald.yml": 'image: x\nsteps:\n  - build: {context: "a\\0b"}\n'},
            ".herald.yml, line 3, steps[0].build.context: must not contain a NUL character",
        ),
        (
            {".herald.yml": "image: x\nservices:\n  github.com: {image: x}\ncommands: [true]\n"},
            ".herald.yml, line 3, services.github.com: a service name is the host name steps reach it by",
        ),
        (
            {".herald.yml": "image: x\nservices:\n  db: {env: {A: b}}\ncommands: [true]\n"},
            ".herald.yml, line 3, services.db.image: is required",
        ),
        ({".herald.yml": ""}, ".herald.yml: the file is empty"),
        ({"hermes.yaml": "schema: shell\n"}, "hermes.yaml, line 1, schema: only `schema: docker`"),
        ({".microci.json": '{"image": "x",\n "command": 3}'}, ".microci.json, command: must be a string"),
        ({".microci.json": '{"image": "x",\n "command": }'}, ".microci.json, line 2: invalid JSON"),
        ({".microci.json": "[" * 100_000}, ".microci.json: nested too deeply"),
        ({".herald.yml": "[" * 100_000}, ".herald.yml: nested too deeply"),
    ],
)
def test_an_invalid_file_names_file_line_and_key(tmp_path, files, expected):
    assert expected in error(tmp_path, files, known_secrets=set())


def test_no_build_definition_says_what_to_add(tmp_path):
    assert "add a .herald.yml" in error(tmp_path, {"README": "hi"})


def test_compatibility_formats(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    p = load(tmp_path, {"Hermes.yaml": "schema: docker\n"})
    assert p.source == "Hermes.yaml" and p.steps[0].build == {"dockerfile": "Dockerfile", "context": "."}
    (tmp_path / "Hermes.yaml").unlink()
    p = load(tmp_path, {".microci.json": json.dumps({"image": "busybox", "command": ["sh", "-c", "echo 'a b'"]})})
    assert p.source == ".microci.json" and p.steps[0].image == "busybox"
    assert p.steps[0].commands == ["sh -c 'echo '\"'\"'a b'\"'\"''"]
    (tmp_path / ".microci.json").unlink()
    assert load(tmp_path, {}).source == "Dockerfile"


def test_when_filters_branch_event_and_tag():
    from builds.pipeline import When

    main_only = When(branch=["main"], event=["push", "tag"])
    assert main_only.matches(job(branch="main"))
    assert not main_only.matches(job(branch="feature"))
    # Tags are not on a branch: the branch filter does not apply to them.
    assert main_only.matches(job(event="tag", branch="", tag="v1.0"))
    assert not main_only.matches(job(event="pull_request", branch="", target_branch="main"))

    globbed = When(branch=["release/*"])
    assert globbed.matches(job(branch="release/2.0")) and not globbed.matches(job(branch="main"))
    assert globbed.matches(job(event="pull_request", branch="", target_branch="release/1"))

    tags = When(tag=["v*"])
    assert tags.matches(job(event="tag", branch="", tag="v2")) and not tags.matches(job(branch="main"))


# --- what a hostile file cannot do -------------------------------------------


def alias_bomb(levels=9, width=9):
    """ "Billion laughs": each anchor lists the one before it `width` times,
    so the last expands to width**levels copies of the first (9**9 ≈ 387 M)."""
    lines = ["image: x", "env: {LOL: &l0 lol}"]
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\ncommands: [true]\n"


def test_an_alias_bomb_is_refused_while_composing_with_work_linear_in_the_file(tmp_path, monkeypatch):
    # Counting the nodes the loader composes (each alias once) and checking
    # that nothing is ever constructed shows the cost is bounded by what is
    # written, whatever it would expand to: no timing, no memory sampling.
    composed, constructed = [], []
    compose_node = _Loader.compose_node
    monkeypatch.setattr(_Loader, "compose_node", lambda self, *a: composed.append(1) or compose_node(self, *a))
    monkeypatch.setattr(_Loader, "construct_document", lambda self, node: constructed.append(node))
    text = alias_bomb()
    message = error(tmp_path, {".herald.yml": text})
    assert message == (
        ".herald.yml, line 8: alias *l5: the document grows past 2 MiB once its aliases "
        "are expanded (each *alias repeats the whole of its &anchor)"
    )
    assert constructed == []
    assert len(composed) < text.count("*") + text.count(":") + 20


def test_many_aliases_of_a_long_string_are_refused_at_the_alias_that_passes_the_limit(tmp_path):
    # The report's file: under 64 KB, a 32 KB string repeated by thousands of aliases.
    big = "x" * 32 * 1024
    text = f'image: x\nenv: {{A: &big "{big}"}}\nsteps:\n  - name: a\n    commands:\n' + "      - *big\n" * 2500
    assert len(text) < 64 * 1024
    # 32 KiB + 63 x 32 KiB passes 2 MiB: the 63rd alias, on line 5 + 63.
    assert error(tmp_path, {".herald.yml": text}).startswith(
        ".herald.yml, line 68: alias *big: the document grows past 2 MiB"
    )


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    assert error(tmp_path, {".herald.yml": "image: x\nenv: &e {A: *e}\ncommands: [true]\n"}) == (
        ".herald.yml, line 2: alias *e refers to a node that contains it"
    )


def test_anchors_merge_keys_and_overrides_keep_working(tmp_path):
    p = load(
        tmp_path,
        {
            ".herald.yml": """\
image: alpine:3
steps:
  - &unit
    name: unit
    env: &env {PY: "3.12", CI: "1"}
    commands: &setup [pip install -e ., pytest -q]
  - <<: *unit
    name: lint
    commands: [ruff check .]
  - {<<: *unit, name: docs, env: {<<: *env, PY: "3.11"}}
  - name: again
    commands: *setup
"""
        },
    )
    assert [(s.name, s.env, s.commands) for s in p.steps] == [
        ("unit", {"PY": "3.12", "CI": "1"}, ["pip install -e .", "pytest -q"]),
        ("lint", {"PY": "3.12", "CI": "1"}, ["ruff check ."]),
        ("docs", {"PY": "3.11", "CI": "1"}, ["pip install -e .", "pytest -q"]),
        ("again", {}, ["pip install -e .", "pytest -q"]),
    ]


def test_a_key_written_twice_next_to_a_merge_is_still_a_mistake(tmp_path):
    text = "image: x\nsteps:\n  - &a {name: a, commands: [true]}\n  - <<: *a\n    name: b\n    name: c\n"
    assert error(tmp_path, {".herald.yml": text}) == ".herald.yml, line 6, name: appears twice in the same mapping"


def test_a_file_past_the_limit_is_refused_without_being_read(tmp_path):
    # Sparse: 200 MB on paper, nothing on disk. Reading it whole would
    # allocate 200 MB, which tracemalloc would see.
    with open(tmp_path / ".herald.yml", "wb") as f:
        f.write(b"image: x\ncommands: [true]\n")
        f.truncate(200 * 2**20)
    tracemalloc.start()
    try:
        message = error(tmp_path, {})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert message == ".herald.yml: the file is 200.0 MiB; the limit is 512 KiB"
    assert peak < 2**20


def test_a_file_just_under_the_limit_is_read(tmp_path):
    text = "image: x\ncommands: [true]\n"
    text += "#" * (MAX_FILE_BYTES - len(text) - 1) + "\n"
    assert load(tmp_path, {".herald.yml": text}).steps[0].commands == ["true"]


def test_a_pipe_is_refused_instead_of_hanging_the_worker(tmp_path):
    os.mkfifo(tmp_path / ".herald.yml")
    assert error(tmp_path, {}) == (
        ".herald.yml is not a regular file: a build definition must be a file in the repository"
    )
    (tmp_path / ".herald.yml").unlink()
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / ".herald.yml").symlink_to("pipe")
    assert "is not a regular file" in error(tmp_path, {})


@pytest.mark.parametrize("target", ["/dev/zero", "../outside.yml", "/etc/hostname"])
def test_a_link_leading_outside_the_checkout_is_refused(tmp_path, target):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (tmp_path / "outside.yml").write_text("image: x\ncommands: [cat /etc/shadow]\n")
    (checkout / "Dockerfile").write_text("FROM scratch\n")  # must not be used instead
    (checkout / ".herald.yml").symlink_to(target)
    with pytest.raises(PipelineError) as e:
        load_pipeline(checkout)
    assert str(e.value) == (
        ".herald.yml is a symbolic link that leads outside the repository: Herald reads only files inside the checkout"
    )


def test_a_link_to_a_file_inside_the_checkout_is_followed(tmp_path):
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "pipeline.yml").write_text("image: x\ncommands: [make]\n")
    (tmp_path / ".herald.yml").symlink_to("ci/pipeline.yml")
    p = load(tmp_path, {})
    assert p.source == ".herald.yml" and p.steps[0].commands == ["make"]


def test_a_dangling_link_or_a_directory_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".herald.yml").symlink_to("missing.yml")
    assert error(tmp_path, {}) == ".herald.yml is a symbolic link that leads nowhere (a missing file or a loop)"
    (tmp_path / ".herald.yml").unlink()
    (tmp_path / ".herald.yml").mkdir()
    assert "is not a regular file" in error(tmp_path, {})


def test_a_dockerfile_linking_outside_is_refused_before_the_build(tmp_path):
    (tmp_path / "Dockerfile").symlink_to("/etc/hostname")
    assert error(tmp_path, {}).startswith("Dockerfile is a symbolic link that leads outside the repository")


@pytest.mark.parametrize("name", ["db", "redis-7", "a", "x" * 63, "0cache"])
def test_service_names_that_are_dns_labels_are_accepted(tmp_path, name):
    p = load(tmp_path, {".herald.yml": f"image: x\nservices:\n  {name}: {{image: redis}}\ncommands: [true]\n"})
    assert p.services[0].name == name


@pytest.mark.parametrize("name", ["github.com", "pypi.org", "db.local", "DB", "my_db", "-db", "db-", "x" * 64])
def test_service_names_that_could_pose_as_a_host_are_refused(tmp_path, name):
    message = error(tmp_path, {".herald.yml": f"image: x\nservices:\n  {name}: {{image: redis}}\ncommands: [true]\n"})
    assert message.startswith(f".herald.yml, line 3, services.{name}: a service name is the host name")
    assert "no dots" in message
