"""Reading a repository's build definition into a Pipeline.

Looked for, in order: `.herald.yml` (or `.herald.yaml`), `hermes.yaml` /
`Hermes.yaml` with `schema: docker`, `.microci.json`, and finally a root
`Dockerfile`. Errors name the file, the line and the key, never a traceback.

The file comes from a pushed commit, so it is hostile until parsed: it is
opened only if it is (or links to) a regular file inside the checkout, its
size is checked on the open descriptor before a byte is read, and YAML
aliases may not expand it past MAX_EXPANDED_BYTES (counted on the composed
node graph, before any Python object is built).
"""

import fnmatch
import json
import os
import re
import shlex
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from builds import artifacts as artifacts_spec
from builds import constants as C
from builds import labels
from builds import parameters as params
from builds.errors import PipelineError
from builds.paths import parse as parse_paths
from builds.reports import parse as parse_reports

HERALD_FILES = (".herald.yml", ".herald.yaml")
HERMES_FILES = ("hermes.yaml", "Hermes.yaml", "hermes.yml", "Hermes.yml")
MAX_FILE_BYTES = 512 * 1024
# What the document holds once every alias is replaced by its anchor's
# content (scalar characters, plus one per node). A file without aliases
# stays about its own size, so 4x the largest file leaves `<<: *defaults`
# all the room it needs, while "billion laughs" stops at 2 MiB instead of
# filling the worker's memory.
MAX_EXPANDED_BYTES = 4 * MAX_FILE_BYTES
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
# A service is reached by its name as a host name on the job's network: a
# single DNS label, so it cannot pose as github.com or pypi.org.
SERVICE_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DURATION_RE = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")


@dataclass
class When:
    branch: list = field(default_factory=list)
    event: list = field(default_factory=list)
    tag: list = field(default_factory=list)
    # Globs of changed files (builds/paths.py), checked apart from the rest:
    # the runner says which of the two left a step out.
    path: list = field(default_factory=list)

    def matches(self, job):
        if self.event and job.event not in self.event:
            return False
        # As in Drone: a tag is not on a branch, so `branch:` does not apply
        # to tag events (`{branch: [main], event: [push, tag]}` means pushes
        # to main, and tags). A pull request matches on its target branch.
        if self.branch and job.event != "tag":
            branch = job.target_branch if job.event == "pull_request" else job.branch
            if not branch or not any(fnmatch.fnmatchcase(branch, p) for p in self.branch):
                return False
        if self.tag:
            if not job.tag or not any(fnmatch.fnmatchcase(job.tag, p) for p in self.tag):
                return False
        return True


@dataclass
class Step:
    name: str
    image: str = ""
    commands: list = field(default_factory=list)
    build: dict = None  # {"dockerfile": ..., "context": ...}
    secrets: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    when: When = None
    always: bool = False


@dataclass
class Service:
    name: str
    image: str
    env: dict = field(default_factory=dict)
    command: list = None


@dataclass
class Pipeline:
    source: str
    steps: list
    services: list = field(default_factory=list)
    env: dict = field(default_factory=dict)
    matrix: dict = field(default_factory=dict)
    timeout: int = None  # seconds
    parameters: list = field(default_factory=list)  # builds.parameters.Parameter
    # Globs of changed files that decide whether the build runs (builds/paths.py).
    paths: list = field(default_factory=list)
    ignore_paths: list = field(default_factory=list)
    # Worker labels a job needs (builds.labels); ${NAME} stands for a matrix value.
    runs_on: list = field(default_factory=list)
    # Globs of the JUnit XML files read after the steps (builds/reports.py).
    reports: list = field(default_factory=list)
    # The files kept with the job, and when (builds/artifacts.py); None when absent.
    artifacts: object = None

    def filters_paths(self):
        """Whether anything here depends on the files a push changed."""
        return bool(self.paths or self.ignore_paths or any(s.when and s.when.path for s in self.steps))

    def matrix_combinations(self):
        combos = [{}]
        for key, values in self.matrix.items():
            combos = [{**c, key: v} for c in combos for v in values]
        return combos

    def for_combination(self, values):
        """The pipeline with ${NAME} in image names replaced by the matrix
        values (the parser already checked every name is a matrix key)."""

        def sub(image):
            return substitute(image, values) if image else image

        steps = [replace(s, image=sub(s.image)) for s in self.steps]
        services = [replace(s, image=sub(s.image)) for s in self.services]
        runs_on = sorted({substitute(label, values) for label in self.runs_on})
        return replace(self, steps=steps, services=services, runs_on=runs_on)


