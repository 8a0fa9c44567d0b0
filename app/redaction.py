"""One redaction step: secrets never reach a trace, status detail, flash message, log or error.

Upstream services echo what they were sent ("Invalid API key: <key>"), and exceptions quote
URLs that carry tokens. Every text that may hold such content passes `redact()` before it is
stored or shown:

* the call log (app/integrations/calls.py), panel errors (`PanelError`), channel send and action
  results, the pipeline's trace steps, event and message errors;
* columns declared `info=redacted()` (status details, last errors) are redacted whenever the
  ORM sets them, whoever sets them;
* `flash()` here is the one the views use; `RedactingFilter` sits on the log handlers.

Which secrets: every secret in play in this process. `EncryptedText` reports each value it
encrypts or decrypts (`remember`), and `create_app` reports the operator's own (META_APP_SECRET,
STRIPE_SECRET_KEY…). A secret is replaced wherever it appears, also URL-encoded. Values shorter
than MIN_SECRET_LENGTH are not tracked: they would mangle ordinary words, and no credential the
platforms issue is that short. The set is bounded (least recently seen dropped first).
"""
from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "****"
MIN_SECRET_LENGTH = 6
MAX_TRACKED = 20_000


class _Secrets:
    def __init__(self) -> None:
        self._values: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self._pattern: re.Pattern | None = None

    def add(self, values: Iterable[str | None]) -> None:
        fresh = []
        for value in values:
            if not value or not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
                continue
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                fresh.append(form)
        if not fresh:
            return
        with self._lock:
            changed = False
            for form in fresh:
                if form in self._values:
                    self._values.move_to_end(form)
                else:
                    self._values[form] = None
                    changed = True
            while len(self._values) > MAX_TRACKED:
                self._values.popitem(last=False)
                changed = True
            if changed:
                self._pattern = None

    def pattern(self) -> re.Pattern | None:
        pattern = self._pattern
        if pattern is None:
            with self._lock:
                if not self._values:
                    return None
                # longest first, so a secret that contains another is replaced whole
                ordered = sorted(self._values, key=len, reverse=True)
                pattern = self._pattern = re.compile("|".join(map(re.escape, ordered)))
        return pattern

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None


_secrets = _Secrets()


def remember(*values: str | None) -> None:
    """Report secrets now in play: from here on `redact` removes them."""
    _secrets.add(values)


def forget_all() -> None:
    """Tests only: start from an empty set."""
    _secrets.clear()


def redact(text, extra: Iterable[str | None] = ()):
    """`text` without any secret in play (nor any of `extra`); other values pass unchanged."""
    if not text or not isinstance(text, str):
        return text
    for value in extra:
        if value and len(value) >= 4:
            text = text.replace(value, REDACTED)
    if len(text) < MIN_SECRET_LENGTH:  # too short to hold a tracked secret
        return text
    pattern = _secrets.pattern()
    return pattern.sub(REDACTED, text) if pattern is not None else text


def redact_data(value):
    """`redact` applied to every string inside dicts, lists and tuples (trace steps)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


def redacted() -> dict:
    """The `info` of a column whose text may come from upstream: redacted whenever set."""
    return {"redact": True}


def install_column_redaction(models) -> None:
    """Redact, on every ORM assignment, the columns declared `info=redacted()`."""
    from sqlalchemy import event

    for model in models:
        table = getattr(model, "__table__", None)
        if table is None:
            continue
        for column in table.columns:
            if column.info.get("redact"):
                event.listen(getattr(model, column.key), "set", _on_set, retval=True)


def _on_set(target, value, oldvalue, initiator):  # noqa: ARG001 - SQLAlchemy signature
    return redact(value)


def flash(message, category: str = "message") -> None:
    """Flask's flash, redacted: the message is stored in the session cookie and shown."""
    from flask import flash as flask_flash

    flask_flash(redact(str(message)), category)


class RedactingFilter(logging.Filter):
    """Put on a log handler: the record's message, arguments and traceback text redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string: leave it to logging
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_log_filter() -> None:
    """Every handler of the root logger redacts (records of every logger reach them)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
