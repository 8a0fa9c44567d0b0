"""The inbox (issue 16): conversations handled by the team, human takeover, internal notes with
@mentions, quick replies, Meta's 24-hour window.

The screens and JSON endpoints are app/views/inbox.py; this module holds the rules, so the
REST endpoints, the screens and the tests share them:

* `list_conversations(...)`: a workspace's conversations, newest activity first, by keyset
  (`last_activity_at`, `id`), filtered by view (mine, unassigned, all, mentions), status,
  channel, the contact's tag and a search across message text (received and sent);
* `send_reply(...)`: a team member's reply through the same outbound machinery as the bot's
  (purpose `agent`, idempotency key `agent:<conversation>:<client id>`: a double click sends
  once). The first reply pauses the bot (`bot_paused_at`/`bot_paused_by_id`), sets
  `first_response_at` when the round has none yet, `last_agent_reply_at`, and assigns the
  conversation to the replier when nobody has it;
* `add_note(...)`: an internal note, never sent; `@username` of a workspace member mentions them;
* `set_status`, `assign`, `take_over`, `give_back`, `mark_read`;
* `window(conversation)`: Meta's 24-hour customer-service window: free text to a WhatsApp
  Cloud API contact only within 24 hours of their last message.

Every function raises `InboxError(status, message)` for what cannot be done: the message is
fit for the person; the views answer it as JSON with that status.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_appbuilder.security.sqla.models import User
from flask_babel import gettext as _
from sqlalchemy import and_, case, func, or_, select, tuple_, update
from sqlalchemy.orm import selectinload

from app import realtime
from app.extensions import db
from app.labels import code_label
from app.models import (Conversation, ConversationMention, ConversationNote, InboundEvent,
                        LinkedUser, OutboundMessage, Workspace, WorkspaceMember)
from app.models.base import utcnow
from app.models.conversations import CONVERSATION_STATUSES

#: Meta's customer-service window: free text only this long after the contact's last message
WINDOW = timedelta(hours=24)
#: the longest reply or note (a longer reply is split into parts by the sender as always)
MAX_TEXT = 4096
#: the composer's id of one reply (a double click repeats it: the same message, sent once)
CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
VIEWS = ("all", "mine", "unassigned", "mentions")
TAG = re.compile(r"[^,]{1,60}")
MAX_SEARCH = 100
#: a list position: the last row's activity time and id
_CURSOR = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?)_(\d{1,19})")
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.+-]{1,64})")

class InboxError(Exception):
    """What cannot be done, with its HTTP status and a message fit for the person."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


# --- reading --------------------------------------------------------------------------------

def member_user_ids(workspace_id: int) -> set[int]:
    return set(db.session.execute(select(WorkspaceMember.user_id).where(
        WorkspaceMember.workspace_id == workspace_id)).scalars())


def members(workspace_id: int) -> list[dict]:
    """The workspace's members (for assignment and @mentions): id, username, name."""
    rows = db.session.execute(
        select(User.id, User.username, User.first_name, User.last_name)
        .join(WorkspaceMember, WorkspaceMember.user_id == User.id)
        .where(WorkspaceMember.workspace_id == workspace_id, User.active.is_(True))
        .order_by(User.username)).all()
    return [{"id": r.id, "username": r.username, "name": display_name(r)} for r in rows]


def display_name(user) -> str:
    if user is None:
        return ""
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return name or user.username


def window(conversation, now: datetime | None = None) -> dict | None:
    """Meta's 24-hour window of a conversation on a Meta channel (None on other platforms):
    {"open": bool, "closes_at": datetime | None}."""
    channel = conversation.channel
    if channel is None or channel.kind != "meta":
        return None
    now = now or utcnow()
    last = conversation.last_inbound_at
    closes = last + WINDOW if last is not None else None
    return {"open": closes is not None and now < closes, "closes_at": closes}


def window_message() -> str:
    return _("This contact last wrote more than 24 hours ago. Meta allows free text only within "
             "24 hours of the customer's last message: you can write again when they do. "
             "Approved message templates, which Meta allows at any time, are not available "
             "yet.")


def failure_words(error_code: str | None, last_error: str | None) -> str:
    """Why a message failed, in words."""
    if error_code == "131047":
        return _("Not sent: outside the 24-hour window. Meta allows free text only within 24 "
                 "hours of the customer's last message.")
    if error_code == "channel_disabled":
        return _("Not sent: the channel is disabled.")
    if error_code == "too_many_attempts":
        return _("Not sent: gave up after several attempts.")
    if last_error:
        return _("Not sent: %(reason)s", reason=last_error[:300])
    return _("Not sent.")