VAR_RE = re.compile(r"\$\{([^}]*)\}")


def substitute(text, values):
    return VAR_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)


def parse_duration(value):
    """'30s', '20m', '1h' or a bare number of minutes → seconds."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value * 60 if value > 0 else None
    m = DURATION_RE.match(str(value))
    if not m or int(m.group(1)) <= 0:
        return None
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, None: 60}[m.group(2)]


# --- YAML with line numbers ---------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key, and refuses
    a document whose aliases expand it past MAX_EXPANDED_BYTES.

    The size of every composed node is kept with its anchors expanded, so an
    alias costs its anchor's full size in O(1): the check is linear in the
    file, whatever the expansion, and it fails while composing, before the
    constructor builds anything.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self.sizes = {}  # node → its size with aliases expanded
        self.expanded = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        node = super().compose_node(parent, index)
        if isinstance(event, yaml.AliasEvent):
            size = self.sizes.get(node)
            if size is None:
                # The anchor is still being composed: `&a [*a]`.
                raise _Problem(
                    event.start_mark.line + 1, "", f"alias *{event.anchor} refers to a node that contains it"
                )
            self._grow(size, event)
            return node
        if isinstance(node, yaml.ScalarNode):
            size = 1 + len(node.value)
            self._grow(size, event)
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
            size = 1 + sum(self.sizes[child] for child in children)
            self._grow(1, event)
        self.sizes[node] = size
        return node

    def _grow(self, size, event):
        self.expanded += size
        if self.expanded > MAX_EXPANDED_BYTES:
            at = f"alias *{event.anchor}: " if isinstance(event, yaml.AliasEvent) else ""
            raise _Problem(
                event.start_mark.line + 1,
                "",
                f"{at}the document grows past {MAX_EXPANDED_BYTES // 2**20} MiB once its aliases "
                "are expanded (each *alias repeats the whole of its &anchor)",
            )


def _construct_mapping(loader, node, deep=False):
    # flatten_mapping puts the pairs of `<<: *defaults` first and the
    # mapping's own pairs last; an own key overriding a merged one is what
    # merge keys are for, two own keys with one name is a mistake.
    own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    first_own = len(node.value) - own
    mapping = _LinedDict()
    own_keys = set()
    for i, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise _Problem(key_node.start_mark.line + 1, "", "a key must be a plain word")
        if i >= first_own:
            if key in own_keys:
                # YAML itself lets the last one win silently; a pipeline author
                # almost always meant something else.
                raise _Problem(key_node.start_mark.line + 1, key, "appears twice in the same mapping")
            own_keys.add(key)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.ScalarNode):
            mapping.raw[key] = value_node.value
            if value_node.style is None and (
                key_node.start_mark.line < value_node.start_mark.line < value_node.end_mark.line
            ):
                # `commands:` then lines without their '- ': YAML folds them
                # into one string, which would run as one command.
                mapping.folded[key] = (value_node.start_mark.line + 1, value_node.end_mark.line + 1)
    mapping.line = node.start_mark.line + 1
    return mapping


class _Problem(Exception):
    def __init__(self, line, key, message):
        super().__init__(message)
        self.line, self.key, self.message = line, key, message


class _LinedDict(dict):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.lines = {}
        self.raw = {}  # scalars as written: `3.10` must not become "3.1"
        self.folded = {}  # key → (first, last line) of a plain scalar spread over lines under it
        self.line = None


class _LinedList(list):
    line = None


def _construct_sequence(loader, node, deep=False):
    seq = _LinedList(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.lines = [child.start_mark.line + 1 for child in node.value]
    seq.raw = [child.value if isinstance(child, yaml.ScalarNode) else None for child in node.value]
    return seq


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


class _Checker:
    def __init__(self, filename):
        self.filename = filename

    def fail(self, line, key, message):
        where = f"{self.filename}, line {line}" if line else self.filename
        raise PipelineError(f"{where}, {key}: {message}" if key else f"{where}: {message}", line=line)

    def line_of(self, mapping, key):
        return getattr(mapping, "lines", {}).get(key) or getattr(mapping, "line", None)

    def keys(self, mapping, allowed, where):
        for key in mapping:
            if key not in allowed:
                hint = ", ".join(sorted(allowed))
                self.fail(self.line_of(mapping, key), f"{where}{key}", f"unknown key (allowed: {hint})")

    def string(self, mapping, key, where, required=False):
        if key not in mapping:
            if required:
                self.fail(getattr(mapping, "line", None), f"{where}{key}", "is required")
            return ""
        value = mapping[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)) or str(value).strip() == "":
            self.fail(self.line_of(mapping, key), f"{where}{key}", "must be a non-empty string")
        return str(value)

    def string_list(self, mapping, key, where, allow_scalar=True):
        if key not in mapping:
            return []
        value = mapping[key]
        noun = "command" if key in ("commands", "command") else "item"
        # Scalars are taken as written: `commands: [true]` runs `true`, and
        # `[3.10]` stays "3.10".
        if allow_scalar and isinstance(value, (str, int, float)) and value is not None:
            if key in getattr(mapping, "folded", {}):
                first, last = mapping.folded[key]
                self.fail(
                    first,
                    f"{where}{key}",
                    f"lines {first}-{last} read as one {noun}, {_short(value)}, because they have no '- ': "
                    f"start each {noun} with '- ' (or quote a long {noun} on one line)",
                )
            return [_as_written(value, getattr(mapping, "raw", {}).get(key))]
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict) and len(item) == 1:
                    # `- echo a: b` is YAML for {"echo a": "b"}.
                    (k, v), raw = next(iter(item.items())), getattr(item, "raw", {})
                    text = f"{k}: {raw.get(k, v)}" if isinstance(v, (str, int, float)) else None
                    self.fail(
                        value.lines[i] if hasattr(value, "lines") else self.line_of(mapping, key),
                        f"{where}{key}[{i}]",
                        f"this {noun} reads as a mapping because of ': ' — quote it"
                        + (f": - {json.dumps(text, ensure_ascii=False)}" if text else ""),
                    )
        if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
            self.fail(self.line_of(mapping, key), f"{where}{key}", "must be a list of strings")
        raw = getattr(value, "raw", [None] * len(value))
        return [_as_written(v, r) for v, r in zip(value, raw)]

    def env(self, mapping, key, where):
        if key not in mapping:
            return {}
        value = mapping[key]
        if not isinstance(value, dict):
            self.fail(self.line_of(mapping, key), f"{where}{key}", "must be a mapping of NAME: value")
        out = {}
        for name, v in value.items():
            if not isinstance(name, str) or not ENV_NAME_RE.match(name):
                self.fail(self.line_of(value, name), f"{where}{key}.{name}", "is not a valid variable name")
            if isinstance(v, (dict, list)) or v is None:
                self.fail(self.line_of(value, name), f"{where}{key}.{name}", "must be a string or number")
            out[name] = (
                "true"
                if v is True
                else "false"
                if v is False
                else _as_written(v, value.raw.get(name) if hasattr(value, "raw") else None)
            )
        return out

    def mapping(self, value, line, key):
        if not isinstance(value, dict):
            self.fail(line, key, "must be a mapping")
        return value


def _short(value):
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _as_written(value, raw):
    """A number keeps the spelling it has in the file (3.10, 010, 1e3)."""
    if isinstance(value, (int, float)) and raw is not None:
        return raw
    return str(value)


def _load_yaml(path, filename):
    return parse_yaml(_read_limited(path, filename), filename)


def parse_yaml(raw, filename):
    """The document in `raw` (at most MAX_FILE_BYTES, read by the caller),
    aliases bounded; PipelineError with the line on failure."""
    try:
        data = yaml.load(raw.decode("utf-8", errors="replace"), Loader=_Loader)  # noqa: S506 (SafeLoader subclass)
    except yaml.MarkedYAMLError as e:
        line, message = _yaml_problem(e)
        where = f", line {line}" if line else ""
        raise PipelineError(f"{filename}{where}: invalid YAML: {message}", line=line) from None
    except yaml.YAMLError as e:
        raise PipelineError(f"{filename}: invalid YAML: {e}") from None
    except _Problem as e:
        _Checker(filename).fail(e.line, e.key, e.message)
    except RecursionError:
        raise PipelineError(f"{filename}: nested too deeply") from None
    return data


def _yaml_problem(e):
    """(line, message) for PyYAML's error: the common traps said in words
    and at the line of the item, not of its parent key."""
    mark = e.problem_mark or e.context_mark
    problem = e.problem or e.context
    if mark is None:
        return None, problem
    line = mark.line + 1
    text = _line_text(mark)
    if "'\\t'" in (e.problem or ""):
        before = text[: mark.column]
        if not before.strip():
            return line, "a tab indents this line; YAML needs spaces"
        return line, "a tab separates words on this line; YAML needs spaces there (or quote the value)"
    if e.problem == "could not find expected ':'" and e.context_mark:
        # A line with neither "key:" nor "- ": PyYAML notices only at the
        # next line, or at the end of the file.
        line = e.context_mark.line + 1
        if _sibling_is_item(e.context_mark):
            return line, "this line is not a list item like the ones above it: start it with '- '"
        return line, "this line is neither a key (name: value) nor a list item (- value)"
    if e.problem and e.problem.startswith("expected <block end>, but found") and e.context_mark:
        began = e.context_mark.line + 1
        if e.context == "while parsing a block collection":
            return line, f"the list that begins on line {began} goes on here without '- ': start each item with '- '"
        if e.context == "while parsing a block mapping" and text.lstrip().startswith("-"):
            return line, (
                f"a list item inside the mapping that begins on line {began}: a list and keys cannot share "
                "an indentation (is a '- ' missing above, or is this line indented too little?)"
            )
    if e.problem == "mapping values are not allowed here" and ": " in text[: mark.column]:
        return line, "': ' appears twice on this line: quote a value that contains ': ' (key: \"a: b\")"
    return line, problem


def _line_text(mark):
    buffer = mark.buffer
    if not buffer:
        return ""
    start = buffer.rfind("\n", 0, mark.pointer) + 1
    end = buffer.find("\n", mark.pointer)
    return buffer[start : end if end >= 0 else len(buffer)].rstrip("\0")


def _sibling_is_item(mark):
    """Whether the nearest line above `mark`'s, at its indentation, is a list item."""
    lines = (mark.buffer or "")[: mark.pointer].split("\n")[:-1]
    indent = mark.column
    for above in reversed(lines):
        stripped = above.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if len(above) - len(stripped) == indent:
            return stripped.startswith("- ") or stripped == "-"
        if len(above) - len(stripped) < indent:
            return False
    return False


