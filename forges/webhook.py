"""What every forge adapter provides, and the normalized event they produce.

An adapter knows one forge's headers, signatures and payload shapes, and
nothing else; the shared flow in webhooks/views.py does the rest. Each forge
has its adapter in forges/<id>/webhook.py, named by its Forge (forges/<id>/).
Adapters read the request's headers (any case-insensitive mapping) and its
raw body, never a Django request: a replayed delivery goes through the same
code with its stored headers and body.
"""

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from django.utils.http import parse_header_parameters

from builds import constants as C
from builds.refs import ref_problem

ZERO_SHA = "0" * 40
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
# Longer names in a payload's file lists make the list unknown (PATH_MAX).
MAX_PATH_LENGTH = 4096
# Names a payload may give for another repository (a fork) before Herald
# builds a URL from them: owner/name, nothing that could climb out of the
# forge's base URL or smuggle a query.
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}){1,4}$")


class Rejected(Exception):
    """The request is bad; answered with `status` and recorded as rejected."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Ignored(Exception):
    """A valid request for something that does not build; answered 200."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class Ping(Ignored):
    """The forge's hook test."""


@dataclass
class BuildRequest:
    """One forge event, reduced to what a job needs."""

    event: str  # push, tag, pull_request
    commit: str
    ref: str = ""  # what the worker fetches (refs/heads/x, refs/tags/v1, refs/pull/7/head)
    branch: str = ""
    tag: str = ""
    message: str = ""
    author: str = ""
    pr_number: int = None
    pr_title: str = ""
    source_branch: str = ""
    target_branch: str = ""
    source_repo: str = ""
    from_fork: bool = False  # the head repository is not the base repository
    source_url: str = ""
    # Who opened the pull request, for the repository's approval policy: the
    # forge's user id (immutable; preferred) and login.
    author_id: str = ""
    author_login: str = ""
    # False when the payload names no full commit (a Gogs pull request):
    # the same-push window would then merge two different pushes.
    dedupe: bool = True
    # Path filters (builds/changes.py): a push's previous commit, "" when
    # there is none to compare with (a new branch, a force push, a tag), and
    # the files the payload lists as changed, None when it may not list them
    # all (then the worker compares `before` with the commit itself).
    before: str = ""
    changed_files: list = None

    TEXT_FIELDS = (
        "ref",
        "branch",
        "tag",
        "message",
        "author",
        "pr_title",
        "source_branch",
        "target_branch",
        "source_repo",
        "source_url",
        "author_login",
    )

    def __post_init__(self):
        # Payload text of another type (a number, an object) is dropped
        # rather than stored as its Python repr.
        for name in self.TEXT_FIELDS:
            if not isinstance(getattr(self, name), str):
                setattr(self, name, "")
        if isinstance(self.author_id, bool) or not isinstance(self.author_id, (int, str)):
            self.author_id = ""

    def job_fields(self):
        fields = {name: getattr(self, name) for name in C.EVENT_FIELDS + C.CHANGE_FIELDS}
        if self.event == C.PULL_REQUEST:
            fields.update({name: getattr(self, name) for name in C.PULL_REQUEST_FIELDS})
            fields.update(
                pr_title=self.pr_title[:500], author_id=str(self.author_id or ""), author_login=self.author_login
            )
        return fields


def hmac_hex(secret, body, digestmod=hashlib.sha256):
    return hmac.new(secret.encode(), body, digestmod).hexdigest()


def signature_matches(expected_hex, given):
    return hmac.compare_digest(expected_hex.encode(), (given or "").strip().lower().encode())


def require(payload, *path):
    """payload[path...] or Rejected(400) naming the missing field."""
    value = payload
    for key in path:
        if not isinstance(value, dict) or value.get(key) in (None, ""):
            raise Rejected(400, f"payload has no {'.'.join(path)}")
        value = value[key]
    return value


def get(payload, *path, default=""):
    value = payload
    for key in path:
        if not isinstance(value, dict):
            return default
        value = value.get(key)
        if value is None:
            return default
    return value


def parse_json(body):
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Rejected(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise Rejected(400, "body is not a JSON object")
    return payload


def content_type(headers):
    """The media type of Content-Type, lower-cased, without its parameters
    (what Django's request.content_type is)."""
    return parse_header_parameters(headers.get("Content-Type", ""))[0]


def parse_json_or_form(headers, body):
    """JSON, or the `payload=` form field forges send when the hook's
    content type is application/x-www-form-urlencoded."""
    ctype = content_type(headers)
    if ctype == "application/json":
        return parse_json(body)
    if ctype == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=20)
        except (UnicodeDecodeError, ValueError):
            raise Rejected(400, "form body could not be parsed") from None
        if "payload" not in form:
            raise Rejected(400, "form body has no payload field")
        return parse_json(form["payload"][0])
    raise Rejected(415, f"content type {ctype or '(none)'} is not supported; use application/json")


