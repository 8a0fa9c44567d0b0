"""What every webhook does after authenticating: persist first, then enqueue (DESIGN "Data flow").

* `read_body(limit)` enforces the size limit before anything is parsed (413).
* `parse_json(body)` accepts strict JSON only (UTF-8, no NaN/Infinity, bounded nesting) and cleans
  the strings PostgreSQL cannot store (NUL, lone surrogates), so no body can reach a 5xx.
* `persist_events(channel, events)` inserts one row per notification with
  INSERT … ON CONFLICT (channel_id, dedupe_key) DO NOTHING, commits, and returns the ids that are
  new. Duplicates therefore cost one round trip and change nothing.
* Hot path (bench/webhook_ingest.py): the INSERT is compiled once and reused; `channel_cache`
  keeps what a webhook needs of a channel for a few seconds (WEBHOOK_CHANNEL_CACHE_SECONDS,
  default 5; cleared in this process whenever a Channel row is written); `last_webhook_at` is
  written at most once per LAST_WEBHOOK_RESOLUTION per process. A webhook is then: one INSERT
  in one transaction, one Redis pipeline.
  The cache never decides a refusal or an error alone: a credential that does not match the
  cached one, or an INSERT that hits the channel's foreign key (channel deleted meanwhile),
  raises `StaleChannel` and the webhook looks the channel up again in the database.
* `enqueue_events(ids)` hands the new ids to RQ. If Redis is down the rows stay `pending` and the
  maintenance runner picks them up later: the webhook still answers 200, nothing is lost.
"""
from __future__ import annotations

import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import abort, current_app, jsonify, request
from sqlalchemy import bindparam, text, update
from sqlalchemy import event as orm_event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.models import Channel, InboundEvent
from app.models.base import utcnow

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MAX_DEPTH = 64  # platforms nest about 10 deep; far deeper JSON is hostile (RecursionError)
_SURROGATE = re.compile("[\ud800-\udfff]")
_UNSTORABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")  # NUL, surrogate escapes
LAST_WEBHOOK_RESOLUTION = timedelta(seconds=10)
CHANNEL_CACHE_SECONDS = 5.0


@dataclass
class NormalisedEvent:
    """One notification, platform-neutral. `dedupe_key` is unique per channel."""

    kind: str  # message | status | state | membership | other
    type: str
    dedupe_key: str
    payload: dict[str, Any]
    chat_id: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    is_group: bool = False
    from_me: bool = False
    from_bot: bool = False
    text: str | None = None
    message_id: str | None = None
    status: str | None = None
    error_code: str | None = None
    error_title: str | None = None
    occurred_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class BadPayload(ValueError):
    """The body is not what the platform sends (answers 400)."""


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


