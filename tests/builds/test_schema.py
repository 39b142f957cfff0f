"""docs/herald.schema.json, the pipeline file's JSON Schema for editors,
against the parser: the same keys, and the same verdict on every example
docs/pipeline.md shows (a block after `<!-- invalid -->` must be refused by
both)."""

import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from builds import parameters
from builds.errors import PipelineError
from builds.pipeline import EVENTS, SERVICE_KEYS, STEP_KEYS, TOP_KEYS, WHEN_KEYS, parse_herald, parse_yaml

DOCS = Path(__file__).resolve().parents[2] / "docs"
SCHEMA = json.loads((DOCS / "herald.schema.json").read_text())
VALIDATOR = Draft7Validator(SCHEMA)
# A block may sit in a list item, indented; `<!-- invalid -->` on the line
# before it marks an example of a mistake.
BLOCK = re.compile(r"^( *)(<!-- invalid -->\n\1)?```yaml\n(.*?)^\1```", re.S | re.M)


def examples():
    text = (DOCS / "pipeline.md").read_text()
    for m in BLOCK.finditer(text):
        line = text[: m.start(3)].count("\n") + 1
        yield pytest.param(textwrap.dedent(m.group(3)), bool(m.group(2)), id=f"pipeline.md:{line}")


def parser_refusal(text):
    try:
        parse_herald(parse_yaml(text.encode(), ".herald.yml"), ".herald.yml")
    except PipelineError as e:
        return str(e)
    return None


def schema_refusal(text):
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return f"not YAML: {e}"
    errors = sorted(VALIDATOR.iter_errors(data), key=lambda e: list(e.path))
    return "; ".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors) or None


def test_the_schema_is_a_valid_draft_7_schema():
    Draft7Validator.check_schema(SCHEMA)


def _agree(where, schema_keys, parser_keys):
    missing, extra = set(parser_keys) - set(schema_keys), set(schema_keys) - set(parser_keys)
    assert not missing, (
        f"builds/pipeline.py accepts {where} {sorted(missing)}, which docs/herald.schema.json lacks: add them to "
        "the schema (editors would flag a valid file)"
    )
    assert not extra, f"docs/herald.schema.json has {where} {sorted(extra)}, which builds/pipeline.py refuses"


def test_the_schema_knows_exactly_the_keys_the_parser_accepts():
    defs = SCHEMA["definitions"]
    _agree("top-level keys", SCHEMA["properties"], TOP_KEYS)
    _agree("step keys", defs["step"]["properties"], STEP_KEYS)
    _agree("service keys", defs["service"]["properties"], SERVICE_KEYS)
    _agree("when: keys", defs["step"]["properties"]["when"]["properties"], WHEN_KEYS)
    _agree("parameter keys", defs["parameter"]["properties"], parameters.KEYS)
    _agree("parameter types", defs["parameter"]["properties"]["type"]["enum"], parameters.TYPES)
    _agree("events", defs["event"]["enum"], EVENTS)


def test_the_documentation_shows_examples_of_both_kinds():
    kinds = [p.values[1] for p in examples()]
    assert kinds.count(False) >= 10 and kinds.count(True) >= 3


@pytest.mark.parametrize("text,invalid", list(examples()))
def test_every_documented_example_gets_the_same_verdict_from_parser_and_schema(text, invalid):
    if invalid:
        assert parser_refusal(text), "the parser accepts an example the documentation marks <!-- invalid -->"
        assert schema_refusal(text), "the schema accepts an example the documentation marks <!-- invalid -->"
    else:
        assert parser_refusal(text) is None
        assert schema_refusal(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "image: x\ncommands: [true]\ncolour: blue\n",
        "image: x\ncommands: [true]\nsteps: [{commands: [true]}]\n",
        "commands: [true]\n",
        "image: x\n",
        "image: x\nsteps: []\n",
        "image: x\nsteps: [{name: a, build: Dockerfile, commands: [true]}]\n",
        "image: x\nsteps: [{name: a}]\n",
        "image: x\nsteps: [{name: 'has space', commands: [true]}]\n",
        "image: x\nsteps: [{commands: [true], when: {event: [deploy]}}]\n",
        "image: x\nsteps: [{commands: [true], secrets: [not-a-name]}]\n",
        "image: x\nsteps: [{commands: [true], always: maybe}]\n",
        "image: x\ncommands: [{echo a: b}]\n",
        "image: x\ncommands: [true]\ntimeout: soon\n",
        "image: x\ncommands: [true]\ntimeout: 0\n",
        "image: x\ncommands: [true]\nenv: {1A: b}\n",
        "image: x\ncommands: [true]\nservices: {github.com: {image: x}}\n",
        "image: x\ncommands: [true]\nservices: {db: {env: {A: b}}}\n",
        "image: x\ncommands: [true]\nmatrix: {}\n",
        "image: x\ncommands: [true]\nparameters: [{name: A, type: list}]\n",
        "image: x\ncommands: [true]\nruns_on: [has space]\n",
        "image: x\ncommands: [true]\npaths: []\n",
    ],
)
def test_the_schema_refuses_what_the_parser_refuses(text):
    assert parser_refusal(text)
    assert schema_refusal(text)
