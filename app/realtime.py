"""Real time: what happens in a workspace reaches its members' open pages within a second.

The channel is a Redis Stream per workspace (`relaydesk:live:<workspace id>`), written with
XADD (trimmed to about `STREAM_LENGTH` entries) and read by the web processes' Server-Sent
Events endpoint (`GET /inbox/stream`, app/views/live.py) with XREAD BLOCK. Whichever process
writes (a worker handling a webhook, a web process where an agent replies), every web process
reads the same stream, and an entry's id is the SSE event id: a page that reconnects sends it
back as `Last-Event-ID` and gets what it missed, as long as the stream still holds it (else a
`reset` event tells the page to reload what it shows). Pub/sub was the alternative: it loses
whatever is published while a page reconnects (a process recycling its stream threads, a
network blip), and the inbox must not.

Events (`EVENTS`) carry small payloads: ids, the conversation id, direction, a preview of at
most 160 characters — never a secret. `message.new` (an inbound message stored, an outbound
created), `message.status` (a delivery status moved), `conversation.updated` (status,
assignee, unread), `typing` (a teammate typing in a conversation), `presence` (a member's
availability or presence changed).

Publishing happens after the transaction commits and never fails the caller: `defer()` keeps
an event on the SQLAlchemy session (`session.info`); the session's `after_commit` hook sends
what the transaction deferred in one Redis pipeline (one round trip), a rollback drops it.
Messages deferred by their chat (`defer_message`: the inbound and outbound writers do not know
the conversation's id) are given it by one SELECT on a connection of their own, after the
commit. When Redis does not answer, the events are logged and dropped, and publishing pauses
for `PAUSE_AFTER_FAILURE` so that a Redis outage does not slow every batch by a connect
timeout.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass

from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy import select, tuple_

from app.models.conversations import PREVIEW_LENGTH

log = logging.getLogger(__name__)

EVENTS = ("message.new", "message.status", "conversation.updated", "typing", "presence")
STREAM_KEY = "relaydesk:live:{}"
STREAM_LENGTH = 5000  # entries kept per workspace (approximately: XADD MAXLEN ~)
PAUSE_AFTER_FAILURE = 5.0  # seconds without publishing after Redis failed to answer
SESSION_KEY = "relaydesk_live"
EVENT_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")

_paused_until = 0.0
_lock = threading.Lock()


def stream_key(workspace_id: int) -> str:
    return STREAM_KEY.format(int(workspace_id))


def _redis():
    return current_app.extensions["relaydesk_redis"]


def short(text: str | None) -> str | None:
    """A preview: one line, at most PREVIEW_LENGTH characters."""
    if not text:
        return None
    line = " ".join(str(text).split())
    return (line[:PREVIEW_LENGTH - 1] + "…") if len(line) > PREVIEW_LENGTH else (line or None)


def publish(workspace_id: int, event: str, data: dict) -> bool:
    """Send one event now (outside a transaction: typing, presence). False when Redis did not
    take it (logged); never raises."""
    return publish_many([(workspace_id, event, data)])


def publish_many(items: list[tuple[int, str, dict]]) -> bool:
    """Send events in one pipeline round trip; False when Redis did not take them."""
    global _paused_until
    if not items:
        return True
    unknown = [event for _w, event, _d in items if event not in EVENTS]
    if unknown:  # a programming error, not an outage
        raise ValueError(f"unknown real-time event {unknown[0]!r}")
    if time.monotonic() < _paused_until:
        log.debug("real time paused after a Redis failure: %d events dropped", len(items))
        return False
    try:
        pipe = _redis().pipeline(transaction=False)
        for workspace_id, event, data in items:
            pipe.xadd(stream_key(workspace_id),
                      {"e": event, "d": json.dumps(data, separators=(",", ":"), default=str)},
                      maxlen=STREAM_LENGTH, approximate=True)
        pipe.execute()
        return True
    except Exception:  # noqa: BLE001 - Redis down: the work goes on without real time
        with _lock:
            _paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
        log.warning("real time: %d events not published (Redis did not answer)", len(items),
                    exc_info=True)
        return False


# --- after the commit -------------------------------------------------------------------------

@dataclass(frozen=True)
class ChatMessage:
    """A message of a chat whose conversation id is looked up after the commit."""

    workspace_id: int
    channel_id: int
    chat_id: str
    direction: str  # in, out
    message_id: int | None
    text: str | None
    kind: str = "message"  # message (inbound event) or outbound


def _pending(session) -> dict:
    return session.info.setdefault(SESSION_KEY, {"events": [], "messages": []})


def defer(session, workspace_id: int, event: str, data: dict) -> None:
    """Publish `event` when `session`'s transaction commits (dropped if it rolls back)."""
    _pending(session)["events"].append((workspace_id, event, data))