def delivery_words(details: dict) -> dict:
    """An outbound item's state for the thread: {"code", "label"} (`failed` with the
    reason)."""
    state, delivery = details.get("state"), details.get("delivery_status")
    if state == "failed" or delivery == "failed":
        return {"code": "failed",
                "label": failure_words(details.get("error_code"), details.get("last_error"))}
    if delivery == "read":
        return {"code": "read", "label": _("Read")}
    if delivery == "delivered":
        return {"code": "delivered", "label": _("Delivered")}
    if state == "sent":
        return {"code": "sent", "label": _("Sent")}
    return {"code": state or "pending", "label": str(code_label("outbound_state", state))}


@dataclass
class ListArgs:
    view: str = "all"
    status: str | None = None
    channel_id: int | None = None
    tag: str | None = None
    q: str | None = None
    before: tuple[datetime, int] | None = None
    limit: int = PAGE_SIZE


def list_arguments(args) -> ListArgs:
    """The list's arguments from a query string. :raise InboxError: 400, one is not usable."""
    found = ListArgs()
    view = (args.get("view") or "all").strip()
    if view not in VIEWS:
        raise InboxError(400, _("view: one of %(values)s", values=", ".join(VIEWS)))
    found.view = view
    status = (args.get("status") or "").strip()
    if status:
        if status not in CONVERSATION_STATUSES:
            raise InboxError(400, _("status: one of %(values)s",
                                    values=", ".join(CONVERSATION_STATUSES)))
        found.status = status
    channel = (args.get("channel") or "").strip()
    if channel:
        if not (channel.isascii() and channel.isdigit() and len(channel) <= 9):
            raise InboxError(400, _("channel: a channel's number"))
        found.channel_id = int(channel)
    tag = (args.get("tag") or "").strip()
    if tag:
        if not TAG.fullmatch(tag) or "\x00" in tag:
            raise InboxError(400, _("tag: one tag, at most 60 characters"))
        found.tag = tag
    q = (args.get("q") or "").strip()
    if q:
        if len(q) > MAX_SEARCH or "\x00" in q:
            raise InboxError(400, _("q: at most %(max)d characters", max=MAX_SEARCH))
        found.q = q
    before = args.get("before") or ""
    if before:
        match = _CURSOR.fullmatch(before)
        try:
            at = datetime.fromisoformat(match.group(1)) if match else None
        except ValueError:
            at = None
        if at is None:
            raise InboxError(400, _("before: not a position of this list"))
        found.before = (at, int(match.group(2)))
    limit = args.get("limit") or ""
    if limit:
        if not re.fullmatch(r"[0-9]{1,4}", limit) or not 1 <= int(limit) <= MAX_PAGE_SIZE:
            raise InboxError(400, _("limit: a whole number from 1 to %(max)d",
                                    max=MAX_PAGE_SIZE))
        found.limit = int(limit)
    return found


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


#: a search matching at most this many messages per table is answered from the matches (the
#: trigram index finds them); one matching more (a word in most messages) walks the list
#: newest first instead, testing each conversation's messages, and stops at the page
SEARCH_MATCHES = 5000


def _text_search(workspace_id: int, q: str):
    """The condition on `conversation` of a search across message text (received and sent),
    the contact's name and the chat id, `q` taken literally, any case. Two plans, chosen by
    how many messages match (docs/ARCHITECTURE.md "Inbox"): few (a word, an order id) → the
    chats of the matching messages, found through the trigram indexes; many (a word in most
    messages) → a per-conversation EXISTS, which the list's index walk stops early."""
    c, ie, om = Conversation, InboundEvent, OutboundMessage
    pattern = _like(q)
    received = select(ie.channel_id, ie.chat_id).where(
        ie.workspace_id == workspace_id, ie.kind == "message",
        ie.text.ilike(pattern, escape="\\"))
    sent = select(om.channel_id, om.chat_id).where(
        om.workspace_id == workspace_id, om.purpose != "dispatch",
        om.text.ilike(pattern, escape="\\"))
    own = [c.contact_name.ilike(pattern, escape="\\"), c.chat_id.ilike(pattern, escape="\\")]
    pairs: set[tuple[int, str]] = set()
    for matches in (received, sent):
        rows = db.session.execute(matches.limit(SEARCH_MATCHES + 1)).all()
        if len(rows) > SEARCH_MATCHES:
            break
        pairs.update((row[0], row[1]) for row in rows)
    else:
        if not pairs:
            return or_(*own)
        return or_(tuple_(c.channel_id, c.chat_id).in_(sorted(pairs)), *own)
    return or_(
        received.where(ie.channel_id == c.channel_id, ie.chat_id == c.chat_id).exists(),
        sent.where(om.channel_id == c.channel_id, om.chat_id == c.chat_id).exists(), *own)


