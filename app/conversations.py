"""A conversation's thread: its chat's messages in and out and its dispatch notes, newest first.

The items come from three tables, read by the chat's (workspace, channel, chat id) on the
thread indexes of migration 0020:

* `in`: the chat's inbound message events (inbound_event, kind `message`), each with the
  command log that handled it, when there is one (its outcome, a link to its trace);
* `out`: the messages sent to the chat (outbound_message; dispatches are not sent to the
  customer's chat) with their state and delivery status;
* `note`: the dispatch notes: each order a command of this chat passed to a provider
  (command_order accepted with a provider), "order 2274209 refill → provider X as EXT-88231";
* `team_note` (with `team_notes=True`, the inbox): the internal notes team members wrote in the
  conversation (conversation_note), never sent to the chat.

A message's attachments (images, documents, locations, contacts: app/models/media.py) come
with it, as `details["media"]` (`attach_media`, one query per page).

Paging is by keyset: items are ordered by (time, kind rank, id) descending, and the cursor is
the last item's key (`after`: ascending instead, the items newer than the cursor, oldest
first: the inbox appends what came since the newest item it shows); each table is asked for at
most one page after the cursor (an index range scan, however long the chat), the tables'
pages are merged and cut to the page. Filters (`outcome`, `order_id`) narrow the thread to the
commands that match: their messages, the replies to them and their notes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from flask_appbuilder.security.sqla.models import User
from sqlalchemy import and_, exists, or_, select

from app.extensions import db
from app.models import (CommandLog, CommandOrder, ConversationNote, InboundEvent, Media,
                        OutboundMessage, Provider)

# order of items that share a time, newest first: a reply after its note after its message
RANK = {"in": 0, "note": 1, "out": 2, "team_note": 3}
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?)_([0-3])_(\d{1,19})")
ORDER_ID = re.compile(r"[0-9A-Za-z_-]{1,20}")


class ThreadArgumentError(ValueError):
    """A thread argument that cannot be used (the message is fit for the person)."""


@dataclass(frozen=True)
class Cursor:
    at: datetime
    rank: int
    id: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}_{self.rank}_{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        match = _CURSOR.fullmatch(text or "")
        if match is None:
            raise ThreadArgumentError("before: not a position of this thread")
        try:
            at = datetime.fromisoformat(match.group(1))
        except ValueError as exc:
            raise ThreadArgumentError("before: not a position of this thread") from exc
        return cls(at, int(match.group(2)), int(match.group(3)))


@dataclass
class Item:
    kind: str  # in, out, note
    at: datetime
    id: int
    text: str | None = None
    details: dict = field(default_factory=dict)

    @property
    def key(self) -> tuple:
        return (self.at, RANK[self.kind], self.id)

    def as_json(self) -> dict:
        return {"kind": self.kind, "at": self.at.isoformat(), "id": self.id, "text": self.text,
                **self.details}


@dataclass
class Page:
    items: list[Item]
    next_cursor: str | None


def _after(cursor: Cursor | None, kind: str, at_column, id_column):
    """The rows of one table that come after `cursor` in the thread's order."""
    if cursor is None:
        return None
    rank = RANK[kind]
    if rank < cursor.rank:
        return at_column <= cursor.at
    if rank > cursor.rank:
        return at_column < cursor.at
    return or_(at_column < cursor.at, and_(at_column == cursor.at, id_column < cursor.id))


def _since(cursor: Cursor | None, kind: str, at_column, id_column):
    """The rows of one table that come after `cursor` in ascending order (newer)."""
    if cursor is None:
        return None
    rank = RANK[kind]
    if rank > cursor.rank:
        return at_column >= cursor.at
    if rank < cursor.rank:
        return at_column > cursor.at
    return or_(at_column > cursor.at, and_(at_column == cursor.at, id_column > cursor.id))


def _where(*conditions):
    return [c for c in conditions if c is not None]


