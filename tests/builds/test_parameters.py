"""`parameters:` in .herald.yml: what a pipeline author may declare, the
errors they see (file, line, key), and how values are checked and become
environment variables."""

import pytest

from builds.errors import PipelineError
from builds.parameters import Parameter, ParameterError, environment, validate
from builds.pipeline import load_pipeline

HEAD = "image: busybox\ncommands: [env]\n"


def load(tmp_path, text):
    (tmp_path / ".herald.yml").write_text(HEAD + text)
    return load_pipeline(tmp_path)


def test_it_reads_the_three_types_with_their_defaults(tmp_path):
    pipeline = load(
        tmp_path,
        """\
parameters:
  - {name: TARGET, type: choice, choices: [staging, production], description: Where to deploy}
  - {name: DRY_RUN, type: boolean, default: true}
  - {name: VERSION, default: 3.10}
  - {name: NOTE}
""",
    )
    assert pipeline.parameters == [
        Parameter("TARGET", "choice", "staging", "Where to deploy", ["staging", "production"]),
        Parameter("DRY_RUN", "boolean", True),
        Parameter("VERSION", "string", "3.10"),  # as written, not 3.1
        Parameter("NOTE", "string", ""),
    ]
    assert environment(pipeline.parameters, {}) == {
        "TARGET": "staging",
        "DRY_RUN": "true",
        "VERSION": "3.10",
        "NOTE": "",
    }
    assert environment(pipeline.parameters, {"DRY_RUN": False, "TARGET": "production"})["DRY_RUN"] == "false"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "parameters: {A: 1}\n",
            ".herald.yml, line 3, parameters: must be a list of {name:, type:, default:, description:}",
        ),
        (
            "parameters:\n  - A\n",
            ".herald.yml, line 4, parameters[0]: must be a mapping (name:, type:, default:, description:)",
        ),
        ("parameters:\n  - {type: string}\n", ".herald.yml, line 4, parameters[0].name: is required"),
        (
            "parameters:\n  - {name: A-B}\n",
            ".herald.yml, line 4, parameters[0].name: must be a variable name (letters, digits, '_')",
        ),
        (
            "parameters:\n  - {name: HERALD_EVENT}\n",
            ".herald.yml, line 4, parameters[0].name: HERALD_EVENT is Herald's own variable",
        ),
        (
            "parameters:\n  - {name: A}\n  - {name: A}\n",
            ".herald.yml, line 5, parameters[1].name: 'A' is declared twice",
        ),
        (
            "parameters:\n  - {name: A, type: number}\n",
            ".herald.yml, line 4, parameters[0].type: must be one of string, choice, boolean (not 'number')",
        ),
        (
            "parameters:\n  - {name: A, typ: string}\n",
            ".herald.yml, line 4, parameters[0].typ: unknown key (allowed: choices, default, description, name, type)",
        ),
        (
            "parameters:\n  - {name: A, type: choice}\n",
            ".herald.yml, line 4, parameters[0].choices: a choice parameter lists its choices",
        ),
        (
            "parameters:\n  - {name: A, type: choice, choices: [x], default: y}\n",
            ".herald.yml, line 4, parameters[0].default: 'y' is not one of the choices (x)",
        ),
        (
            "parameters:\n  - {name: A, choices: [x]}\n",
            ".herald.yml, line 4, parameters[0].choices: only for type: choice",
        ),
        (
            "parameters:\n  - {name: A, type: boolean, default: maybe}\n",
            ".herald.yml, line 4, parameters[0].default: must be true or false",
        ),
        (
            "parameters:\n  - {name: A, default: [1, 2]}\n",
            ".herald.yml, line 4, parameters[0].default: must be a string",
        ),
        (
            "matrix: {A: [1, 2]}\nparameters:\n  - {name: A}\n",
            ".herald.yml, line 5, parameters[0].name: A is also a matrix variable",
        ),
        (
            "parameters:\n" + "".join(f"  - {{name: P{i}}}\n" for i in range(51)),
            ".herald.yml, line 3, parameters: declares 51 parameters; the limit is 50",
        ),
    ],
)
def test_a_wrong_declaration_is_an_error_with_its_line(tmp_path, text, message):
    with pytest.raises(PipelineError) as e:
        load(tmp_path, text)
    assert str(e.value) == message


DECLARED = [
    Parameter("TARGET", "choice", "staging", choices=["staging", "production"]),
    Parameter("DRY_RUN", "boolean", True),
    Parameter("NOTE", "string", ""),
]


@pytest.mark.parametrize(
    "given, message",
    [
        ({"COLOUR": "red"}, "unknown parameter 'COLOUR' (the pipeline declares: TARGET, DRY_RUN, NOTE)"),
        ({"DRY_RUN": "false"}, "parameter DRY_RUN is a boolean: give true or false, not 'false'"),
        ({"DRY_RUN": 0}, "parameter DRY_RUN is a boolean: give true or false, not the number 0"),
        ({"NOTE": True}, "parameter NOTE is a string: give a string, not true"),
        ({"NOTE": None}, "parameter NOTE is a string: give a string, not null"),
        ({"NOTE": {"a": 1}}, "parameter NOTE is a string: give a string, not an object"),
        ({"TARGET": "prod"}, "parameter TARGET must be one of staging, production, not 'prod'"),
        ({"NOTE": "x" * 4097}, "parameter NOTE is longer than 4096 characters"),
        ({"NOTE": "a\0b"}, "parameter NOTE contains a NUL character"),
        ("TARGET=prod", "params must be an object of name: value"),
    ],
)
def test_a_value_the_declarations_do_not_allow_is_refused_with_the_reason(given, message):
    with pytest.raises(ParameterError) as e:
        validate(DECLARED, given)
    assert str(e.value) == message


def test_a_pipeline_without_parameters_takes_none():
    with pytest.raises(ParameterError, match=r"unknown parameter 'A' \(the pipeline declares: none\)"):
        validate([], {"A": "x"})
    assert environment([], {}) == {}
