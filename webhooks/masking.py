"""Secrets kept out of a delivery's record.

Headers are recorded from each forge's allow-list (`recorded_headers`,
never one carrying a token such as X-Gitlab-Token); signatures are HMACs
of the body, not secrets. The body is another matter: Gitea before 1.14
(and Forgejo's docs example) put the webhook secret itself in every
payload's `"secret"` field, and a sender may put any token anywhere. So a
body is masked before it is stored (views.Receiver.record), and masked
again when shown (for records kept from before): by value, the
repository's webhook secret in each form a body can carry it (raw,
JSON-escaped, URL-encoded); and by name, the value of any JSON field
called like a credential.

A masked body no longer matches its signature. A delivery that was
authenticated can only have carried the repository's own secret, so a
replay (replay.py) puts the current secret back where the mask is
(`unmasked`) and the signature is checked as usual: a secret rotated since
refuses it, as it refuses any replay. (A credential field masked by name
that held something else cannot be put back: that replay is refused as not
matching the secret.)
"""

import json
import re
from urllib.parse import quote, quote_plus

MASK = "[masked by Herald]"

# Shorter "secrets" would mask ordinary words all over the body; the
# by-name masking still covers the field Gitea sends.
MIN_MASKED_LENGTH = 4

_CREDENTIALS = "secret|token|password|passwd|access_token|private_token|client_secret|api_key"
_CREDENTIAL_FIELD = re.compile(rf'("(?:{_CREDENTIALS})"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE)
# The same inside a URL-encoded form field (Gitea's form bodies: payload=<JSON>).
_ENCODED_CREDENTIAL_FIELD = re.compile(
    rf"(%22(?:{_CREDENTIALS})%22(?:%3A|:)(?:\+|%20)*)%22(?:%5C%5C|%5C%22|(?!%22).)*?%22", re.IGNORECASE
)


def mask(text, secrets=()):
    """`text` with each of `secrets` and each credential field's value
    replaced by MASK."""
    for secret in secrets:
        if not secret or len(secret) < MIN_MASKED_LENGTH:
            continue
        for form in forms(secret):
            text = text.replace(form, MASK)
    text = _CREDENTIAL_FIELD.sub(lambda m: f'{m.group(1)}"{MASK}"', text)
    # MASK itself, not encoded, so that `unmasked` finds it the same way.
    return _ENCODED_CREDENTIAL_FIELD.sub(lambda m: f"{m.group(1)}%22{MASK}%22", text)


def forms(secret):
    """The ways a body can carry `secret`: as is, inside a JSON string,
    URL-encoded (a form body)."""
    in_json = [json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]]
    return list(dict.fromkeys([secret, *in_json, quote(secret, safe=""), quote_plus(secret)]))


def unmasked(text, secret):
    """The bodies `text` may have been before it was masked, with
    `secret` in each of its forms; [text] when nothing was masked."""
    if MASK not in text or not secret:
        return [text]
    return [text.replace(MASK, form) for form in forms(secret)]
