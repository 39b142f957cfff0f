"""Sending each forge's documented payloads the way that forge sends them.

Payloads come unchanged from tests/forges/<forge>/payloads/ (see SOURCES.md
there); `aim` only points them at a registered repository and a commit,
touching the fields that name the repository, the ref and the sha.

What differs from forge to forge is its flavor (tests/forges/flavor.py), in
tests/forges/<id>/kit.py. The kits are collected here over the registry
(forges.every()), so the tests common to all forges run over every forge
that has one, and test_registry.py fails for a forge that has none: adding
a forge's tests means adding its folder. A forge with sign-in also tells
(OAUTH in its kit) how tests/oauth/ drives its fake server.
"""

import importlib
import json
import uuid

import pytest

import forges


def _kits():
    """forge id → its tests/forges/<id>/kit.py, over the registry."""
    found = {}
    for forge in forges.every():
        name = f"tests.forges.{forge.id}.kit"
        try:
            found[forge.id] = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            # test_registry.py names the missing kit.
    return found


def _flavors(kits):
    found = {}
    for forge_id, kit in kits.items():
        for flavor in kit.FLAVORS:
            assert flavor.forge == forge_id, f"{kit.__name__} describes {flavor.forge}"
            found[flavor.name] = flavor
    return found


_KIT_MODULES = _kits()
# Flavor name → Flavor, in the registry's order (Forgejo after Gitea).
KITS = _flavors(_KIT_MODULES)
FLAVORS = list(KITS)
# Forge id → its OAuthFake, for every forge with sign-in (tests/oauth/).
OAUTH = {
    forge.id: _KIT_MODULES[forge.id].OAUTH
    for forge in forges.every()
    if forge.oauth_provider and hasattr(_KIT_MODULES.get(forge.id), "OAUTH")
}

# The kits' tables by flavor name, for parametrized tests.
EVENT_HEADER = {name: f.event_header for name, f in KITS.items()}
DELIVERY_HEADER = {name: f.delivery_header for name, f in KITS.items()}
AUTH_HEADER = {name: f.auth_header for name, f in KITS.items()}
PUSH = {name: f.push for name, f in KITS.items()}
TAG = {name: f.tag for name, f in KITS.items()}
PR = {name: f.pr for name, f in KITS.items()}
PR_REF = {name: f.pr_ref for name, f in KITS.items()}
PR_FACTS = {name: f.pr_facts for name, f in KITS.items()}
# The flavors with pull requests, and those naming their event in a header
# (plain git has neither).
PR_FLAVORS = [name for name, f in KITS.items() if f.pr]
EVENT_FLAVORS = [name for name, f in KITS.items() if f.event_header]


def load(flavor, name):
    return KITS[flavor].load(name)


def provider_of(flavor):
    return KITS[flavor].forge


def aim_push(flavor, name, full_name, sha, ref=None, message=None):
    return KITS[flavor].aimed_push(name, full_name, sha, ref=ref, message=message)


def aim_pr(flavor, name, full_name, sha, number=None):
    return KITS[flavor].aimed_pr(name, full_name, sha, number=number)


# --- signing and sending ---------------------------------------------------------


def auth_value(flavor, secret, body):
    return KITS[flavor].sign(secret, body)


def headers(flavor, event, body, secret="s3cret", delivery=None):
    kit = KITS[flavor]
    h = {
        "Content-Type": "application/json",
        kit.delivery_header: delivery or str(uuid.uuid4()),
        kit.auth_header: kit.sign(secret, body),
    }
    if kit.event_header:  # plain git has none: every request is a push
        h[kit.event_header] = event
    h.update({name: h[same] for name, same in kit.copies.items()})
    return h


def carrying(flavor, header):
    """`header` and the others the flavor sends with the same value (Forgejo:
    X-Forgejo-Signature and X-Gitea-Signature)."""
    return [header] + [name for name, same in KITS[flavor].copies.items() if same == header]


def as_meta(h):
    return {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in h.items() if k != "Content-Type"}


def post(
    client, flavor, payload=None, event=None, secret="s3cret", delivery=None, raw=None, headers_update=None, drop=()
):
    body = raw if raw is not None else json.dumps(payload).encode()
    h = headers(flavor, event, body, secret=secret, delivery=delivery)
    h.update(headers_update or {})
    for name in drop:
        h.pop(name, None)
    return client.post(
        f"/webhooks/{provider_of(flavor)}/", data=body, content_type=h.get("Content-Type", ""), **as_meta(h)
    )


def soft(flavor, status):
    """The status a refusal gets (GitLab is always told 200: see its kit)."""
    return KITS[flavor].refusal_status(status)


@pytest.fixture
def repo_for(make_repository):
    """A registered repository for a forge flavor (gitea, forgejo, github…)."""

    def make(flavor, full_name="acme/widgets", **kw):
        return make_repository(full_name, provider=provider_of(flavor), **kw)

    return make
