"""What a notification becomes: platform-neutral events.

Every webhook authenticates (app/webhooks/channels.py), normalises its body into
`NormalisedEvent`s, turns them into rows with app/store.py `event_rows(channel, platform,
events)` and hands the rows to app/webhooks/persist.py `store_events`: persist first, then
enqueue (docs/contracts.md "Data flow").

* A `NormalisedEvent`'s `dedupe_key` is unique per channel: the same notification delivered
  twice is one row.
* `DatabaseUnavailable`: the rows could not be stored, nothing was acknowledged (503 +
  Retry-After, app/webhooks/http.py; the platform delivers again and the dedupe key makes that
  harmless).
* `from_epoch` reads a platform's unix timestamp.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


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
