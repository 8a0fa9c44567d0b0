"""Secrets at rest: Fernet encryption with rotation (MultiFernet), masking for display.

`EncryptedText` is a column type: Python code reads and writes plaintext, the database only ever
holds Fernet tokens. Every value it handles is reported to the redaction step (app/redaction.py).
The keyring is process-wide and set by `create_app` from ENCRYPTION_KEY, a
comma-separated list of keys, newest first; rotation prepends a key and re-encrypts every row
(`flask --app run secrets rotate`).
"""
from __future__ import annotations

import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from app.redaction import remember

MASK_VISIBLE = 4


class SecretDecryptError(Exception):
    """A stored secret could not be decrypted with any configured key."""


class Keyring:
    def __init__(self) -> None:
        self._fernet: MultiFernet | None = None

    def configure(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("ENCRYPTION_KEY is empty")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            raise RuntimeError("the encryption keyring is not configured (create_app does it)")
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise SecretDecryptError(
                "stored secret cannot be decrypted with ENCRYPTION_KEY"
            ) from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt a token with the newest key."""
        return self.fernet.rotate(token.encode("ascii")).decode("ascii")


keyring = Keyring()


class EncryptedText(TypeDecorator):
    """A text column stored encrypted. Empty strings and None are stored as NULL."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None or value == "":
            return None
        remember(str(value))
        return keyring.encrypt(str(value))

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        plaintext = keyring.decrypt(value)
        remember(plaintext)
        return plaintext


def mask(secret: str | None) -> str:
    """What a page may show of a secret: a fixed run of dots and its last four characters."""
    if not secret:
        return ""
    if len(secret) <= MASK_VISIBLE * 2:
        return "••••"
    return "••••" + secret[-MASK_VISIBLE:]


def constant_time_equals(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Compare a presented credential with the stored one without leaking timing."""
    if given is None or expected is None or expected in ("", b""):
        return False
    if isinstance(given, str):
        given = given.encode("utf-8")
    if isinstance(expected, str):
        expected = expected.encode("utf-8")
    return hmac.compare_digest(given, expected)
