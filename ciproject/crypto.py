"""Encryption at rest for secrets kept in the database (Fernet, from the
maintained `cryptography` package). Keys come from HERALD_ENCRYPTION_KEY."""

from functools import cache, lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


@cache
def _fernet(keys):
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError) as e:
        raise ImproperlyConfigured(
            "HERALD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        ) from e


def fernet():
    return _fernet(tuple(settings.HERALD_ENCRYPTION_KEYS))


def encrypt(value: str) -> str:
    return fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _decrypt(tuple(settings.HERALD_ENCRYPTION_KEYS), token)


# Every webhook reads its repository's secret: remembering the last few
# hundred plaintexts (by ciphertext and keys) saves a decryption per
# request. Nothing leaves the process; a changed secret is a new token.
@lru_cache(maxsize=512)
def _decrypt(keys, token):
    try:
        return _fernet(keys).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored secret cannot be decrypted: HERALD_ENCRYPTION_KEY changed? "
            "Keep the old key after the new one (comma separated) to rotate."
        ) from None


class EncryptedTextField(models.TextField):
    """Holds plain text in Python, Fernet ciphertext in the database."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(value)
