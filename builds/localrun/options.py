"""`manage.py exec`'s options, checked against the pipeline before anything
runs: a bad one is a UsageError (exit 2) saying what to give instead, as a
bad pipeline is (with `manage.py lint`'s message)."""

from pathlib import Path

from builds import parameters
from builds.pipeline import ENV_NAME_RE, parse_duration

# An invalid pipeline or option: nothing ran.
USAGE_EXIT = 2


class UsageError(Exception):
    pass


def pairs(values, option):
    """['NAME=value', …] → {NAME: value}; the last one given wins."""
    out = {}
    for item in values or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} expects NAME=value, not {item!r}")
        out[name.strip()] = value
    return out


def read_secrets_file(path):
    """NAME=value lines; blank lines and lines starting with # are skipped.
    The value is the rest of the line, as written (no quotes removed)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--secrets-file: cannot read {path}: {e}") from None
    out = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--secrets-file {path}, line {number}: expected NAME=value")
        out[name.strip()] = value
    return out


def secrets(given, secrets_file):
    """The secrets a run gets: --secrets-file's, then --secret's over them."""
    out = read_secrets_file(secrets_file) if secrets_file else {}
    out.update(pairs(given, "--secret"))
    for name in out:
        if not ENV_NAME_RE.match(name):
            raise UsageError(f"secret name {name!r} must be a variable name (letters, digits, '_')")
    return out


def timeout(value):
    """--timeout as `timeout:` in .herald.yml reads it: 30s, 20m, 1h, or minutes."""
    if value is None:
        return None
    seconds = parse_duration(value.strip())
    if seconds is None:
        raise UsageError(f"--timeout must be like 30s, 20m or 1h (a bare number: minutes), not {value!r}")
    return seconds


def combinations(pipeline, wanted):
    """The matrix combinations to run: every one, or those matching --matrix."""
    every = pipeline.matrix_combinations() if pipeline.matrix else [{}]
    if not wanted:
        return every
    wanted = pairs(wanted, "--matrix")
    for key in wanted:
        if key not in pipeline.matrix:
            keys = ", ".join(pipeline.matrix) or "none"
            raise UsageError(f"--matrix {key}: the pipeline has no such matrix key (it has: {keys})")
    chosen = [c for c in every if all(str(c[k]) == v for k, v in wanted.items())]
    if not chosen:
        listed = "; ".join(" ".join(f"{k}={v}" for k, v in c.items()) for c in every)
        raise UsageError(
            f"no matrix combination has {' '.join(f'{k}={v}' for k, v in wanted.items())} (it has: {listed})"
        )
    return chosen


def steps(pipeline, names):
    """--step names, each one of the pipeline's steps."""
    known = [s.name for s in pipeline.steps]
    for name in names or []:
        if name not in known:
            raise UsageError(f"--step {name}: the pipeline has no such step (it has: {', '.join(known)})")
    return set(names or [])


def params(pipeline, given):
    """--param values, checked as run-now checks them (builds.parameters);
    a boolean parameter takes true or false."""
    values = pairs(given, "--param")
    declared = {p.name: p for p in pipeline.parameters}
    for name, value in values.items():
        param = declared.get(name)
        if param is not None and param.type == parameters.BOOLEAN and value.lower() in ("true", "false"):
            values[name] = value.lower() == "true"
    try:
        return parameters.validate(pipeline.parameters, values)
    except parameters.ParameterError as e:
        raise UsageError(f"--param: {e}") from None