def list_conversations(workspace_id: int, user_id: int, args: ListArgs
                       ) -> tuple[list[Conversation], str | None]:
    """One page of the workspace's conversations (customer and group chats), newest activity
    first; (rows, the next page's `before` or None)."""
    c = Conversation
    query = (select(c).options(selectinload(c.linked_user), selectinload(c.channel))
             .where(c.workspace_id == workspace_id, c.kind.in_(("customer", "group"))))
    if args.view == "mine":
        query = query.where(c.assignee_id == user_id)
    elif args.view == "unassigned":
        query = query.where(c.assignee_id.is_(None))
    elif args.view == "mentions":
        m = ConversationMention
        query = query.where(select(m.id).where(
            m.conversation_id == c.id, m.user_id == user_id,
            m.seen_at.is_(None)).exists())
    if args.status:
        query = query.where(c.status == args.status)
    if args.channel_id is not None:
        query = query.where(c.channel_id == args.channel_id)
    if args.tag:
        tags = "," + func.replace(func.coalesce(LinkedUser.tags, ""), " ", "") + ","
        query = query.where(c.linked_user_id.in_(
            select(LinkedUser.id).where(LinkedUser.workspace_id == workspace_id,
                                        tags.like(_like("," + args.tag.replace(" ", "") + ","),
                                                  escape="\\"))))
    if args.q:
        query = query.where(_text_search(workspace_id, args.q))
    if args.before is not None:
        at, row_id = args.before
        query = query.where(or_(c.last_activity_at < at,
                                and_(c.last_activity_at == at, c.id < row_id)))
    query = query.order_by(c.last_activity_at.desc(), c.id.desc()).limit(args.limit + 1)
    rows = list(db.session.execute(query).scalars())
    more = len(rows) > args.limit
    rows = rows[:args.limit]
    cursor = None
    if more and rows:
        cursor = f"{rows[-1].last_activity_at.isoformat()}_{rows[-1].id}"
    return rows, cursor


def unseen_mentions(workspace_id: int, user_id: int, conversation_ids=None) -> dict[int, int]:
    """{conversation id: mentions of the user not seen yet}."""
    m = ConversationMention
    query = (select(m.conversation_id, func.count()).where(
        m.workspace_id == workspace_id, m.user_id == user_id, m.seen_at.is_(None))
        .group_by(m.conversation_id))
    if conversation_ids is not None:
        query = query.where(m.conversation_id.in_(list(conversation_ids)))
    return dict(db.session.execute(query).all())


def mention_count(workspace_id: int, user_id: int) -> int:
    """How many conversations mention the user in a note not seen yet."""
    m = ConversationMention
    return db.session.execute(select(func.count(func.distinct(m.conversation_id))).where(
        m.workspace_id == workspace_id, m.user_id == user_id,
        m.seen_at.is_(None))).scalar_one()


def conversation_json(row: Conversation, mentions: dict[int, int] | None = None,
                      users: dict[int, str] | None = None) -> dict:
    users = users or {}
    contact = row.linked_user
    return {
        "id": row.id, "chat_id": row.chat_id, "kind": row.kind,
        "contact": (contact.name if contact is not None and contact.name else None)
        or row.contact_name or row.chat_id,
        "username": contact.username if contact is not None else None,
        "channel": {"id": row.channel_id, "name": row.channel.name if row.channel else "",
                    "kind": row.channel.kind if row.channel else ""},
        "status": row.status, "status_label": str(code_label("conversation_status", row.status)),
        "assignee_id": row.assignee_id, "assignee": users.get(row.assignee_id),
        "unread_count": row.unread_count or 0,
        "last_activity_at": row.last_activity_at.isoformat(),
        "last_direction": row.last_direction, "preview": row.preview,
        "bot_paused": row.bot_paused_at is not None,
        "mentions": (mentions or {}).get(row.id, 0),
    }


def user_names(user_ids) -> dict[int, str]:
    ids = sorted({i for i in user_ids if i})
    if not ids:
        return {}
    return {u.id: display_name(u) for u in db.session.execute(
        select(User).where(User.id.in_(ids))).scalars()}


