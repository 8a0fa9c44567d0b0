"""Channels as a webhook sees them: found by routing key, authenticated in constant time.

* `ChannelRef` is what a webhook needs of a channel (no ORM object, no session; secrets out of
  its repr).
* `channel_cache` keeps found channels per process for WEBHOOK_CHANNEL_CACHE_SECONDS (default
  5), and is cleared in this process whenever a Channel row is written (ORM listeners).
* The cache never decides a refusal or an error alone: a credential that does not match the
  cached channel's, or an INSERT that hits the channel's foreign key (the channel was deleted
  meanwhile), raises `StaleChannel`, and `cached_then_fresh` runs the webhook's work once more
  with a fresh lookup in the database. Only what the database says is refused (403).
* `authenticated(key, load, given, fresh)` is that protocol for a channel named by one routing
  key with one secret (Green API's webhook token, Telegram's secret token); Meta, whose
  signature may be made with several candidate channels' secrets, follows the same protocol
  with `stale_unless_fresh` and `credential_matches`.
* `credential_matches` compares in constant time, and takes as long when no channel (or no
  secret) was found: the timing tells nobody whether a routing key exists.
* `touched` remembers when this process last wrote a channel's `last_webhook_at` (both storage
  paths write it at most once per LAST_WEBHOOK_RESOLUTION); it is forgotten with the cache.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from flask import current_app
from sqlalchemy import event as orm_event

from app.crypto import constant_time_equals
from app.models import Channel

CHANNEL_CACHE_SECONDS = 5.0
LAST_WEBHOOK_RESOLUTION = timedelta(seconds=10)
_DUMMY_SECRET = "x" * 32  # compared against when there is no secret: same timing


class StaleChannel(Exception):
    """What the cache said about a channel may be out of date (the INSERT hit the channel's
    foreign key, or a credential did not match): the webhook looks the channel up again."""


def cached_then_fresh(accept):
    """`accept(fresh=False)` with the cached channel; on StaleChannel once more from the
    database. Returns its response, or None when the channel is gone (answer 403)."""
    for fresh in (False, True):
        try:
            return accept(fresh)
        except StaleChannel:
            continue
    return None


@dataclass(frozen=True)
class ChannelRef:
    """What a webhook needs of a channel; cheap to cache (no ORM object, no session)."""

    id: int
    workspace_id: int
    kind: str
    enabled: bool
    # Secrets stay out of repr(): a ChannelRef in a log line or a traceback shows no secret.
    token: str | None = field(default=None, repr=False)  # Green API / Telegram webhook secret
    app_secret: str | None = field(default=None, repr=False)  # Meta, manual mode
    phone_number_id: str | None = None
    waba_id: str | None = None

    @classmethod
    def of(cls, channel: Channel) -> ChannelRef:
        token = {"greenapi": channel.webhook_token,
                 "telegram": channel.secret_token}.get(channel.kind)
        return cls(id=channel.id, workspace_id=channel.workspace_id, kind=channel.kind,
                   enabled=bool(channel.enabled), token=token,
                   app_secret=channel.app_secret if channel.kind == "meta" else None,
                   phone_number_id=channel.phone_number_id, waba_id=channel.waba_id)


class ChannelCache:
    """Found channels by routing key, per process, for WEBHOOK_CHANNEL_CACHE_SECONDS.

    Unknown keys are never cached (a forged routing key cannot fill the cache, and a channel
    created a moment ago is found at once). A credential that does not match the cached one is
    checked again against the database (see StaleChannel), so a rotated token works at once.
    What may lag by up to the TTL, in other processes only, is `enabled` and a Meta channel's
    verification (only verified Meta channels are found, app/webhooks/meta.py): a channel
    disabled or sent back to verification elsewhere keeps storing events for those seconds
    (its identifiers are its own: no other channel can hold them), and a channel verified
    elsewhere is missing for those seconds from a cached key that also names another channel.
    In this process every Channel write clears the cache at once (the ORM listeners below)."""

    MAX_ENTRIES = 10_000

    def __init__(self) -> None:
        self._entries: dict = {}
        self._lock = threading.Lock()

    def lookup(self, key, load, fresh: bool = False):
        ttl = float(current_app.config.get("WEBHOOK_CHANNEL_CACHE_SECONDS",
                                           CHANNEL_CACHE_SECONDS))
        now = time.monotonic()
        if not fresh and ttl > 0:
            hit = self._entries.get(key)
            if hit is not None and now - hit[0] < ttl:
                return hit[1]
        value = load()
        with self._lock:
            if value and ttl > 0:
                if len(self._entries) >= self.MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key] = (now, value)
            else:
                self._entries.pop(key, None)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            touched.clear()


channel_cache = ChannelCache()
touched: dict[int, float] = {}  # channel id → when this process last wrote last_webhook_at


def _channel_written(_mapper, _connection, _target) -> None:
    channel_cache.clear()


for _event_name in ("after_insert", "after_update", "after_delete"):
    orm_event.listen(Channel, _event_name, _channel_written)


def credential_matches(given: str | bytes | None, expected: str | bytes | None) -> bool:
    """Whether the presented credential equals the stored one, compared in constant time; a
    missing or empty stored one matches nothing and is compared against a dummy (same time)."""
    return constant_time_equals(given, expected or _DUMMY_SECRET) and bool(expected)


def stale_unless_fresh(found: bool, fresh: bool, channel_id: int | None = None) -> None:
    """A credential matched no channel that was found: when they came from the cache, raise
    StaleChannel (a secret may have just changed: ask the database); when they came from the
    database (`fresh`), return, and the caller refuses."""
    if found and not fresh:
        raise StaleChannel(channel_id)


def authenticated(key, load: Callable[[], ChannelRef | None], given: str,
                  fresh: bool) -> ChannelRef | None:
    """The channel `load()` finds for the routing `key` (through `channel_cache`, or from the
    database when `fresh`), if `given` equals its secret (`ChannelRef.token`, constant time).
    None when there is no such channel (a `key` of None: the routing value cannot name one) or
    the database's channel has another secret: answer 403. Raises StaleChannel when the cached
    channel's secret does not match (run again with fresh=True, see `cached_then_fresh`)."""
    channel = channel_cache.lookup(key, load, fresh=fresh) if key is not None else None
    if credential_matches(given, channel.token if channel is not None else None):
        return channel
    stale_unless_fresh(channel is not None, fresh, getattr(channel, "id", None))
    return None
