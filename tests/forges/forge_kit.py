"""Sending each forge's documented payloads the way that forge sends them.

Payloads come unchanged from tests/forges/<forge>/payloads/ (see SOURCES.md there);
`aim` only points them at a registered repository and a commit, touching
the fields that name the repository, the ref and the sha.
"""

import copy
import hashlib
import hmac
import json
import uuid

import pytest

from tests.support import fixture

# A "flavor" is how a request looks on the wire; Forgejo posts to the
# Gitea receiver with its own headers.
PROVIDER = {"github": "github", "gitea": "gitea", "forgejo": "gitea", "gogs": "gogs", "gitlab": "gitlab",
            "bitbucket": "bitbucket"}
FLAVORS = list(PROVIDER)
EVENT_HEADER = {"github": "X-GitHub-Event", "gitea": "X-Gitea-Event", "forgejo": "X-Forgejo-Event",
                "gogs": "X-Gogs-Event", "gitlab": "X-Gitlab-Event", "bitbucket": "X-Event-Key"}
DELIVERY_HEADER = {"github": "X-GitHub-Delivery", "gitea": "X-Gitea-Delivery", "forgejo": "X-Forgejo-Delivery",
                   "gogs": "X-Gogs-Delivery", "gitlab": "Idempotency-Key", "bitbucket": "X-Request-UUID"}
AUTH_HEADER = {"github": "X-Hub-Signature-256", "gitea": "X-Gitea-Signature", "forgejo": "X-Forgejo-Signature",
               "gogs": "X-Gogs-Signature", "gitlab": "X-Gitlab-Token", "bitbucket": "X-Hub-Signature"}
FIXTURE_DIR = {"forgejo": "gitea"}

# Event header values and fixtures, per flavor.
PUSH = {"github": ("push", "push__new_branch"), "gitea": ("push", "push__docs_example"),
        "gogs": ("push", "push__docs_example"), "gitlab": ("Push Hook", "push__several_commits"),
        "bitbucket": ("repo:push", "repo_push__branch")}
TAG = {"github": ("push", "push__tag_created"), "gitea": ("push", "push__docs_example"),
       "gogs": ("create", "create__tag"), "gitlab": ("Tag Push Hook", "tag_push__created"),
       "bitbucket": ("repo:push", "repo_push__branch")}
PR = {  # action → (event header, fixture)
    "github": {"opened": ("pull_request", "pull_request__opened"),
               "reopened": ("pull_request", "pull_request__reopened"),
               "synchronize": ("pull_request", "pull_request__synchronize"),
               "closed": ("pull_request", "pull_request__closed")},
    "gitea": {"opened": ("pull_request", "pull_request__opened"),
              "reopened": ("pull_request", "pull_request__reopened"),
              "synchronize": ("pull_request", "pull_request__synchronized"),
              "closed": ("pull_request", "pull_request__closed")},
    "gogs": {"opened": ("pull_request", "pull_request__opened"),
             "reopened": ("pull_request", "pull_request__reopened"),
             "synchronize": ("pull_request", "pull_request__synchronized"),
             "closed": ("pull_request", "pull_request__closed")},
    "gitlab": {"opened": ("Merge Request Hook", "merge_request__opened"),
               "reopened": ("Merge Request Hook", "merge_request__reopened"),
               "synchronize": ("Merge Request Hook", "merge_request__updated"),
               "closed": ("Merge Request Hook", "merge_request__closed")},
    # Bitbucket names the change in X-Event-Key; the body is the same
    # pullrequest object for every pullrequest:* event.
    "bitbucket": {"opened": ("pullrequest:created", "pullrequest__created"),
                  "synchronize": ("pullrequest:updated", "pullrequest__created"),
                  "closed": ("pullrequest:rejected", "pullrequest__created")},
}
PR["forgejo"] = PR["gitea"]
for table in (PUSH, TAG):
    table["forgejo"] = table["gitea"]


def load(flavor, name):
    return fixture(FIXTURE_DIR.get(flavor, flavor), name)


def provider_of(flavor):
    return PROVIDER[flavor]


# --- pointing payloads at a repository and a commit ------------------------------