def defer_message(session, message: ChatMessage) -> None:
    """Publish `message.new` for a chat's message when the transaction commits, with its
    conversation's id (read then)."""
    _pending(session)["messages"].append(message)


def _conversation_ids(keys: set[tuple[int, int, str]]) -> dict[tuple, dict]:
    from app.extensions import db
    from app.models import Conversation

    table = Conversation.__table__
    found = {}
    with db.engine.connect() as connection:
        rows = connection.execute(
            select(table.c.id, table.c.workspace_id, table.c.channel_id, table.c.chat_id,
                   table.c.kind, table.c.status, table.c.assignee_id, table.c.unread_count)
            .where(tuple_(table.c.workspace_id, table.c.channel_id, table.c.chat_id)
                   .in_(sorted(keys))))
        for row in rows:
            found[(row.workspace_id, row.channel_id, row.chat_id)] = dict(row._mapping)
    return found


def message_events(messages: list[ChatMessage], conversations: dict) -> list[tuple]:
    items = []
    for message in messages:
        conversation = conversations.get(
            (message.workspace_id, message.channel_id, message.chat_id)) or {}
        items.append((message.workspace_id, "message.new", {
            "conversation_id": conversation.get("id"), "channel_id": message.channel_id,
            "chat_id": message.chat_id, "direction": message.direction,
            "message_id": message.message_id, "source": message.kind,
            "kind": conversation.get("kind"), "status": conversation.get("status"),
            "assignee_id": conversation.get("assignee_id"),
            "unread": conversation.get("unread_count"), "preview": short(message.text)}))
    return items


def _flush(session) -> None:
    pending = session.info.pop(SESSION_KEY, None)
    if not pending or not (pending["events"] or pending["messages"]):
        return
    try:
        items = list(pending["events"])
        messages = pending["messages"]
        if messages:
            keys = {(m.workspace_id, m.channel_id, m.chat_id) for m in messages}
            items = message_events(messages, _conversation_ids(keys)) + items
        publish_many(items)
    except Exception:  # noqa: BLE001 - never the caller's failure
        log.warning("real time: events of a commit not published", exc_info=True)


def _drop(session, *_args) -> None:
    session.info.pop(SESSION_KEY, None)


def install_session_hooks(session_class) -> None:
    """Publish what a transaction deferred when it commits; forget it when it rolls back."""
    sa_event.listen(session_class, "after_commit", _flush)
    sa_event.listen(session_class, "after_rollback", _drop)


# --- reading ----------------------------------------------------------------------------------

def valid_event_id(value: str | None) -> str | None:
    value = (value or "").strip()
    return value if EVENT_ID.fullmatch(value) else None


def _id_tuple(value: str) -> tuple[int, int]:
    left, _, right = value.partition("-")
    return int(left), int(right)


class Reader:
    """One page's reader of its workspace's stream (a Redis connection of its own, for XREAD
    BLOCK)."""

    def __init__(self, workspace_id: int, block_seconds: float):
        from redis import Redis

        self.key = stream_key(workspace_id)
        self.block_ms = max(1, int(block_seconds * 1000))
        url = current_app.config["REDIS_URL"] if has_app_context() else None
        self.redis = Redis.from_url(url, socket_connect_timeout=2,
                                    socket_timeout=block_seconds + 5, decode_responses=True)

    def start(self, last_id: str | None) -> tuple[str, bool]:
        """Where to read from: (id, lost). Without `last_id`: the stream's newest entry (only
        what comes next). With one: from there; `lost` when the stream no longer holds that
        entry and has trimmed entries after it (the page should reload what it shows)."""
        newest = self.redis.xrevrange(self.key, count=1)
        if last_id is None:
            return (newest[0][0] if newest else "0-0"), False
        oldest = self.redis.xrange(self.key, count=1)
        if oldest and _id_tuple(oldest[0][0]) > _id_tuple(last_id):
            kept = self.redis.xrange(self.key, min=last_id, max=last_id, count=1)
            if not kept and self.redis.xlen(self.key) >= STREAM_LENGTH:
                return (newest[0][0] if newest else "0-0"), True
        return last_id, False

    def read(self, after: str) -> list[tuple[str, str, str]]:
        """Entries after `after`, waiting up to the block time: [(id, event, json data)]."""
        answer = self.redis.xread({self.key: after}, count=200, block=self.block_ms)
        entries = []
        for _key, rows in answer or []:
            for entry_id, fields in rows:
                entries.append((entry_id, fields.get("e", ""), fields.get("d", "{}")))
        return entries

    def close(self) -> None:
        try:
            self.redis.close()
        except Exception:  # noqa: BLE001 - a connection already gone
            log.debug("live reader: close failed", exc_info=True)
