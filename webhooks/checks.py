"""What the receiver refuses at the door, whoever sent the request: text no
database can store (NUL characters — PostgreSQL refuses them —, lone
surrogates that are not UTF-8 at all), refs git would refuse, values longer
than the columns they go to. Each is a 400 with a reason instead of a 500
from the database; and the delivery record itself is made storable, so the
refusal is always recorded.
"""

import re

from builds.models import Job
from builds.refs import ref_problem
from repositories.models import Repository

REPOSITORY_NAME_LENGTH = Repository._meta.get_field("full_name").max_length
_COLUMN_LENGTHS = {f.name: f.max_length for f in Job._meta.concrete_fields if f.max_length}
# create_job cuts the author to its column: a long display name is no error.
_CUT_TO_FIT = {"author"}
# The job fields that name a ref, and what turns them into a full ref.
_REF_PREFIX = {
    "ref": "",
    "branch": "refs/heads/",
    "tag": "refs/tags/",
    "source_branch": "refs/heads/",
    "target_branch": "refs/heads/",
}
_LARGEST_PR_NUMBER = 2**31 - 1  # a PositiveIntegerField on PostgreSQL
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def text_problem(value):
    """What makes `value` unstorable as text, or ""."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8 text (it contains a lone surrogate)"
    return ""


def repository_name_problem(name):
    problem = text_problem(name)
    if not problem and len(name) > REPOSITORY_NAME_LENGTH:
        problem = f"is longer than {REPOSITORY_NAME_LENGTH} characters"
    return f"payload repository name {problem}" if problem else ""


def build_problem(build):
    """Why the job a BuildRequest describes cannot be stored or fetched, or ""."""
    for name, value in build.job_fields().items():
        if isinstance(value, str) and value:
            if name in _REF_PREFIX:
                why = ref_problem(_REF_PREFIX[name] + value)
                if not why and name != "ref" and value.startswith("-"):
                    # git check-ref-format --branch refuses these; git would
                    # read one as an option.
                    why = 'it begins with "-"'
                if why:
                    return f"payload {name} {shown(value)} is not a valid git ref: {why}"
                continue
            problem = text_problem(value)
            if not problem and name not in _CUT_TO_FIT and len(value) > _COLUMN_LENGTHS.get(name, len(value)):
                problem = f"is longer than {_COLUMN_LENGTHS[name]} characters"
            if problem:
                return f"payload {name} {problem}"
        elif name == "pr_number" and value is not None and not 0 < value <= _LARGEST_PR_NUMBER:
            return f"payload pull request number {value} is out of range"
    return ""


def shown(value, limit=60):
    """A payload value quoted for a one-line reason (repr escapes newlines
    and control characters)."""
    return repr(value[:limit]) + ("…" if len(value) > limit else "")


def storable(text):
    """`text` as the database can store it: NULs and lone surrogates shown
    escaped, the rest unchanged. Cheap for the usual ASCII string."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def one_line(text):
    """A reason as a storable single line (some quote the payload)."""
    return _CONTROL.sub(" ", storable(text)).strip()