def previous_commit(before):
    """A push's `before`, when it names a commit to compare with ("" for the
    zero sha of a new branch, or anything that is not a full sha)."""
    if not isinstance(before, str) or before == ZERO_SHA or not SHA_RE.match(before.lower()):
        return ""
    return before.lower()


def changed_files(commits, complete):
    """The files a push's commits add, modify or remove, as its payload lists
    them (GitHub, Gitea, GitLab: `added`, `modified`, `removed` on each
    commit), or None — unknown, and the worker runs `git diff` — when the
    list may be incomplete: the forge caps the commits it lists and this push
    may have more (`complete` false), a commit has no lists, or the lists
    are longer than path filters look at. The names are the pusher's text:
    anything that is not storable text makes the whole list unknown."""
    if not complete or not isinstance(commits, list) or not commits:
        return None
    files = set()
    for commit in commits:
        if not isinstance(commit, dict):
            return None
        for key in ("added", "modified", "removed"):
            names = commit.get(key)
            if not isinstance(names, list):
                return None
            for name in names:
                if not _storable_path(name):
                    return None
                files.add(name)
        if len(files) > C.MAX_CHANGED_FILES:
            return None
    return sorted(files)


def _storable_path(name):
    if not isinstance(name, str) or not name or len(name) > MAX_PATH_LENGTH or "\0" in name:
        return False
    try:
        name.encode("utf-8")  # a lone surrogate is no text a database stores
    except UnicodeEncodeError:
        return False
    return True


def skip_requested(message):
    lowered = (message or "").lower()
    return any(marker in lowered for marker in ("[ci skip]", "[skip ci]", "[no ci]", "[herald skip]"))


def check_sha(sha, what="commit", shortest=40):
    """The payload's commit, lower-cased; `shortest` admits abbreviated
    hashes for forges that send nothing longer (Bitbucket pull requests)."""
    if (
        not isinstance(sha, str)
        or not shortest <= len(sha) <= 40
        or any(c not in "0123456789abcdef" for c in sha.lower())
    ):
        size = "40-character" if shortest == 40 else f"{shortest}- to 40-character"
        raise Rejected(400, f"payload {what} is not a {size} commit sha")
    return sha.lower()


def check_branch(name, what="branch"):
    """A branch (or tag) name git accepts: it becomes refs/heads/<name> for
    the worker to fetch (which checks it again, with builds/refs.py)."""
    if not isinstance(name, str) or not name:
        raise Rejected(400, f"payload {what} is not a usable branch name")
    why = ref_problem(f"refs/heads/{name}") or ('it begins with "-"' if name.startswith("-") else "")
    if why:
        raise Rejected(400, f"payload {what} is not a usable branch name: {why}")
    return name


def branch_or_tag(ref):
    """(event, branch, tag) for a pushed ref, or Ignored for other refs."""
    if ref.startswith("refs/heads/"):
        return C.PUSH, ref[len("refs/heads/") :], ""
    if ref.startswith("refs/tags/"):
        return C.TAG, "", ref[len("refs/tags/") :]
    raise Ignored(f"pushes to {ref} do not trigger builds")


class Adapter:
    provider = None
    event_header = None
    delivery_headers = ()
    # Headers kept on the Delivery record (never one carrying a secret).
    recorded_headers = ()
    # GitLab disables a hook after repeated 4xx answers: there, only a
    # failed authentication is answered 4xx, everything else 200.
    soft_rejections = False
    # True when the proof travels with the body (an HMAC): a stored delivery
    # can then be authenticated again when replayed. A shared token (GitLab)
    # is never stored, so a replay relies on the original having passed.
    signs_body = True
    json_content_types = ("application/json",)

    def event_name(self, headers):
        return headers.get(self.event_header, "").strip()

    def delivery_id(self, headers):
        for header in self.delivery_headers:
            value = headers.get(header, "").strip()
            if value:
                return value[:100]
        return ""

    def decode(self, headers, body):
        ctype = content_type(headers)
        if ctype not in self.json_content_types:
            raise Rejected(415, f"content type {ctype or '(none)'} is not supported; send application/json")
        return parse_json(body)

    def repository_name(self, payload):
        raise NotImplementedError

    def authenticate(self, headers, body, repository):
        """Raise Rejected(401/403) unless the request carries proof of the
        repository's webhook secret."""
        raise NotImplementedError

    def parse(self, event, payload):
        """Return a BuildRequest, or raise Ignored / Ping / Rejected."""
        raise NotImplementedError

    def instructions(self, repository):
        """How to set the hook up on this forge, for the repository page:
        where, content_type, events, secret_field."""
        raise NotImplementedError

    def require_hmac(self, headers, body, secret, names):
        """Check a hex HMAC-SHA256 of the body sent in the first of the
        headers `names` present; 401 when none is, 403 when it does not match."""
        for name in names:
            given = headers.get(name)
            if given is not None:
                if not signature_matches(hmac_hex(secret, body), given):
                    raise Rejected(403, f"{name} does not match the repository's webhook secret")
                return
        raise Rejected(401, f"no {' or '.join(names)} header: set the webhook's secret on the forge")