TOP_KEYS = {"image", "commands", "env", "services", "matrix", "steps", "timeout", "parameters", "runs_on"}
# The whole build's path filters (builds/paths.py).
TOP_KEYS |= {"paths", "ignore_paths"}
TOP_KEYS |= {"reports"}  # test reports (builds/reports.py)
TOP_KEYS |= {"artifacts"}  # build artifacts (builds/artifacts.py)
STEP_KEYS = {"name", "image", "commands", "build", "secrets", "env", "when", "always"}
SERVICE_KEYS = {"image", "env", "command"}
WHEN_KEYS = {"branch", "event", "tag", "path"}
EVENTS = {event for event, _ in C.EVENT_CHOICES}


def parse_herald(data, filename, known_secrets=None):
    c = _Checker(filename)
    if data is None:
        c.fail(None, None, "the file is empty")
    if not isinstance(data, dict):
        c.fail(1, None, "must be a mapping of keys (image:, steps:, …)")
    c.keys(data, TOP_KEYS, "")
    image = c.string(data, "image", "")
    env = c.env(data, "env", "")
    timeout = None
    if "timeout" in data:
        timeout = parse_duration(data["timeout"])
        if not timeout:
            c.fail(c.line_of(data, "timeout"), "timeout", "must be a duration like 30s, 20m or 1h")

    matrix = {}
    if "matrix" in data:
        mx = data["matrix"]
        if not isinstance(mx, dict) or not mx:
            c.fail(c.line_of(data, "matrix"), "matrix", "must be a mapping of NAME: [values]")
        for name in mx:
            if not isinstance(name, str) or not ENV_NAME_RE.match(name):
                c.fail(c.line_of(mx, name), f"matrix.{name}", "is not a valid variable name")
            matrix[name] = c.string_list(mx, name, "matrix.")
            if not matrix[name]:
                c.fail(c.line_of(mx, name), f"matrix.{name}", "must list at least one value")
        combos = 1
        for values in matrix.values():
            combos *= len(values)
        if combos > 64:
            c.fail(c.line_of(data, "matrix"), "matrix", f"expands to {combos} jobs; the limit is 64")

    parameters = params.parse(c, data, ENV_NAME_RE, matrix)
    build_paths = parse_paths(c, data, "paths", "")
    ignore_paths = parse_paths(c, data, "ignore_paths", "")
    reports = parse_reports(c, data)
    artifacts = artifacts_spec.parse(c, data)

    def check_vars(value, line, key):
        for name in VAR_RE.findall(value):
            if name not in matrix:
                known = f"matrix: {', '.join(matrix)}" if matrix else "there is no matrix:"
                c.fail(line, key, f"${{{name}}} is not a matrix variable ({known})")

    check_vars(image, c.line_of(data, "image"), "image")
    runs_on = _runs_on(c, data, matrix, check_vars)

    services = []
    if "services" in data:
        svc = data["services"]
        if not isinstance(svc, dict):
            c.fail(c.line_of(data, "services"), "services", "must be a mapping of name: {image: …}")
        for name, spec in svc.items():
            where = f"services.{name}"
            if not isinstance(name, str) or not SERVICE_NAME_RE.match(name):
                c.fail(
                    c.line_of(svc, name),
                    where,
                    "a service name is the host name steps reach it by: lower-case letters, digits and '-' "
                    "(at most 63, not starting or ending with '-'), no dots, so it cannot stand for a real host",
                )
            if not isinstance(spec, dict):
                c.fail(c.line_of(svc, name), where, "must be a mapping with image:")
            c.keys(spec, SERVICE_KEYS, where + ".")
            command = None
            if "command" in spec:
                if isinstance(spec["command"], str):
                    try:
                        command = shlex.split(spec["command"])
                    except ValueError as e:
                        c.fail(c.line_of(spec, "command"), where + ".command", f"cannot be split into words: {e}")
                else:
                    command = c.string_list(spec, "command", where + ".")
                if not command:
                    c.fail(c.line_of(spec, "command"), where + ".command", "must not be empty")
            svc_image = c.string(spec, "image", where + ".", required=True)
            check_vars(svc_image, c.line_of(spec, "image"), where + ".image")
            services.append(Service(name=name, image=svc_image, env=c.env(spec, "env", where + "."), command=command))

    steps = []
    if "steps" in data and "commands" in data:
        c.fail(c.line_of(data, "commands"), "commands", "use either steps: or the top-level commands:, not both")
    if "commands" in data:
        if not image:
            c.fail(c.line_of(data, "commands"), "image", "is required with commands:")
        commands = c.string_list(data, "commands", "")
        if not commands:
            c.fail(c.line_of(data, "commands"), "commands", "must list at least one command")
        steps.append(Step(name="build", image=image, commands=commands))
    elif "steps" in data:
        raw_steps = data["steps"]
        if isinstance(raw_steps, dict) and raw_steps:
            # `steps:` then `name: test` without the '- ': one mapping, not a list.
            c.fail(
                raw_steps.line,
                "steps",
                "is a mapping here, but steps are a list: start each step with '- ' (- name: …)",
            )
        if not isinstance(raw_steps, list) or not raw_steps:
            c.fail(c.line_of(data, "steps"), "steps", "must be a non-empty list of steps")
        seen = set()
        for i, raw in enumerate(raw_steps):
            line = raw_steps.lines[i] if hasattr(raw_steps, "lines") else None
            where = f"steps[{i}]"
            if not isinstance(raw, dict):
                c.fail(line, where, "must be a mapping (name:, commands:, …)")
            c.keys(raw, STEP_KEYS, where + ".")
            name = c.string(raw, "name", where + ".") or f"step-{i + 1}"
            if not NAME_RE.match(name):
                c.fail(c.line_of(raw, "name"), where + ".name", "letters, digits, '.', '_' and '-' only")
            if name in seen:
                c.fail(c.line_of(raw, "name"), where + ".name", f"{name!r} is used by an earlier step")
            seen.add(name)
            step_image = c.string(raw, "image", where + ".")
            check_vars(step_image, c.line_of(raw, "image"), where + ".image")
            step = Step(
                name=name,
                image=step_image or image,
                env=c.env(raw, "env", where + "."),
                secrets=c.string_list(raw, "secrets", where + "."),
            )
            for s in step.secrets:
                if not ENV_NAME_RE.match(s):
                    c.fail(c.line_of(raw, "secrets"), where + ".secrets", f"{s!r} is not a valid secret name")
                if known_secrets is not None and s not in known_secrets:
                    c.fail(
                        c.line_of(raw, "secrets"),
                        where + ".secrets",
                        f"unknown secret {s!r}; add it in the repository's settings",
                    )
            if "always" in raw:
                if not isinstance(raw["always"], bool):
                    c.fail(c.line_of(raw, "always"), where + ".always", "must be true or false")
                step.always = raw["always"]
            if "when" in raw:
                w = c.mapping(raw["when"], c.line_of(raw, "when"), where + ".when")
                c.keys(w, WHEN_KEYS, where + ".when.")
                step.when = When(
                    branch=c.string_list(w, "branch", where + ".when."),
                    event=c.string_list(w, "event", where + ".when."),
                    tag=c.string_list(w, "tag", where + ".when."),
                    path=parse_paths(c, w, "path", where + ".when."),
                )
                for ev in step.when.event:
                    if ev not in EVENTS:
                        c.fail(
                            c.line_of(w, "event"),
                            where + ".when.event",
                            f"unknown event {ev!r} (one of {', '.join(sorted(EVENTS))})",
                        )
            if "build" in raw:
                b = raw["build"]
                if isinstance(b, str):
                    b = {"dockerfile": b}
                b = c.mapping(b, c.line_of(raw, "build"), where + ".build")
                c.keys(b, {"dockerfile", "context"}, where + ".build.")
                step.build = {
                    "dockerfile": c.string(b, "dockerfile", where + ".build.") or "Dockerfile",
                    "context": c.string(b, "context", where + ".build.") or ".",
                }
                for k in ("dockerfile", "context"):
                    _check_relative(c, step.build[k], c.line_of(b, k), f"{where}.build.{k}")
                for key in ("commands", "secrets", "env"):
                    if key in raw:
                        c.fail(
                            c.line_of(raw, key),
                            f"{where}.{key}",
                            f"a build step has no {key} (the Dockerfile says what it runs)",
                        )
            else:
                step.commands = c.string_list(raw, "commands", where + ".")
                if not step.commands:
                    c.fail(getattr(raw, "line", line), where + ".commands", "is required (or build:)")
                if not step.image:
                    c.fail(getattr(raw, "line", line), where + ".image", "is required (here or at the top level)")
            steps.append(step)
    else:
        c.fail(1, "steps", "the file has no steps: (or image: with commands:)")
    return Pipeline(
        source=filename,
        steps=steps,
        services=services,
        env=env,
        matrix=matrix,
        timeout=timeout,
        parameters=parameters,
        paths=build_paths,
        ignore_paths=ignore_paths,
        runs_on=runs_on,
        reports=reports,
        artifacts=artifacts,
    )


