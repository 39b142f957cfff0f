"""Sending one notification: email through Django's mail framework, the
signed webhook and Slack's incoming webhook over HTTP (requests).

Every failure is a SendError, `transient` when trying again later may help
(the receiver answered 5xx or 429, timed out, could not be reached; the
SMTP server answered 4xx or was unreachable).

The URLs are set by people with push rights and may point anywhere,
including this machine's network: Herald follows no redirect, waits at most
HERALD_NOTIFY_TIMEOUT seconds for an answer and reads at most
RESPONSE_LIMIT bytes of it."""

import hashlib
import hmac
import json
import smtplib
import time

import requests
from django.conf import settings
from django.core.mail import EmailMessage

from repositories.notifications import messages
from repositories.notifications.models import EMAIL, SLACK, WEBHOOK

RESPONSE_LIMIT = 64 * 1024
USER_AGENT = "Herald-CI-Notifications"


class SendError(Exception):
    def __init__(self, message, status=None, transient=False, retry_after=None):
        super().__init__(message)
        self.message, self.status, self.transient, self.retry_after = message, status, transient, retry_after

    def __str__(self):
        return self.message


def send(notification, data):
    """Send `data` (messages.payload) the way `notification` says; returns
    the receiver's HTTP status (250 for SMTP)."""
    if notification.kind == EMAIL:
        return send_email(notification.target, data)
    if notification.kind == WEBHOOK:
        body = json.dumps(data, separators=(",", ":")).encode()
        return post(notification.target, body, signature_headers(notification.secret, body))
    if notification.kind == SLACK:
        body = json.dumps({"text": messages.slack_text(data)}).encode()
        return post(notification.secret, body, {})
    raise SendError(f"unknown kind {notification.kind!r}")


def signature(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_headers(secret, body):
    return {"X-Herald-Event": "build", "X-Herald-Signature-256": signature(secret, body)}


def send_email(address, data):
    message = EmailMessage(messages.subject(data), messages.email_body(data), to=[address])
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as e:
        code, text = next(iter(e.recipients.values()), (None, b""))
        raise SendError(
            f"the SMTP server refused {address}: {code} {_text(text)}", code, _smtp_transient(code)
        ) from None
    except smtplib.SMTPAuthenticationError as e:
        raise SendError(f"the SMTP server refused EMAIL_HOST_USER's login: {e.smtp_code}", e.smtp_code) from None
    except smtplib.SMTPResponseException as e:
        raise SendError(
            f"the SMTP server answered {e.smtp_code} {_text(e.smtp_error)}", e.smtp_code, _smtp_transient(e.smtp_code)
        ) from None
    except (smtplib.SMTPException, OSError) as e:
        # Unreachable, refused, timed out, disconnected: try again later.
        where = f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"
        raise SendError(f"could not send through {where}: {e or type(e).__name__}", transient=True) from None
    return 250


def _smtp_transient(code):
    return code is not None and 400 <= code < 500


def _text(raw):
    return (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:200]


def post(url, body, headers):
    """POST `body` as JSON; no redirects, a deadline, a bounded read."""
    timeout = settings.HERALD_NOTIFY_TIMEOUT
    deadline = time.monotonic() + timeout
    try:
        with requests.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers},
            timeout=timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            text = _read(response, deadline)
    except requests.Timeout:
        raise SendError(f"no answer within {timeout} s", transient=True) from None
    except requests.RequestException as e:
        raise SendError(f"could not reach the receiver: {type(e).__name__}", transient=True) from None
    code = response.status_code
    if 200 <= code < 300:
        return code
    if 300 <= code < 400:
        raise SendError(f"HTTP {code}: redirects are not followed; give the final URL", code)
    if code == 429 or code >= 500:
        raise SendError(f"HTTP {code} {text}".strip(), code, transient=True, retry_after=_retry_after(response))
    raise SendError(f"HTTP {code} {text}".strip(), code)


def _read(response, deadline):
    """At most RESPONSE_LIMIT bytes of the answer, before the deadline;
    the start of it (one line) for the error message."""
    data = b""
    for chunk in response.iter_content(8192):
        data += chunk
        if len(data) >= RESPONSE_LIMIT or time.monotonic() > deadline:
            break
    return " ".join(data[:200].decode(errors="replace").split())


def _retry_after(response):
    value = response.headers.get("Retry-After", "")
    return int(value) if value.isdigit() else None
