"""What a notification becomes: platform-neutral events, then `inbound_event` rows.

Every webhook authenticates (app/webhooks/channels.py), normalises its body into
`NormalisedEvent`s, turns them into rows with `event_rows(channel, platform, events)` and hands
the rows to `app.webhooks.store.store_events`: persist first, then enqueue
(docs/contracts.md "Data flow").

* A row's `dedupe_key` is unique per channel: the same notification delivered twice (or twice
  in one body, `event_rows`; or by concurrent requests, `unique_rows`) is one row. `event_rows`
  cuts the bounded texts to their columns' lengths; new rows are `pending`, with no attempt.
* `ROW_COLUMNS` are the columns both storage paths write, in one order.
* `DatabaseUnavailable`: the rows could not be stored, nothing was acknowledged (503 +
  Retry-After, app/webhooks/http.py; the platform delivers again and the dedupe key makes that
  harmless).
* `from_epoch` reads a platform's unix timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from app.models.base import utcnow

if TYPE_CHECKING:
    from app.models import Channel
    from app.webhooks.channels import ChannelRef


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


class DatabaseUnavailable(Exception):
    """The events could not be stored: nothing was acknowledged (answers 503 + Retry-After, the
    platform delivers again and the dedupe key makes that harmless)."""


ROW_COLUMNS = ("workspace_id", "channel_id", "platform", "kind", "type", "dedupe_key", "chat_id",
               "sender", "sender_name", "is_group", "from_me", "from_bot", "text", "message_id",
               "status", "error_code", "error_title", "occurred_at", "received_at", "payload",
               "state", "attempts")


def event_rows(channel: ChannelRef | Channel, platform: str,
               events: list[NormalisedEvent], now: datetime | None = None) -> list[dict]:
    """The inbound_event rows of a channel's events (the same notification twice in one body is
    one row)."""
    now = now or utcnow()
    rows = []
    seen = set()
    for event in events:
        if event.dedupe_key in seen:
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
    return rows


def unique_rows(rows: list[dict]) -> list[dict]:
    """One row per (channel, dedupe key): concurrent deliveries of one notification can share a
    batch."""
    if len(rows) < 2:
        return rows
    seen = set()
    unique = []
    for row in rows:
        key = (row["channel_id"], row["dedupe_key"])
        if key not in seen:
            seen.add(key)
            unique.append(row)
    return unique


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