def thread(conversation, *, before: Cursor | None = None, outcome: str | None = None,
           order_id: str | None = None, limit: int = PAGE_SIZE, after: Cursor | None = None,
           team_notes: bool = False) -> Page:
    """One page of the conversation's thread, newest first, after `before` when given; with
    `after`, the items newer than it, oldest first (`before` is then ignored); `team_notes`
    adds the inbox's internal notes."""
    if after is not None:
        before = None
    ascending = after is not None

    def page_of(kind, at_column, id_column):
        if ascending:
            return _since(after, kind, at_column, id_column)
        return _after(before, kind, at_column, id_column)

    def order(at_column, id_column):
        if ascending:
            return (at_column.asc(), id_column.asc())
        return (at_column.desc(), id_column.desc())
    ws, channel, chat = conversation.workspace_id, conversation.channel_id, conversation.chat_id
    ie, cl, co = InboundEvent.__table__, CommandLog.__table__, CommandOrder.__table__
    om, provider = OutboundMessage.__table__, Provider.__table__
    take = limit + 1

    def matching_command(log):
        """The filters on a command log row (None: no filter)."""
        return _where(log.c.outcome == outcome if outcome else None,
                      exists().where(co.c.command_log_id == log.c.id,
                                     co.c.order_id == order_id) if order_id else None)

    filtered = bool(outcome or order_id)

    inbound = (select(ie.c.id, ie.c.received_at, ie.c.text, ie.c.sender_name, ie.c.from_me,
                      ie.c.type, ie.c.state, cl.c.id.label("log_id"), cl.c.outcome)
               .select_from(ie.outerjoin(cl, cl.c.inbound_event_id == ie.c.id))
               .where(ie.c.workspace_id == ws, ie.c.channel_id == channel,
                      ie.c.chat_id == chat, ie.c.kind == "message",
                      *_where(page_of("in", ie.c.received_at, ie.c.id)),
                      *matching_command(cl))
               .order_by(*order(ie.c.received_at, ie.c.id)).limit(take))

    replied = cl.alias("replied")
    outbound = (select(om.c.id, om.c.created_at, om.c.text, om.c.purpose, om.c.state,
                       om.c.delivery_status, om.c.error_code, om.c.inbound_event_id,
                       om.c.last_error)
                .where(om.c.workspace_id == ws, om.c.channel_id == channel,
                       om.c.chat_id == chat, om.c.purpose != "dispatch",
                       *_where(page_of("out", om.c.created_at, om.c.id)))
                .order_by(*order(om.c.created_at, om.c.id)).limit(take))
    if filtered:
        outbound = outbound.where(exists().where(
            replied.c.inbound_event_id == om.c.inbound_event_id,
            *matching_command(replied)))

    notes = (select(co.c.id, co.c.created_at, co.c.order_id, co.c.action, co.c.external_id,
                    co.c.outbound_message_id, co.c.command_log_id, cl.c.outcome,
                    provider.c.name.label("provider"))
             .select_from(co.join(cl, co.c.command_log_id == cl.c.id)
                          .outerjoin(provider, provider.c.id == co.c.provider_id))
             .where(cl.c.workspace_id == ws, cl.c.channel_id == channel, cl.c.chat_id == chat,
                    co.c.ok.is_(True), co.c.provider_id.isnot(None),
                    *_where(page_of("note", co.c.created_at, co.c.id),
                            # a command's orders are written after its log is opened
                            cl.c.created_at <= before.at if before else None,
                            cl.c.outcome == outcome if outcome else None,
                            co.c.order_id == order_id if order_id else None))
             .order_by(*order(co.c.created_at, co.c.id)).limit(take))

    session = db.session
    items: list[Item] = []
    for row in session.execute(inbound):
        items.append(Item("in", row.received_at, row.id, row.text, {
            "sender_name": row.sender_name, "from_me": bool(row.from_me), "type": row.type,
            "state": row.state, "command_log_id": row.log_id, "outcome": row.outcome}))
    for row in session.execute(outbound):
        items.append(Item("out", row.created_at, row.id, row.text, {
            "purpose": row.purpose, "state": row.state,
            "delivery_status": row.delivery_status, "error_code": row.error_code,
            "inbound_event_id": row.inbound_event_id, "last_error": row.last_error}))
    for row in session.execute(notes):
        items.append(Item("note", row.created_at, row.id, None, {
            "order_id": row.order_id, "action": row.action, "provider": row.provider,
            "external_id": row.external_id, "command_log_id": row.command_log_id,
            "outcome": row.outcome, "outbound_message_id": row.outbound_message_id}))
    if team_notes and not filtered:
        tn = ConversationNote.__table__
        user = User.__table__
        memos = (select(tn.c.id, tn.c.created_at, tn.c.text, tn.c.author_id,
                        user.c.username, user.c.first_name, user.c.last_name)
                 .select_from(tn.outerjoin(user, user.c.id == tn.c.author_id))
                 .where(tn.c.conversation_id == conversation.id,
                        *_where(page_of("team_note", tn.c.created_at, tn.c.id)))
                 .order_by(*order(tn.c.created_at, tn.c.id)).limit(take))
        for row in session.execute(memos):
            name = " ".join(p for p in (row.first_name, row.last_name) if p) or row.username
            items.append(Item("team_note", row.created_at, row.id, row.text, {
                "author_id": row.author_id, "author": name}))
    items.sort(key=lambda item: item.key, reverse=not ascending)
    page = items[:limit]
    more = len(items) > limit
    attach_media(ws, page)
    next_cursor = Cursor(*page[-1].key).encode() if more and page else None
    return Page(page, next_cursor)