def item_json(item) -> dict:
    """A thread item for the inbox's page (app/conversations.py `Item`)."""
    data = item.as_json()
    data["cursor"] = f"{item.at.isoformat()}_{item.key[1]}_{item.id}"
    if item.kind == "out":
        data["delivery"] = delivery_words(item.details)
        data["purpose_label"] = str(code_label("outbound_purpose", item.details["purpose"]))
        data.pop("last_error", None)
    if item.kind == "note":
        data["text"] = _("Order %(order)s %(action)s → %(provider)s %(external)s",
                         order=item.details.get("order_id") or "",
                         action=item.details.get("action") or "",
                         provider=item.details.get("provider") or "",
                         external=item.details.get("external_id") or "")
    return data


# --- writing --------------------------------------------------------------------------------

def _text(text: str | None, field: str = "text") -> str:
    text = (text or "").replace("\r\n", "\n")
    if "\x00" in text:
        raise InboxError(400, _("A message cannot contain NUL characters."), field)
    if not text.strip():
        raise InboxError(400, _("Write a message."), field)
    if len(text) > MAX_TEXT:
        raise InboxError(400, _("A message is at most %(max)d characters.", max=MAX_TEXT),
                         field)
    return text.strip()


def quick_reply_values(conversation, user) -> dict:
    contact = conversation.linked_user
    workspace = db.session.get(Workspace, conversation.workspace_id)
    return {"name": (contact.name if contact is not None else None) or conversation.contact_name
            or "", "username": contact.username if contact is not None else "",
            "agent": display_name(user), "workspace": workspace.name if workspace else ""}


def expand_quick_reply(conversation, user, text: str) -> str:
    """`text` as it will be sent: a `/shortcut` alone becomes its quick reply, rendered for the
    conversation. :raise InboxError: 400, a /shortcut the workspace does not have."""
    from app.quick_replies import TYPED, expand

    if TYPED.match(text) is None:
        return text
    expanded = expand(conversation.workspace_id, text, quick_reply_values(conversation, user))
    if expanded is None:
        raise InboxError(400, _("There is no quick reply %(shortcut)s. Pick one from the list "
                                "or write the message.", shortcut=text.strip()), "text")
    return expanded


def send_reply(conversation, user, text: str | None, client_id: str | None) -> tuple[int, bool]:
    """A team member's reply: (the outbound message's id, whether it is new). Committed, and
    its sending queued (the same sender, rate limits, retries and statuses as the bot's).
    :raise InboxError: 400 bad text or id, 409 the channel cannot send it now (disabled,
    Meta's window closed): then nothing is written."""
    from app.jobs.outbound import Deferred, defer
    from app.store import insert_outbound, outbound_row

    if not CLIENT_ID.fullmatch(client_id or ""):
        raise InboxError(400, _("client_id: 8 to 64 letters, digits, - or _"), "client_id")
    text = expand_quick_reply(conversation, user, _text(text))
    if len(text) > MAX_TEXT:
        raise InboxError(400, _("A message is at most %(max)d characters.", max=MAX_TEXT),
                         "text")
    channel = conversation.channel
    if channel is None or not channel.enabled:
        raise InboxError(409, _("The channel of this conversation is disabled: enable it to "
                                "reply."))
    key = f"agent:{conversation.id}:{client_id}"
    existing = db.session.execute(select(OutboundMessage.id).where(
        OutboundMessage.channel_id == channel.id,
        OutboundMessage.idempotency_key == key)).scalar_one_or_none()
    if existing is not None:  # the same click again: the message already written
        return existing, False
    state = window(conversation)
    if state is not None and not state["open"]:
        raise InboxError(409, window_message(), "text")
    now = utcnow()
    ((outbound_id, new),) = insert_outbound([outbound_row(
        channel, conversation.chat_id, text, key, "agent", now=now)])
    if new:
        c = Conversation.__table__
        db.session.execute(update(c).where(c.c.id == conversation.id).values(
            last_agent_reply_at=now,
            bot_paused_at=func.coalesce(c.c.bot_paused_at, now),
            bot_paused_by_id=case((c.c.bot_paused_at.is_(None), user.id),
                                  else_=c.c.bot_paused_by_id),
            first_response_at=case((c.c.first_response_at.is_(None), now),
                                   else_=c.c.first_response_at),
            assignee_id=func.coalesce(c.c.assignee_id, user.id),
            unread_count=0))
    db.session.commit()
    if new:
        defer(Deferred(outbound_id))
    db.session.refresh(conversation)
    return outbound_id, new


