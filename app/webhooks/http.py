"""What a webhook says over HTTP: its body read and parsed, and its few fixed answers.

* `read_body(limit)` enforces the size limit before anything is parsed (413).
* `parse_json(body)` accepts strict JSON only (UTF-8, no NaN/Infinity, at most MAX_DEPTH levels
  of nesting) and cleans the strings PostgreSQL cannot store (NUL, lone surrogates), so no body
  can reach a 5xx; anything else is `BadPayload` (400).
* Answers never echo input or internals: `ack()` is `{"ok": true}` (200); `refuse(status,
  message)` a fixed `{"ok": false, "error": message}`; `unavailable()` 503 with
  `Retry-After: RETRY_AFTER_SECONDS` (nothing was acknowledged, the platform delivers again).
* `webhook_blueprint(name, import_name)` is a platform's blueprint: database trouble
  (DatabaseUnavailable, or SQLAlchemy's connection errors) answers `unavailable()`, never a bare
  500.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Blueprint, abort, jsonify, request
from sqlalchemy import exc as sa_exc

from app.webhooks.intake import DatabaseUnavailable

MiB = 1024 * 1024
MAX_DEPTH = 64  # platforms nest about 10 deep; far deeper JSON is hostile (RecursionError)
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # NUL, surrogate escapes
RETRY_AFTER_SECONDS = 5


class BadPayload(ValueError):
    """The body is not what the platform sends (answers 400)."""


def read_body(limit: int) -> bytes:
    """The raw body, or 413 when it exceeds `limit` bytes (checked before reading it all)."""
    length = request.content_length
    if length is not None and length > limit:
        abort(413)
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    # With a Content-Length the stream ends there: stop once it is read (no extra read for the
    # end). Without one, read up to one byte past the limit to know whether it is over.
    want = limit + 1 if length is None else length
    while size < want:  # a single read() may return less than asked for: loop to the end
        chunk = stream.read(want - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        abort(413)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _reject_constant(name: str):
    raise BadPayload(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses to inf, which no JSON column accepts
        raise BadPayload("number out of range")
    return value


def parse_json(body: bytes) -> Any:
    """The body as JSON, or BadPayload (400): strict UTF-8, standard JSON only (no NaN or
    Infinity), at most MAX_DEPTH levels of nesting. Strings that PostgreSQL cannot store (NUL,
    lone surrogates from \\u escapes) are replaced by U+FFFD rather than refused."""
    try:
        text = body.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        raise BadPayload("not JSON") from exc
    # Every level of nesting needs a bracket: few brackets, no depth walk needed.
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _too_deep(value):
        raise BadPayload("nested too deeply")
    if "\\u" in text and _UNSTORABLE_ESCAPE.search(text):
        value = _storable(value)
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))
    return False


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {_storable(key): _storable(item) for key, item in value.items()}
    return value


_ACK = (b'{"ok":true}\n', 200, {"Content-Type": "application/json"})  # what jsonify(ok=True) sends


def ack(**extra):
    if not extra:
        return _ACK
    return jsonify(ok=True, **extra), 200


def webhook_blueprint(name: str, import_name: str) -> Blueprint:
    """A platform's blueprint: database trouble answers 503 + Retry-After, never a bare 500."""
    blueprint = Blueprint(name, import_name)
    for error in (DatabaseUnavailable, sa_exc.OperationalError, sa_exc.InterfaceError,
                  sa_exc.TimeoutError):
        blueprint.register_error_handler(error, unavailable)
    return blueprint


def unavailable(_exc=None):
    """The database could not store the notification: nothing was acknowledged, the platform
    will deliver it again."""
    response = jsonify(ok=False, error="temporarily unavailable")
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, 503


def refuse(status: int, message: str):
    """A short, fixed answer: never echo input or internals back to the caller."""
    return jsonify(ok=False, error=message), status