MEDIA_FIELDS = ("id", "kind", "state", "reason", "mime_type", "size", "file_name", "caption",
                "latitude", "longitude", "place_name", "address", "contact_name",
                "contact_phone")


def attach_media(workspace_id: int, items: list[Item]) -> None:
    """Each message's attachments (app/models/media.py) as `details["media"]`: a list of
    dicts (MEDIA_FIELDS), in their order; one query for the page."""
    events = [item.id for item in items if item.kind == "in"]
    sent = [item.id for item in items if item.kind == "out"]
    if not events and not sent:
        return
    table = Media.__table__
    wanted = []
    if events:
        wanted.append(table.c.inbound_event_id.in_(events))
    if sent:
        wanted.append(table.c.outbound_message_id.in_(sent))
    found: dict[tuple[str, int], list[dict]] = {}
    for row in db.session.execute(
            select(table.c.inbound_event_id, table.c.outbound_message_id, table.c.direction,
                   *(table.c[name] for name in MEDIA_FIELDS))
            .where(table.c.workspace_id == workspace_id, or_(*wanted))
            .order_by(table.c.position, table.c.id)):
        key = ("in", row.inbound_event_id) if row.direction == "in" \
            else ("out", row.outbound_message_id)
        found.setdefault(key, []).append({name: getattr(row, name) for name in MEDIA_FIELDS})
    for item in items:
        if (item.kind, item.id) in found:
            item.details["media"] = found[(item.kind, item.id)]


def thread_arguments(args) -> dict:
    """`thread`'s keyword arguments from a request's query string (`before`, `outcome`,
    `order_id`, `limit`). :raise ThreadArgumentError: one of them cannot be used."""
    found: dict = {}
    before = args.get("before", "")
    if before:
        found["before"] = Cursor.decode(before)
    outcome = (args.get("outcome") or "").strip()
    if outcome:
        if len(outcome) > 60 or "\x00" in outcome:
            raise ThreadArgumentError("outcome: at most 60 characters")
        found["outcome"] = outcome
    order_id = (args.get("order_id") or "").strip()
    if order_id:
        if not ORDER_ID.fullmatch(order_id):
            raise ThreadArgumentError("order_id: up to 20 letters or digits")
        found["order_id"] = order_id
    limit = args.get("limit", "")
    if limit:
        if not re.fullmatch(r"[0-9]{1,4}", limit) or not 1 <= int(limit) <= MAX_PAGE_SIZE:
            raise ThreadArgumentError(f"limit: a whole number from 1 to {MAX_PAGE_SIZE}")
        found["limit"] = int(limit)
    return found


def outcomes_of(conversation) -> list[str]:
    """The outcomes the conversation's commands had (for the thread's filter)."""
    cl = CommandLog.__table__
    rows = db.session.execute(
        select(cl.c.outcome).distinct()
        .where(cl.c.workspace_id == conversation.workspace_id,
               cl.c.channel_id == conversation.channel_id,
               cl.c.chat_id == conversation.chat_id, cl.c.outcome.isnot(None))
        .order_by(cl.c.outcome).limit(50))
    return [outcome for (outcome,) in rows]