def add_note(conversation, user, text: str | None) -> ConversationNote:
    """An internal note; each `@username` of a member of the workspace (not the author) is
    mentioned once. Committed."""
    text = _text(text)
    note = ConversationNote(workspace_id=conversation.workspace_id,
                            conversation_id=conversation.id, author_id=user.id, text=text,
                            created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    named = {m.lower() for m in MENTION.findall(text)}
    if named:
        rows = db.session.execute(
            select(User.id, User.username)
            .join(WorkspaceMember, WorkspaceMember.user_id == User.id)
            .where(WorkspaceMember.workspace_id == conversation.workspace_id,
                   func.lower(User.username).in_(sorted(named)))).all()
        for row in rows:
            if row.id != user.id:
                db.session.add(ConversationMention(
                    workspace_id=conversation.workspace_id, note_id=note.id,
                    conversation_id=conversation.id, user_id=row.id, created_at=note.created_at))
    db.session.commit()
    return note


def announce(conversation, change: str, user_id: int | None = None) -> None:
    """Tell the workspace's open pages (app/realtime.py `conversation.updated`) that the
    conversation changed (`change`: status, assign, takeover, giveback, reply, note, read).
    Call it after the commit; it never fails the caller."""
    realtime.publish(conversation.workspace_id, "conversation.updated", {
        "conversation_id": conversation.id, "change": change, "by": user_id,
        "status": conversation.status, "assignee_id": conversation.assignee_id,
        "unread": conversation.unread_count, "bot_paused": conversation.bot_paused_at is not None})


def mark_read(conversation, user) -> bool:
    """The member opened the conversation: nothing unread, their mentions in it seen.
    True when something was unread (the other pages' badges change)."""
    now = utcnow()
    was_unread = bool(conversation.unread_count)
    if conversation.unread_count:
        db.session.execute(update(Conversation.__table__)
                           .where(Conversation.__table__.c.id == conversation.id)
                           .values(unread_count=0))
    m = ConversationMention.__table__
    db.session.execute(update(m).where(m.c.conversation_id == conversation.id,
                                       m.c.user_id == user.id, m.c.seen_at.is_(None))
                       .values(seen_at=now))
    db.session.commit()
    db.session.refresh(conversation)
    return was_unread


def set_status(conversation, status: str | None) -> None:
    """open / pending / resolved. Resolving ends a takeover (the bot speaks again) and clears
    the unread count; opening a resolved conversation starts a new round (opened_at now)."""
    if status not in CONVERSATION_STATUSES:
        raise InboxError(400, _("status: one of %(values)s",
                                values=", ".join(CONVERSATION_STATUSES)), "status")
    now = utcnow()
    if status == conversation.status:
        return
    if status == "resolved":
        conversation.resolved_at = now
        conversation.bot_paused_at = None
        conversation.bot_paused_by_id = None
        conversation.unread_count = 0
    elif conversation.status == "resolved":
        conversation.opened_at = now
        conversation.resolved_at = None
        conversation.first_response_at = None
    conversation.status = status
    db.session.commit()


def assign(conversation, user, assignee_id, *, manager: bool) -> None:
    """Give the conversation to a member (None: nobody). Managers assign anyone of the
    workspace; agents only themselves (and may let go of what is theirs)."""
    if assignee_id in (None, ""):
        assignee = None
    else:
        text = str(assignee_id)
        if not (text.isascii() and text.isdigit() and len(text) <= 9):
            raise InboxError(400, _("assignee_id: a member's number, or empty for nobody"),
                             "assignee_id")
        assignee = int(text)
        if assignee not in member_user_ids(conversation.workspace_id):
            raise InboxError(400, _("This person is not a member of the workspace."),
                             "assignee_id")
    if not manager:
        mine = assignee == user.id or (assignee is None and conversation.assignee_id == user.id)
        if not mine:
            raise InboxError(403, _("Agents assign conversations to themselves only."),
                             "assignee_id")
    conversation.assignee_id = assignee
    db.session.commit()


def take_over(conversation, user) -> None:
    """The bot stays quiet in the chat from now on (until given back or resolved, or the idle
    time passes)."""
    if conversation.bot_paused_at is None:
        conversation.bot_paused_at = utcnow()
        conversation.bot_paused_by_id = user.id
    if conversation.assignee_id is None:
        conversation.assignee_id = user.id
    db.session.commit()


def give_back(conversation) -> None:
    conversation.bot_paused_at = None
    conversation.bot_paused_by_id = None
    db.session.commit()