def _runs_on(c, data, matrix, check_vars):
    """runs_on: a label or a list of them, each possibly naming matrix
    values (`arch:${ARCH}`): checked for every combination, so a job never
    learns at run time that its labels are not labels."""
    if "runs_on" not in data:
        return []
    line = c.line_of(data, "runs_on")
    value = data["runs_on"]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        c.fail(line, "runs_on", "must be a worker label or a list of them, like [gpu] or [gpu, big]")
    if len(value) > labels.MAX_LABELS:
        c.fail(line, "runs_on", f"lists {len(value)} labels; the limit is {labels.MAX_LABELS}")
    combos = [{}]
    for key, values in matrix.items():
        combos = [{**combo, key: v} for combo in combos for v in values]
    for label in value:
        check_vars(label, line, "runs_on")
        for combo in combos:
            problem = labels.label_problem(substitute(label, combo))
            if problem:
                where = f" (with {', '.join(f'{k}={v}' for k, v in combo.items())})" if VAR_RE.search(label) else ""
                c.fail(line, "runs_on", problem + where)
    return list(value)


def _check_relative(c, value, line, key):
    """Refuses early, on the text alone, what can never be inside the
    checkout. Where the path leads (symlinks followed) is checked again when
    the build runs (builds/docker/build_context.py)."""
    p = Path(value)
    if "\0" in value:
        c.fail(line, key, "must not contain a NUL character")
    if p.is_absolute():
        c.fail(line, key, f"must be a path inside the repository, relative to its root (not {value!r})")
    if ".." in p.parts:
        c.fail(line, key, f"must be a path inside the repository, without '..' (not {value!r})")