def _set_repo(flavor, p, full_name):
    if flavor == "gitlab":
        p["project"]["path_with_namespace"] = full_name
        for side in ("source", "target"):
            if isinstance(p.get("object_attributes", {}).get(side), dict):
                p["object_attributes"][side]["path_with_namespace"] = full_name
    else:
        p["repository"]["full_name"] = full_name
    pr = p.get("pull_request") or {}
    for side in ("base", "head"):
        if isinstance((pr.get(side) or {}).get("repo"), dict):
            pr[side]["repo"]["full_name"] = full_name
    for side in ("base_repo", "head_repo"):
        if isinstance(pr.get(side), dict):
            pr[side]["full_name"] = full_name
    bpr = p.get("pullrequest") or {}
    for side in ("source", "destination"):
        if isinstance((bpr.get(side) or {}).get("repository"), dict):
            bpr[side]["repository"]["full_name"] = full_name


def aim_push(flavor, name, full_name, sha, ref=None, message=None):
    p = copy.deepcopy(load(flavor, name))
    _set_repo(flavor, p, full_name)
    if flavor == "bitbucket":
        change = p["push"]["changes"][0]
        change["new"]["target"]["hash"] = sha
        change["commits"][0]["hash"] = sha
        if ref:
            kind, _, short = ref.partition("/")[2].partition("/")
            change["new"]["type"] = {"heads": "branch", "tags": "tag"}[kind]
            change["new"]["name"] = short
        if message is not None:
            change["new"]["target"]["message"] = message
        return p
    if flavor == "gogs" and "ref_type" in p:  # a create event
        p["sha"] = sha
        if ref:
            p["ref"] = ref.rpartition("/")[2]
        return p
    old = p["after"]
    p["after"] = sha
    if flavor == "gitlab":
        p["checkout_sha"] = sha
    if ref:
        p["ref"] = ref
    for commit in [p.get("head_commit")] + list(p.get("commits") or []):
        if isinstance(commit, dict) and commit.get("id") == old:
            commit["id"] = sha
            if message is not None:
                commit["message"] = message
    return p


def aim_pr(flavor, name, full_name, sha, number=None):
    p = copy.deepcopy(load(flavor, name))
    _set_repo(flavor, p, full_name)
    if flavor == "gitlab":
        p["object_attributes"]["last_commit"]["id"] = sha
        if number:
            p["object_attributes"]["iid"] = number
    elif flavor == "bitbucket":
        p["pullrequest"]["source"]["commit"]["hash"] = sha[:12]
        if number:
            p["pullrequest"]["id"] = number
    else:
        if "head" in p["pull_request"]:
            p["pull_request"]["head"]["sha"] = sha
        if number:
            p["number"] = p["pull_request"]["number"] = number
    return p


# --- signing and sending ---------------------------------------------------------

def auth_value(flavor, secret, body):
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"github": "sha256=" + digest, "bitbucket": "sha256=" + digest, "gitlab": secret}.get(flavor, digest)


def headers(flavor, event, body, secret="s3cret", delivery=None):
    h = {
        "Content-Type": "application/json",
        EVENT_HEADER[flavor]: event,
        DELIVERY_HEADER[flavor]: delivery or str(uuid.uuid4()),
        AUTH_HEADER[flavor]: auth_value(flavor, secret, body),
    }
    if flavor == "forgejo":
        # Forgejo also sends the Gitea names, with the same values.
        h["X-Gitea-Event"], h["X-Gitea-Signature"] = event, h["X-Forgejo-Signature"]
    return h


def as_meta(h):
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in h.items() if k != "Content-Type"}


def post(client, flavor, payload=None, event=None, secret="s3cret", delivery=None, raw=None, headers_update=None,
         drop=()):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = headers(flavor, event, body, secret=secret, delivery=delivery)
    h.update(headers_update or {})
    for name in drop:
        h.pop(name, None)
    return client.post(f"/webhooks/{provider_of(flavor)}/", data=body, content_type=h.get("Content-Type", ""),
                       **as_meta(h))


def soft(flavor, status):
    """The status a refusal gets: GitLab disables a hook after repeated 4xx
    answers, so it is told 200 (the delivery record keeps the reason)."""
    return 200 if flavor == "gitlab" else status


@pytest.fixture
def repo_for(make_repository):
    """A registered repository for a forge flavor (gitea, forgejo, github…)."""
    def make(flavor, full_name="acme/widgets", **kw):
        return make_repository(full_name, provider=provider_of(flavor), **kw)

    return make
