"""Worker labels: what a worker machine offers, what a build needs.

A worker carries the labels of HERALD_WORKER_LABELS (`gpu,big`) and two it
finds itself, `arch:<machine>` (`arch:x86_64`, `arch:aarch64`) and
`os:<system>` (`os:linux`). A job needs the labels of its pipeline's
`runs_on:` and runs only on a worker that carries every one of them
(builds.claim.Labels, which also says why a job waits on them).

A job keeps what it needs in Job.runs_on as one canonical string — sorted,
comma-separated, "" for any worker — so the claim can pick the jobs a worker
may run with one `IN` on both databases (SQLite's JSON has no "contained
by"): it lists the few distinct values among the queued jobs and keeps those
this worker satisfies.

The pipeline lives in the repository, so when a job is created its labels
are a prediction: those of the repository's latest job of the same matrix
combination (builds.lifecycle). The worker that claims the job reads the
real `runs_on:`; when it lacks one of them it hands the job back to the
queue with the real labels recorded (Job.hand_back: not an attempt, not a
loss), and the next claim routes it right.

This module imports no models (only the lazy django.conf.settings):
ciproject.settings checks HERALD_WORKER_LABELS with it.
"""

import platform
import re

from django.conf import settings

# Letters, digits and `_ . : / + -`, as in `arch:x86_64` or `cuda:12.4`: no
# commas (the separator), no spaces, nothing a log or a page must escape.
LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/+-]{0,62}$")
MAX_LABELS = 16


def label_problem(label):
    """Why `label` cannot be a label, or ""."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        return (
            f"{str(label)[:70]!r} is not a label: letters, digits and _ . : / + - only "
            "(at most 63, starting with a letter or digit)"
        )
    return ""


def automatic():
    """The labels every worker finds itself."""
    return [f"arch:{platform.machine() or 'unknown'}", f"os:{platform.system().lower() or 'unknown'}"]


def worker_labels(configured=None):
    """This worker's labels, sorted: HERALD_WORKER_LABELS and the automatic ones."""
    if configured is None:
        configured = settings.HERALD_WORKER_LABELS
    return sorted({*configured, *automatic()})


def key(labels):
    """The canonical string of a set of labels (Job.runs_on)."""
    return ",".join(sorted(set(labels)))


def split(value):
    """Job.runs_on's string back into a sorted list."""
    return [label for label in (value or "").split(",") if label]


def fits(runs_on, labels):
    """Whether a worker carrying `labels` may run a job needing `runs_on` (a key)."""
    return set(split(runs_on)) <= set(labels)


def describe(labels):
    """`gpu`, `big and gpu`, `a, b and c`."""
    labels = sorted(labels)
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def the_labels(labels):
    """`the label gpu`, `the labels big and gpu`."""
    return f"the label{'s' if len(labels) > 1 else ''} {describe(labels)}"
