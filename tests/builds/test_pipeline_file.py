"""Reading .herald.yml and the older formats: what is accepted, and the
errors a pipeline author sees (file, line, key — never a traceback)."""

import json
from types import SimpleNamespace

import pytest

from builds.errors import PipelineError
from builds.pipeline import load_pipeline, parse_duration

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
    p = load(tmp_path, {".herald.yml": (
        "image: x\nenv: {VERSION: 3.10, COUNT: 010}\nmatrix: {PY: [3.10, 3.9]}\ncommands: [true]\n"
    )})
    assert p.env == {"VERSION": "3.10", "COUNT": "010"}
    assert p.matrix == {"PY": ["3.10", "3.9"]}


def test_matrix_expands_to_every_combination(tmp_path):
    p = load(tmp_path, {".herald.yml": "image: x\nmatrix: {A: [1, 2], B: [x, y, z]}\ncommands: [true]\n"})
    combos = p.matrix_combinations()
    assert len(combos) == 6 and {"A": "2", "B": "z"} in combos


@pytest.mark.parametrize("files,expected", [
    ({".herald.yml": "image: x\ncommands: [true]\ncolour: blue\n"}, ".herald.yml, line 3, colour: unknown key"),
    ({".herald.yml": "image: x\ncommands: [true\n"}, ".herald.yml, line 3: invalid YAML"),
    ({".herald.yml": "steps: []\n"}, ".herald.yml, line 1, steps: must be a non-empty list"),
    ({".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: echo\n    always: yes please\n"},
     ".herald.yml, line 5, steps[0].always: must be true or false"),
    ({".herald.yml": "image: x\ntimeout: soon\ncommands: [true]\n"}, ".herald.yml, line 2, timeout: must be a duration"),
    ({".herald.yml": "image: x\nenv: [A, B]\ncommands: [true]\n"}, ".herald.yml, line 2, env: must be a mapping"),
    ({".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n    secrets: [NOPE]\n"},
     ".herald.yml, line 5, steps[0].secrets: unknown secret 'NOPE'"),
    ({".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n  - name: a\n    commands: [true]\n"},
     ".herald.yml, line 5, steps[1].name: 'a' is used by an earlier step"),
    ({".herald.yml": "image: x\nimage: y\ncommands: [true]\n"}, ".herald.yml, line 2, image: appears twice"),
    ({".herald.yml": "steps:\n  - name: a\n    image: python:${PY}\n    commands: [true]\n"},
     ".herald.yml, line 3, steps[0].image: ${PY} is not a matrix variable"),
    ({".herald.yml": "image: x\nsteps:\n  - name: a\n    commands: [true]\n    when: {event: [deploy]}\n"},
     ".herald.yml, line 5, steps[0].when.event: unknown event 'deploy'"),
    ({".herald.yml": "image: x\nsteps:\n  - build: {context: ../outside}\n"},
     ".herald.yml, line 3, steps[0].build.context: must be a path inside the repository"),
    ({".herald.yml": "image: x\nservices:\n  db: {env: {A: b}}\ncommands: [true]\n"},
     ".herald.yml, line 3, services.db.image: is required"),
    ({".herald.yml": ""}, ".herald.yml: the file is empty"),
    ({"hermes.yaml": "schema: shell\n"}, "hermes.yaml, line 1, schema: only `schema: docker`"),
    ({".microci.json": '{"image": "x",\n "command": 3}'}, ".microci.json, command: must be a string"),
    ({".microci.json": '{"image": "x",\n "command": }'}, ".microci.json, line 2: invalid JSON"),
])
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