def dockerfile_pipeline(source):
    return Pipeline(
        source=source, steps=[Step(name="docker-build", build={"dockerfile": "Dockerfile", "context": "."})]
    )


def _find(root, name):
    """`name` in the checkout, as a path Herald may read, or None when there
    is no such name. A symlink is followed only to a regular file inside the
    checkout: anything else there is an error, not a reason to look further,
    so a link to /dev/zero or to the worker's files never gets read and
    never silently switches to another build definition."""
    path = root / name
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(info.st_mode):
        try:
            target = Path(os.path.realpath(path, strict=True))
        except OSError:
            raise PipelineError(f"{name} is a symbolic link that leads nowhere (a missing file or a loop)") from None
        if not target.is_relative_to(Path(os.path.realpath(root))):
            raise PipelineError(
                f"{name} is a symbolic link that leads outside the repository: "
                "Herald reads only files inside the checkout"
            ) from None
        path, info = target, target.stat()
    if not stat.S_ISREG(info.st_mode):
        raise PipelineError(f"{name} is not a regular file: a build definition must be a file in the repository")
    return path


def _read_limited(path, name):
    # The descriptor is checked, not the name: O_NONBLOCK keeps a FIFO from
    # blocking the open, and the size comes from fstat, so a 200 MB file is
    # refused without reading it. read() stops one byte past the limit in
    # case the file grows in between.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PipelineError(f"{name} is not a regular file: a build definition must be a file in the repository")
        raw = f.read(MAX_FILE_BYTES + 1) if info.st_size <= MAX_FILE_BYTES else b""
        if info.st_size > MAX_FILE_BYTES or len(raw) > MAX_FILE_BYTES:
            size = max(info.st_size, len(raw))
            raise PipelineError(too_big(name, size))
    return raw


