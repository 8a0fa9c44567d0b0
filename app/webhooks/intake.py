"""What every webhook does after authenticating: persist first, then enqueue (DESIGN "Data flow").

* `read_body(limit)` enforces the size limit before anything is parsed (413).
* `persist_events(channel, events)` inserts one row per notification with
  INSERT … ON CONFLICT (channel_id, dedupe_key) DO NOTHING, commits, and returns the ids that are
  new. Duplicates therefore cost one round trip and change nothing.
* `enqueue_events(ids)` hands the new ids to RQ. If Redis is down the rows stay `pending` and the
  maintenance runner picks them up later: the webhook still answers 200, nothing is lost.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import abort, current_app, jsonify, request
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import Channel, InboundEvent
from app.models.base import utcnow

log = logging.getLogger(__name__)

MiB = 1024 * 1024
LAST_WEBHOOK_RESOLUTION = timedelta(seconds=10)


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


def read_body(limit: int) -> bytes:
    """The raw body, or 413 when it exceeds `limit` bytes (checked before reading it all)."""
    length = request.content_length
    if length is not None and length > limit:
        abort(413)
    data = request.stream.read(limit + 1)
    if len(data) > limit:
        abort(413)
    return data


def ack(**extra):
    return jsonify(ok=True, **extra), 200


def refuse(status: int, message: str):
    """A short, fixed answer: never echo input or internals back to the caller."""
    return jsonify(ok=False, error=message), status


def _insert(rows: list[dict]):
    dialect = db.session.get_bind().dialect.name
    table = InboundEvent.__table__
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(rows).on_conflict_do_nothing(
            index_elements=["channel_id", "dedupe_key"])
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(rows).on_conflict_do_nothing(
            index_elements=["channel_id", "dedupe_key"])
    else:  # pragma: no cover - only PostgreSQL and SQLite are supported
        raise RuntimeError(f"unsupported database {dialect}")
    return db.session.execute(stmt.returning(table.c.id)).scalars().all()


def persist_events(channel: Channel, platform: str, events: list[NormalisedEvent]) -> list[int]:
    """Insert the events (duplicates ignored), commit, and return the ids of the new rows."""
    if not events:
        _touch_channel(channel.id)
        db.session.commit()
        return []
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
    new_ids = _insert(rows)
    _touch_channel(channel.id, now)
    db.session.commit()
    return list(new_ids)


def _touch_channel(channel_id: int, now: datetime | None = None) -> None:
    """Record the last webhook time, at most once per LAST_WEBHOOK_RESOLUTION (no hot row)."""
    now = now or utcnow()
    db.session.execute(
        update(Channel)
        .where(Channel.id == channel_id)
        .where((Channel.last_webhook_at.is_(None))
               | (Channel.last_webhook_at < now - LAST_WEBHOOK_RESOLUTION))
        .values(last_webhook_at=now)
        .execution_options(synchronize_session=False)
    )


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
        with queue.connection.pipeline() as pipe:
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
