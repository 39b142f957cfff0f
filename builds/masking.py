"""Secret values masked wherever Herald shows text a build or a push wrote:
the build log (builds.logwriter) and notifications (repositories.notifications).
One list, one rule, so a value hidden in the log is hidden in an email too."""

from django.conf import settings

import forges

MASK = "****"
# Shorter values would mask ordinary words ("on", "a").
MIN_SECRET_LENGTH = 3


def server_secrets():
    """Herald's own keys and passwords, masked in every log whatever the
    repository: defence in depth should a build ever read the server's
    files (a path resolved wrongly by a future bug)."""
    values = [
        settings.SECRET_KEY,
        *settings.HERALD_ENCRYPTION_KEYS,
        *(db.get("PASSWORD") for db in settings.DATABASES.values()),
    ]
    values += [forge.client_secret for forge in forges.every()]
    values.append(getattr(settings, "HERALD_METRICS_TOKEN", ""))
    values.append(getattr(settings, "EMAIL_HOST_PASSWORD", ""))
    return [v for v in values if v]


def secret_values(secrets):
    """The strings to mask for these secret values (give server_secrets()
    among them), longest first so a secret containing another is masked whole."""
    values = set()
    for secret in secrets:
        if not secret:
            continue
        values.add(secret)
        # A multi-line value (a key file) often comes out a line at a
        # time, or with its line endings changed: mask every line too.
        values.update(line.strip() for line in secret.splitlines())
    return sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True)


def mask(text, values):
    """`text` with every one of `values` (from secret_values) replaced."""
    for value in values:
        text = text.replace(value, MASK)
    return text