# --- channels, as a webhook sees them ---------------------------------------------------------

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
    What may lag by up to the TTL, in other processes only, is `enabled`: a channel disabled
    elsewhere keeps storing events for those seconds. In this process every Channel write clears
    the cache at once (the ORM listeners below)."""

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
            _touched.clear()


channel_cache = ChannelCache()


def _channel_written(_mapper, _connection, _target) -> None:
    channel_cache.clear()


for _event_name in ("after_insert", "after_update", "after_delete"):
    orm_event.listen(Channel, _event_name, _channel_written)



def read_body(limit: int) -> bytes:
    """The raw body, or 413 when it exceeds `limit` bytes (checked before reading it all)."""
    length = request.content_length
    if length is not None and length > limit:
        abort(413)
    stream = request.stream
    chunks: list[bytes] = []
    size = 0
    while size <= limit:  # a single read() may return less than asked for: loop to the end
        chunk = stream.read(limit + 1 - size)
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


def ack(**extra):
    return jsonify(ok=True, **extra), 200


def refuse(status: int, message: str):
    """A short, fixed answer: never echo input or internals back to the caller."""
    return jsonify(ok=False, error=message), status


_INSERT_STATEMENTS: dict = {}


def _batch_insert_statement(dialect: str):
    """INSERT … ON CONFLICT DO NOTHING RETURNING id for several rows (executemany, sent by
    SQLAlchemy as multi-row VALUES). The dialect's Insert with ON CONFLICT is not cacheable in
    SQLAlchemy 2.0, so it is compiled per call: fine for a batch, too slow for every webhook."""
    table = InboundEvent.__table__
    if dialect == "postgresql":
        insert = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database {dialect}")
    return insert(table).on_conflict_do_nothing(
        index_elements=["channel_id", "dedupe_key"]).returning(table.c.id)


def _single_insert_statement():
    """The same INSERT for one row as a typed textual statement, which SQLAlchemy compiles once
    and caches (same SQL on PostgreSQL and SQLite ≥ 3.35)."""
    stmt = _INSERT_STATEMENTS.get("single")
    if stmt is None:
        table = InboundEvent.__table__
        sql = (f"INSERT INTO {table.name} ({', '.join(ROW_COLUMNS)}) "  # noqa: S608 - constants
               f"VALUES ({', '.join(':' + name for name in ROW_COLUMNS)}) "
               "ON CONFLICT (channel_id, dedupe_key) DO NOTHING RETURNING id")
        stmt = text(sql).bindparams(
            *[bindparam(name, type_=table.c[name].type) for name in ROW_COLUMNS]
        ).columns(table.c.id)
        _INSERT_STATEMENTS["single"] = stmt
    return stmt


ROW_COLUMNS = ("workspace_id", "channel_id", "platform", "kind", "type", "dedupe_key", "chat_id",
               "sender", "sender_name", "is_group", "from_me", "from_bot", "text", "message_id",
               "status", "error_code", "error_title", "occurred_at", "received_at", "payload",
               "state", "attempts")


def _insert(rows: list[dict]) -> list[int]:
    connection = db.session.connection()
    if len(rows) == 1:
        result = connection.execute(_single_insert_statement(), rows[0])
    else:
        result = connection.execute(_batch_insert_statement(connection.dialect.name), rows)
    return list(result.scalars().all())


def persist_events(channel: ChannelRef | Channel, platform: str,
                   events: list[NormalisedEvent]) -> list[int]:
    """Insert the events (duplicates ignored), commit, and return the ids of the new rows.
    Raises StaleChannel when the channel no longer exists."""
    now = utcnow()
    rows = []
    seen = set()
    for event in events:
        if event.dedupe_key in seen:  # the same notification twice in one body
            continue
        seen.add(event.dedupe_key)
        rows.append({
            "workspace_id": channel.workspace_id, "channel_id": channel.id,
            "platform": platform, "kind": event.kind, "type": event.type[:60],
            "dedupe_key": event.dedupe_key[:255], "chat_id": _cut(event.chat_id, 120),
            "sender": _cut(event.sender, 120), "sender_name": _cut(event.sender_name, 255),
            "is_group": event.is_group, "from_me": event.from_me, "from_bot": event.from_bot,
            "text": event.text, "message_id": _cut(event.message_id, 255),
            "status": _cut(event.status, 40), "error_code": _cut(event.error_code, 40),
            "error_title": _cut(event.error_title, 500), "occurred_at": event.occurred_at,
            "received_at": now, "payload": event.payload, "state": "pending", "attempts": 0,
        })
    try:
        new_ids = _insert(rows) if rows else []
        _touch_channel(channel.id, now)
        db.session.commit()
    except IntegrityError as exc:  # the only constraint left is the channel's foreign key
        db.session.rollback()
        channel_cache.clear()
        raise StaleChannel(channel.id) from exc
    return new_ids


_touched: dict[int, float] = {}  # channel id → when this process last wrote last_webhook_at


def _touch_channel(channel_id: int, now: datetime | None = None) -> None:
    """Record the last webhook time, at most once per LAST_WEBHOOK_RESOLUTION (no hot row, and
    no statement at all when this process wrote it within that time)."""
    clock = time.monotonic()
    last = _touched.get(channel_id)
    if last is not None and clock - last < LAST_WEBHOOK_RESOLUTION.total_seconds():
        return
    now = now or utcnow()
    db.session.execute(
        update(Channel)
        .where(Channel.id == channel_id)
        .where((Channel.last_webhook_at.is_(None))
               | (Channel.last_webhook_at < now - LAST_WEBHOOK_RESOLUTION))
        .values(last_webhook_at=now)
        .execution_options(synchronize_session=False)
    )
    _touched[channel_id] = clock


def from_epoch(value) -> datetime | None:
    """A platform's unix timestamp (int or numeric string) as naive UTC, or None if implausible."""
    if isinstance(value, bool):
        return None
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    if 0 < seconds < 10**11:
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    return None


def _cut(value: str | None, length: int) -> str | None:
    return value[:length] if isinstance(value, str) else value


def enqueue_events(event_ids: list[int]) -> int:
    """Queue processing jobs; returns how many were queued (0 when Redis is unavailable)."""
    if not event_ids:
        return 0
    queue = current_app.extensions["relaydesk_queues"]["pipeline"]
    try:
        with queue.connection.pipeline() as pipe:  # one round trip for all the jobs
            for event_id in event_ids:
                queue.enqueue("app.jobs.events.process_event", event_id,
                              job_id=f"event-{event_id}", pipeline=pipe,
                              result_ttl=300, failure_ttl=86400)
            pipe.execute()
        return len(event_ids)
    except Exception:  # noqa: BLE001 - Redis down: rows stay pending, maintenance re-enqueues
        log.warning("could not enqueue %d event(s); they stay pending", len(event_ids),
                    exc_info=True)
        return 0