def too_big(name, size):
    return f"{name}: the file is {_size(size)}; the limit is {MAX_FILE_BYTES // 1024} KiB"


def _size(n):
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.0f} KiB"


def load_file(path, known_secrets=None, name=None):
    """One file read as a build reads `.herald.yml`, whatever its name
    (`manage.py lint FILE`); the messages call it `name` (its base name)."""
    name = name or Path(path).name
    return parse_herald(_load_yaml(path, name), name, known_secrets)


def load_pipeline(workspace, known_secrets=None):
    root = Path(workspace)

    for name in HERALD_FILES:
        if path := _find(root, name):
            return parse_herald(_load_yaml(path, name), name, known_secrets)
    for name in HERMES_FILES:
        if path := _find(root, name):
            data = _load_yaml(path, name)
            c = _Checker(name)
            if not isinstance(data, dict) or data.get("schema") != "docker":
                c.fail(getattr(data, "line", 1), "schema", "only `schema: docker` is supported")
            if not _find(root, "Dockerfile"):
                c.fail(None, None, "`schema: docker` builds the root Dockerfile, and there is none")
            return dockerfile_pipeline(name)
    if path := _find(root, ".microci.json"):
        try:
            data = json.loads(_read_limited(path, ".microci.json").decode("utf-8", errors="replace"))
        except json.JSONDecodeError as e:
            raise PipelineError(f".microci.json, line {e.lineno}: invalid JSON: {e.msg}") from None
        except RecursionError:
            raise PipelineError(".microci.json: nested too deeply") from None
        if not isinstance(data, dict):
            raise PipelineError(".microci.json: must be an object with image and command")
        unknown = set(data) - {"image", "command"}
        if unknown:
            raise PipelineError(f".microci.json, {sorted(unknown)[0]}: unknown key (allowed: command, image)")
        image, command = data.get("image"), data.get("command")
        if not isinstance(image, str) or not image.strip():
            raise PipelineError(".microci.json, image: must be a non-empty string")
        if isinstance(command, list) and command and all(isinstance(x, str) for x in command):
            commands = [shlex.join(command)]
        elif isinstance(command, str) and command.strip():
            commands = [command]
        else:
            raise PipelineError(".microci.json, command: must be a string or a list of strings")
        return Pipeline(source=".microci.json", steps=[Step(name="build", image=image, commands=commands)])
    if _find(root, "Dockerfile"):
        return dockerfile_pipeline("Dockerfile")
    raise PipelineError(
        "No build definition: add a .herald.yml (image: and commands:, or steps:) or a Dockerfile "
        "at the repository root."
    )
