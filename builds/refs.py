"""Git's rules for reference names (`git check-ref-format`), in Python.

The webhook receiver refuses a ref that breaks them before anything is
stored, and the worker checks again before handing one to `git fetch`;
both use this module so they never disagree. Running git itself for every
webhook would cost more than the rest of the request.

https://git-scm.com/docs/git-check-ref-format
"""

import re

# The longest ref Herald stores (Job.ref and the branch columns are 255).
MAX_REF_LENGTH = 255

# One named group per rule of the manual; the first that matches names the
# reason.
_BROKEN = re.compile(
    r"(?P<dot_start>(?:^|/)\.)"
    r"|(?P<lock>\.lock(?:/|$))"
    r"|(?P<dots>\.\.)"
    r"|(?P<control>[\x00-\x1f\x7f])"
    r"|(?P<char>[ ~^:?*\[\\])"
    r"|(?P<slash>^/|/$|//)"
    r"|(?P<dot_end>\.$)"
    r"|(?P<reflog>@\{)"
)
_REASONS = {
    "dot_start": 'a part of it begins with "."',
    "lock": 'a part of it ends with ".lock"',
    "dots": 'it contains ".."',
    "control": "it contains a control character",
    "slash": 'it begins or ends with "/" or contains "//"',
    "dot_end": 'it ends with "."',
    "reflog": 'it contains "@{"',
}


def ref_problem(ref):
    """Why git would refuse `ref` as a reference name (or Herald could not
    store it); "" when it is fine."""
    if not ref.isascii():
        try:
            ref.encode("utf-8")
        except UnicodeEncodeError:
            return "it is not valid UTF-8 text"
    if len(ref) > MAX_REF_LENGTH:
        return f"it is longer than {MAX_REF_LENGTH} characters"
    if ref == "@":
        return 'it is "@"'
    m = _BROKEN.search(ref)
    if m is None:
        return ""
    if m.lastgroup == "char":
        return "it contains a space" if m.group() == " " else f'it contains "{m.group()}"'
    return _REASONS[m.lastgroup]


def is_valid_ref(ref):
    return isinstance(ref, str) and not ref_problem(ref)
