"""Checking a pipeline without building it: `manage.py lint` and
`POST /api/lint`.

Both go through the very functions a build uses (builds/pipeline.py), so
they give exactly the message a build's `errored` reason would — the first
problem, with the file, the line and the key — and nothing a build would
not refuse.

One thing a build knows and a lint does not: the repository's secret
names. Given them (`--secrets A,B`, `"secrets": ["A", "B"]`) a step naming
another secret is refused as a build refuses it; without them the names
are only checked to be names, and the answer lists them as unchecked.
"""

from dataclasses import dataclass

from builds.errors import PipelineError
from builds.pipeline import load_file, load_pipeline, parse_herald, parse_yaml

FILENAME = ".herald.yml"


@dataclass
class Result:
    pipeline: object = None
    error: PipelineError = None
    secrets_checked: bool = False

    @property
    def valid(self):
        return self.error is None

    def as_json(self):
        if not self.valid:
            return {"valid": False, "errors": [{"line": self.error.line, "message": str(self.error)}]}
        return {"valid": True, "pipeline": summary(self.pipeline), "secrets_checked": self.secrets_checked}


def lint_text(raw, known_secrets=None, filename=FILENAME):
    """`raw` (bytes, at most MAX_FILE_BYTES: the caller checked) read as a
    build reads `.herald.yml`."""
    return _lint(lambda: parse_herald(parse_yaml(raw, filename), filename, known_secrets), known_secrets)


def lint_path(path, known_secrets=None):
    """A directory is read as a build reads its checkout (every format, in
    the same order); a file as a `.herald.yml`, named by its base name. A
    link given here is the user's own to follow: it is read at its target
    (a build, too, reads a `.herald.yml` link's target inside the checkout)."""
    if path.is_dir():
        return _lint(lambda: load_pipeline(path, known_secrets), known_secrets)
    return _lint(lambda: load_file(path.resolve(), known_secrets, name=path.name), known_secrets)


def _lint(parse, known_secrets):
    try:
        return Result(pipeline=parse(), secrets_checked=known_secrets is not None)
    except PipelineError as e:
        return Result(error=e)


def summary(pipeline):
    """What the file makes: its steps, jobs and what each needs."""
    combinations = pipeline.matrix_combinations()
    return {
        "source": pipeline.source,
        "steps": [
            {
                "name": s.name,
                "image": s.image,
                "commands": s.commands,
                "build": s.build,
                "secrets": s.secrets,
                "when": _when(s.when),
                "always": s.always,
            }
            for s in pipeline.steps
        ],
        "services": [{"name": s.name, "image": s.image} for s in pipeline.services],
        "matrix": pipeline.matrix,
        "combinations": combinations,
        "jobs": len(combinations),
        "parameters": [{"name": p.name, "type": p.type, "default": p.default} for p in pipeline.parameters],
        "timeout": pipeline.timeout,
        "runs_on": pipeline.runs_on,
        "paths": pipeline.paths,
        "ignore_paths": pipeline.ignore_paths,
        "artifacts": {"paths": pipeline.artifacts.paths, "when": pipeline.artifacts.when}
        if pipeline.artifacts
        else None,
        "secrets": sorted({name for s in pipeline.steps for name in s.secrets}),
    }


def _when(when):
    if when is None:
        return None
    return {k: v for k, v in vars(when).items() if v}


def describe(result):
    """The summary as lines of text, for the command line."""
    data = summary(result.pipeline)
    jobs = data["jobs"]
    lines = [f"{data['source']}: valid — {_count(len(data['steps']), 'step')}, {_count(jobs, 'job')}"]
    for combo in data["combinations"] if jobs > 1 else []:
        lines.append("  job: " + ", ".join(f"{k}={v}" for k, v in combo.items()))
    for step in data["steps"]:
        what = f"docker build {step['build']['context']}" if step["build"] else step["image"]
        extra = []
        if step["when"]:
            extra.append("when " + "; ".join(f"{k}: {', '.join(v)}" for k, v in step["when"].items()))
        if step["always"]:
            extra.append("always")
        if step["secrets"]:
            extra.append("secrets " + ", ".join(step["secrets"]))
        lines.append(f"  step {step['name']} ({what})" + (f": {'; '.join(extra)}" if extra else ""))
    for service in data["services"]:
        lines.append(f"  service {service['name']} ({service['image']})")
    if data["secrets"] and not result.secrets_checked:
        lines.append(
            f"  secrets not checked: {', '.join(data['secrets'])} (pass --secrets with the repository's "
            "secret names to check them as a build does)"
        )
    return lines


def _count(n, noun):
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
