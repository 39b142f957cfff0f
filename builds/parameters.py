"""Pipeline parameters: what someone starting a build by hand ("run now")
may choose, declared in `.herald.yml` and given to every step as
environment variables.

    parameters:
      - name: TARGET
        type: choice            # string (the default), choice or boolean
        choices: [staging, production]
        default: staging
        description: Where to deploy

Two halves, kept apart on purpose: `parse` reads the declarations from the
file (hostile: every key checked, with its line), `validate` checks the
values a person asked for against them (unknown name, wrong type, a choice
not listed: ParameterError, a 400 or a form error at the door, `errored`
if it ever reached a worker). `environment` is what the steps get: the
values asked for over the declared defaults — all a push ever gets.

Parameters are never secrets: the values are stored on the job and shown
on its page and in the API, unmasked.
"""

from dataclasses import dataclass, field

from builds.errors import BuildError

STRING, CHOICE, BOOLEAN = "string", "choice", "boolean"
TYPES = (STRING, CHOICE, BOOLEAN)
KEYS = {"name", "type", "default", "description", "choices"}
MAX_PARAMETERS = 50
MAX_VALUE = 4096
# Herald's own variables: a parameter may not pose as one of them.
RESERVED = ("CI", "HERALD")


class ParameterError(BuildError):
    """A value (or a name) the pipeline's declarations do not allow."""


@dataclass
class Parameter:
    name: str
    type: str = STRING
    default: object = ""
    description: str = ""
    choices: list = field(default_factory=list)


def parse(c, data, env_name_re, matrix):
    """The `parameters:` list of a parsed file, checked with the pipeline's
    _Checker `c` (which says the file, line and key on failure)."""
    if "parameters" not in data:
        return []
    raw = data["parameters"]
    line = c.line_of(data, "parameters")
    if not isinstance(raw, list):
        c.fail(line, "parameters", "must be a list of {name:, type:, default:, description:}")
    if len(raw) > MAX_PARAMETERS:
        c.fail(line, "parameters", f"declares {len(raw)} parameters; the limit is {MAX_PARAMETERS}")
    out, seen = [], set()
    for i, spec in enumerate(raw):
        where = f"parameters[{i}]"
        at = raw.lines[i] if hasattr(raw, "lines") else line
        if not isinstance(spec, dict):
            c.fail(at, where, "must be a mapping (name:, type:, default:, description:)")
        c.keys(spec, KEYS, where + ".")
        name = c.string(spec, "name", where + ".", required=True)
        if not env_name_re.match(name):
            c.fail(c.line_of(spec, "name"), where + ".name", "must be a variable name (letters, digits, '_')")
        if name in RESERVED or name.startswith("HERALD_"):
            c.fail(c.line_of(spec, "name"), where + ".name", f"{name} is Herald's own variable")
        if name in matrix:
            c.fail(c.line_of(spec, "name"), where + ".name", f"{name} is also a matrix variable")
        if name in seen:
            c.fail(c.line_of(spec, "name"), where + ".name", f"{name!r} is declared twice")
        seen.add(name)
        kind = c.string(spec, "type", where + ".") or STRING
        if kind not in TYPES:
            c.fail(c.line_of(spec, "type"), where + ".type", f"must be one of {', '.join(TYPES)} (not {kind!r})")
        param = Parameter(name=name, type=kind, description=c.string(spec, "description", where + "."))
        default = spec.get("default")
        if "default" in spec and kind != BOOLEAN:
            if default is None or isinstance(default, (bool, dict, list)):
                c.fail(c.line_of(spec, "default"), where + ".default", "must be a string")
            default = c.string_list(spec, "default", where + ".")[0]  # as written: 3.10 stays 3.10
        if "choices" in spec and kind != CHOICE:
            c.fail(c.line_of(spec, "choices"), where + ".choices", "only for type: choice")
        if kind == CHOICE:
            param.choices = c.string_list(spec, "choices", where + ".", allow_scalar=False)
            if not param.choices:
                c.fail(c.line_of(spec, "choices") or at, where + ".choices", "a choice parameter lists its choices")
            if len(set(param.choices)) != len(param.choices):
                c.fail(c.line_of(spec, "choices"), where + ".choices", "lists a choice twice")
            param.default = param.choices[0] if default is None else default
            if param.default not in param.choices:
                c.fail(
                    c.line_of(spec, "default"),
                    where + ".default",
                    f"{param.default!r} is not one of the choices ({', '.join(param.choices)})",
                )
        elif kind == BOOLEAN:
            param.default = False if default is None else default
            if not isinstance(param.default, bool):
                c.fail(c.line_of(spec, "default"), where + ".default", "must be true or false")
        else:
            param.default = default or ""
        out.append(param)
    return out


def validate(parameters, given):
    """The values asked for, checked against the declarations: {name:
    value} (str, or bool for a boolean) as stored on the job. Raises
    ParameterError with the reason."""
    if given is None:
        return {}
    if not isinstance(given, dict):
        raise ParameterError("params must be an object of name: value")
    declared = {p.name: p for p in parameters}
    values = {}
    for name, value in given.items():
        param = declared.get(name)
        if param is None:
            names = ", ".join(declared) if declared else "none"
            raise ParameterError(f"unknown parameter {str(name)[:100]!r} (the pipeline declares: {names})")
        if param.type == BOOLEAN:
            if not isinstance(value, bool):
                raise ParameterError(f"parameter {name} is a boolean: give true or false, not {_shown(value)}")
        elif not isinstance(value, str):
            raise ParameterError(f"parameter {name} is a {param.type}: give a string, not {_shown(value)}")
        elif param.type == CHOICE and value not in param.choices:
            raise ParameterError(f"parameter {name} must be one of {', '.join(param.choices)}, not {_shown(value)}")
        elif len(value) > MAX_VALUE:
            raise ParameterError(f"parameter {name} is longer than {MAX_VALUE} characters")
        elif "\0" in value:
            raise ParameterError(f"parameter {name} contains a NUL character")
        values[name] = value
    return values


def environment(parameters, given):
    """Every declared parameter as an environment variable: the value asked
    for, else the default."""
    values = {p.name: p.default for p in parameters}
    values.update(validate(parameters, given))
    return {name: ("true" if v else "false") if isinstance(v, bool) else str(v) for name, v in values.items()}


def _shown(value):
    if isinstance(value, str):
        return repr(value[:100])
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return "a list" if isinstance(value, list) else "an object"
