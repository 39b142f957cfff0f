"""What a notification says: the webhook's JSON body, the email's subject
and body, Slack's text. Everything a push or a build wrote (commit message,
author, branch, reason) goes through the build log's masking first
(builds.masking): the repository's secrets, the server's, and every
notification credential of the repository never leave in a notification."""

from urllib.parse import urlsplit

from django.conf import settings

from builds import constants as C
from builds.masking import mask, secret_values, server_secrets
from repositories.notifications.models import SLACK
from repositories.notifications.rules import build_jobs

WORDS = {
    C.SUCCESS: "passed",
    C.FAILED: "failed",
    C.ERRORED: "errored",
    C.TIMED_OUT: "timed out",
    C.CANCELLED: "was cancelled",
    C.SKIPPED: "was skipped",
}
# Herald's own links, never masked (a secret "jobs" would break them).
UNMASKED = {"url", "id", "number", "group"}


def _iso(dt):
    return dt.isoformat() if dt else None


def masked_values(repository):
    """What to mask in the repository's notifications: its secrets, the
    server's, and its notifications' own (a Slack URL's secret part too)."""
    values = list(repository.secrets.values_list("value", flat=True))
    for n in repository.notifications.all():
        values += [n.secret, *(url_secrets(n.secret) if n.kind == SLACK else ())]
    return secret_values([*values, *server_secrets()])


def url_secrets(url):
    """An incoming webhook URL's parts that are its credential: the path
    and query, and each long path segment (Slack's, Mattermost's and
    Discord's tokens are 24 to 68 characters)."""
    parts = urlsplit(url)
    rest = parts.path + (f"?{parts.query}" if parts.query else "")
    return [rest, *(s for s in parts.path.split("/") if len(s) >= 16)]


def _mask_all(value, values):
    if isinstance(value, str):
        return mask(value, values)
    if isinstance(value, dict):
        return {k: v if k in UNMASKED else _mask_all(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_all(v, values) for v in value]
    return value


def payload(first, status, previous):
    """The webhook's body for the build that `first` begins, masked."""
    jobs = list(build_jobs(first))
    repo = first.repository
    data = {
        "event": first.event,
        "repository": repo.full_name,
        "id": first.pk,
        "number": first.number,
        "status": status,
        "previous_status": previous or None,
        "reason": next((j.reason for j in jobs if j.status == status and j.reason), ""),
        "branch": first.branch,
        "tag": first.tag,
        "commit": first.commit,
        "message": first.message,
        "author": first.author,
        "url": first.absolute_url(),
        "started_at": _iso(min((j.started_at for j in jobs if j.started_at), default=None)),
        "finished_at": _iso(max((j.finished_at for j in jobs if j.finished_at), default=None)),
        "pull_request": (
            {"number": first.pr_number, "title": first.pr_title, "source_branch": first.source_branch}
            if first.event == C.PULL_REQUEST
            else None
        ),
        # Every job of a matrix build; one for a plain build.
        "jobs": [
            {"id": j.pk, "number": j.number, "status": j.status, "matrix": j.matrix or {}, "url": j.absolute_url()}
            for j in jobs
        ],
    }
    return _mask_all(data, masked_values(repo))


def where(data):
    if data["pull_request"]:
        return f"pull request #{data['pull_request']['number']}"
    if data["tag"]:
        return f"tag {data['tag']}"
    return data["branch"] or "?"


def headline(data):
    """'#42 failed on main (abc1234)', and 'fixed' for the first success
    after a failure."""
    fixed = data["status"] == C.SUCCESS and data["previous_status"] in (C.FAILED, C.ERRORED, C.TIMED_OUT)
    word = "is fixed" if fixed else WORDS.get(data["status"], data["status"])
    return f"#{data['number']} {word} on {where(data)} ({data['commit'][:7]})"


def subject(data):
    """'[acme/widgets] #42 failed on main (abc1234)'."""
    # One line whatever a push put in it: a header may not hold a line break.
    return " ".join(f"[{data['repository']}] {headline(data)}".split())


def first_line(text):
    return (text or "").strip().splitlines()[0][:200] if (text or "").strip() else ""


def email_body(data):
    lines = [
        f"{data['repository']} {headline(data)}",
        "",
        data["url"],
        "",
        f"Commit:   {data['commit']}",
        f"Author:   {data['author']}",
        f"Message:  {first_line(data['message'])}",
        f"Status:   {data['status']}" + (f" (before: {data['previous_status']})" if data["previous_status"] else ""),
    ]
    if data["reason"]:
        lines.append(f"Reason:   {data['reason']}")
    if len(data["jobs"]) > 1:
        lines += ["", "Jobs:"]
        lines += [
            f"  #{j['number']} {j['status']} {', '.join(f'{k}={v}' for k, v in sorted(j['matrix'].items()))} {j['url']}"
            for j in data["jobs"]
        ]
    lines += ["", f"-- Herald CI, {settings.HERALD_BASE_URL}/"]
    return "\n".join(lines) + "\n"


def slack_escape(text):
    # Slack's (and Mattermost's) mrkdwn: these three are control characters.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(data):
    """One message with a link to the build: `<url|text>` is read by Slack,
    Mattermost, Rocket.Chat and Discord's /slack endpoint alike."""
    link = f"<{data['url']}|{slack_escape(data['repository'])} {slack_escape(headline(data))}>"
    message = first_line(data["message"])
    text = link + (f": {slack_escape(message)}" if message else "")
    if data["author"]:
        text += f" — {slack_escape(data['author'])}"
    if data["reason"]:
        text += f"\n{slack_escape(data['reason'])}"
    return text
