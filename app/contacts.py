"""Contacts: the people a workspace talks to (a `linked_user` row; with a username, a linked
user — app/models/people.py).

* Chats make contacts (`record_chat_contacts`, called by app/store.py's `touch_conversations`
  in the worker's batch): every inbound message of a customer chat creates or updates its
  contact — source `chat`, the platform's sender name, the phone number where the chat id is
  one (Green API `79001234568@c.us`, Meta's `wa_id`; Telegram and the web chat have none),
  first and last seen — and sets `conversation.linked_user_id` when no chat identity names a
  linked user. Set-based: one SELECT of the batch's conversations, one multi-row UPDATE of the
  known contacts, one multi-row INSERT of the new ones, one multi-row UPDATE of their
  conversations.
* Beyond the plan's `max_linked_users` no contact is created: the conversation works as
  before (no contact) and the Contacts screen says the limit is reached. Two workers may pass
  the limit by the chats of one batch (the count is not locked: a chat never waits for one).
* A chat identity for a username (self-service linking, the chat identity screens, the
  workspace file) absorbs the chat's contact (`install_contact_merge_hook`): the contact made
  from that chat is merged into the username's row — tags and groups joined, custom fields
  added where the linked user has none of that key, name/phone/email filled where empty, the
  earlier first seen and the later last seen kept, opted out when either was, conversations,
  logs and broadcast recipients repointed — and deleted. Self-service linking of a username
  that has no row yet gives the username to the chat's contact instead (`chat_contact`), so
  the contact keeps its id and the plan's count does not change.
* A conversation points to a contact with a username only while a chat identity says so
  (`touch_conversations`): removing the identity unlinks the chat at its next message, and a
  new contact is made from the chat.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import delete, event, func, insert, select, tuple_, update

from app.extensions import db
from app.jobs.bulk import update_rows
from app.models import (BroadcastRecipient, Channel, ChatIdentity, CommandLog, Conversation,
                        LinkedUser)
from app.models.base import utcnow
from app.models.people import contact_group_member

# custom fields' keys: small letters, digits and _, starting with a letter
CUSTOM_FIELD_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_VALUE = 500
PHONE_DIGITS = (6, 15)  # E.164 allows 15 digits; shorter than 6 is no phone number


class BadPhone(ValueError):
    """A phone number that is not one (letters, too short or too long)."""


def normalise_phone(value: str | None) -> str | None:
    """The digits of a phone number (`+7 (900) 123-45-67` → `79001234567`); None when empty.
    Letters, or a count of digits no phone number has, raise BadPhone."""
    text = (value or "").strip()
    if not text:
        return None
    if re.search(r"[^\d\s+()./-]", text):
        raise BadPhone(text)
    digits = re.sub(r"\D", "", text)
    if not PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]:
        raise BadPhone(text)
    return digits


def phone_from_chat(channel_kind: str, chat_id: str) -> str | None:
    """The phone number a chat id is, where it is one: Green API's `79001234568@c.us`, Meta's
    `wa_id` (digits). Telegram's chat ids and the web chat's are not phone numbers."""
    if channel_kind == "greenapi" and chat_id.endswith("@c.us"):
        digits = chat_id[:-len("@c.us")]
    elif channel_kind == "meta":
        digits = chat_id
    else:
        return None
    return digits if digits.isdigit() and PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1] \
        else None


def tag_list(tags: str | None) -> list[str]:
    """A comma list of tags as a list, each once, in order."""
    return list(dict.fromkeys(t.strip() for t in (tags or "").split(",") if t.strip()))


def join_tags(*lists: Iterable[str]) -> str | None:
    joined = list(dict.fromkeys(t for tags in lists for t in tags))
    return ", ".join(joined) if joined else None


def parse_custom_fields(text: str) -> tuple[dict[str, str], list[str]]:
    """`key = value` lines as a dict, and the problems found (one sentence each, English
    codes for the caller to word: 'key:<line>', 'count', 'value:<key>')."""
    fields: dict[str, str] = {}
    problems: list[str] = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not CUSTOM_FIELD_KEY.match(key):
            problems.append(f"key:{number}")
            continue
        value = value.strip()
        if len(value) > MAX_CUSTOM_VALUE:
            problems.append(f"value:{key}")
            continue
        fields[key] = value
    if len(fields) > MAX_CUSTOM_FIELDS:
        problems.append("count")
    return fields, problems


def format_custom_fields(fields: dict | None) -> str:
    return "\n".join(f"{k} = {v}" for k, v in sorted((fields or {}).items()))


# --- plan room --------------------------------------------------------------------------------

def room_left(workspace_id: int) -> int | None:
    """How many more contacts the plan allows (None: no limit). Never flushes."""
    from app.plans import count_of, limit_of

    limit = limit_of(workspace_id, "max_linked_users")
    if limit is None:
        return None
    return max(0, limit - count_of(workspace_id, "max_linked_users"))


# --- contacts from chats ----------------------------------------------------------------------

def _latest(current: str) -> str:
    return (f"CASE WHEN t.{current} IS NULL OR t.{current} < {{new}} THEN {{new}}"
            f" ELSE t.{current} END")


def _earliest(current: str) -> str:
    return (f"CASE WHEN t.{current} IS NULL OR t.{current} > {{new}} THEN {{new}}"
            f" ELSE t.{current} END")


def record_chat_contacts(touches: Iterable) -> None:
    """Create or update the contact of each customer chat with inbound touches (see the module
    docstring). Call after the conversations are written, in the same transaction."""
    seen: dict[tuple, dict] = {}
    for touch in touches:
        if not touch.inbound or touch.is_group or not touch.chat_id:
            continue
        key = (touch.workspace_id, touch.channel_id, touch.chat_id)
        row = seen.get(key)
        if row is None:
            row = seen[key] = {"first": touch.at, "last": touch.at, "name": None}
        row["first"], row["last"] = min(row["first"], touch.at), max(row["last"], touch.at)
        if touch.contact_name:
            row["name"] = touch.contact_name[:255]
    if not seen:
        return
    conv = Conversation.__table__
    found = db.session.execute(
        select(conv.c.id, conv.c.workspace_id, conv.c.channel_id, conv.c.chat_id,
               conv.c.linked_user_id, conv.c.kind, Channel.__table__.c.kind)
        .join(Channel.__table__, Channel.__table__.c.id == conv.c.channel_id)
        .where(tuple_(conv.c.workspace_id, conv.c.channel_id, conv.c.chat_id)
               .in_(list(seen)))).all()
    known, new = [], []
    for conv_id, ws, channel_id, chat_id, user_id, kind, channel_kind in found:
        row = seen[(ws, channel_id, chat_id)]
        if user_id is not None:
            known.append({"id": user_id, "first_seen_at": row["first"],
                          "last_seen_at": row["last"], "name": row["name"]})
        elif kind == "customer":
            new.append((conv_id, ws, row, phone_from_chat(channel_kind, chat_id)))
    known.sort(key=lambda r: r["id"])  # rows locked in one order by every writer
    update_rows(LinkedUser.__table__, ("first_seen_at", "last_seen_at", "name"), known,
                merge={"first_seen_at": _earliest("first_seen_at"),
                       "last_seen_at": _latest("last_seen_at"),
                       "name": "COALESCE(t.name, {new})"})
    if new:
        _create_chat_contacts(new)


def _create_chat_contacts(new: list[tuple]) -> None:
    room: dict[int, int | None] = {}
    keep = []
    for item in new:
        ws = item[1]
        if ws not in room:
            room[ws] = room_left(ws)
        if room[ws] is not None:
            if room[ws] <= 0:
                continue  # the plan's limit: the conversation works without a contact
            room[ws] -= 1
        keep.append(item)
    if not keep:
        return
    table = LinkedUser.__table__
    now = utcnow()
    rows = [{"workspace_id": ws, "name": row["name"], "phone": phone, "source": "chat",
             "custom_fields": {}, "language": "en", "opted_out": False,
             "first_seen_at": row["first"], "last_seen_at": row["last"],
             "created_at": now, "updated_at": now}
            for _conv, ws, row, phone in keep]
    ids = db.session.execute(
        insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    update_rows(Conversation.__table__, ("linked_user_id",),
                sorted(({"id": conv_id, "linked_user_id": contact_id}
                        for (conv_id, *_rest), contact_id in zip(keep, ids, strict=True)),
                       key=lambda r: r["id"]),
                where="t.linked_user_id IS NULL")


# --- linking a chat to a username -------------------------------------------------------------

def chat_contact(channel_id: int, chat_id: str) -> LinkedUser | None:
    """The contact made from a chat (its conversation's contact, without a username)."""
    with db.session.no_autoflush:
        return db.session.execute(
            select(LinkedUser).join(Conversation, Conversation.linked_user_id == LinkedUser.id)
            .where(Conversation.channel_id == channel_id, Conversation.chat_id == chat_id,
                   LinkedUser.username.is_(None))).scalars().first()


def merge_contacts(connection, source_id: int, target_id: int) -> None:
    """Merge contact `source_id` into `target_id` with Core statements on `connection` (the
    rule is in the module docstring), then delete the source."""
    table = LinkedUser.__table__
    rows = {r.id: r for r in connection.execute(
        select(table).where(table.c.id.in_((source_id, target_id))))}
    source, target = rows.get(source_id), rows.get(target_id)
    if source is None or target is None or source.workspace_id != target.workspace_id:
        return
    fields = dict(source.custom_fields or {})
    fields.update(target.custom_fields or {})
    firsts = [t for t in (source.first_seen_at, target.first_seen_at) if t]
    lasts = [t for t in (source.last_seen_at, target.last_seen_at) if t]
    opted_out = bool(source.opted_out or target.opted_out)
    connection.execute(update(table).where(table.c.id == target_id).values(
        tags=join_tags(tag_list(target.tags), tag_list(source.tags)),
        custom_fields=fields, name=target.name or source.name,
        phone=target.phone or source.phone, email=target.email or source.email,
        notes=target.notes or source.notes,
        first_seen_at=min(firsts) if firsts else None,
        last_seen_at=max(lasts) if lasts else None, opted_out=opted_out,
        opted_out_at=(target.opted_out_at or source.opted_out_at) if opted_out else None))
    member = contact_group_member
    have = select(member.c.group_id).where(member.c.contact_id == target_id)
    connection.execute(insert(member).from_select(
        ["contact_id", "group_id"],
        select(func.cast(target_id, member.c.contact_id.type).label("contact_id"),
               member.c.group_id)
        .where(member.c.contact_id == source_id, member.c.group_id.not_in(have))))
    for model in (Conversation, CommandLog, BroadcastRecipient, ChatIdentity):
        connection.execute(update(model.__table__)
                           .where(model.__table__.c.linked_user_id == source_id)
                           .values(linked_user_id=target_id))
    connection.execute(delete(table).where(table.c.id == source_id))


def install_contact_merge_hook(session_class) -> None:
    """A chat identity written for a contact absorbs the contact made from its chat."""

    @event.listens_for(session_class, "after_flush")
    def _collect(session, flush_context):  # noqa: ARG001 - SQLAlchemy signature
        found = [(obj.channel_id, obj.chat_id, obj.linked_user_id)
                 for obj in list(session.new) + list(session.dirty)
                 if isinstance(obj, ChatIdentity) and obj.linked_user_id is not None]
        if found:
            session.info.setdefault("relaydesk_identities", []).extend(found)

    @event.listens_for(session_class, "after_flush_postexec")
    def _absorb(session, flush_context):  # noqa: ARG001 - SQLAlchemy signature
        identities = session.info.pop("relaydesk_identities", None)
        if identities:
            absorb_chat_contacts(session, identities)


def absorb_chat_contacts(session, identities: list[tuple[int, str, int]]) -> None:
    """For each (channel id, chat id, linked user id) of a chat identity: merge the chat's
    contact into the linked user and point the conversation at it."""
    connection = session.connection()
    conv, users = Conversation.__table__, LinkedUser.__table__
    for channel_id, chat_id, user_id in identities:
        found = connection.execute(
            select(conv.c.id, conv.c.linked_user_id)
            .where(conv.c.channel_id == channel_id, conv.c.chat_id == chat_id)).first()
        if found is None:
            continue
        conv_id, contact_id = found
        if contact_id == user_id:
            continue
        if contact_id is not None and connection.execute(select(users.c.id).where(
                users.c.id == contact_id, users.c.username.is_(None))).first() is not None:
            merge_contacts(connection, contact_id, user_id)
            stale = session.identity_map.get(session.identity_key(LinkedUser, (contact_id,)))
            if stale is not None:
                session.expunge(stale)
        connection.execute(update(conv).where(conv.c.id == conv_id)
                           .values(linked_user_id=user_id))
        target = session.identity_map.get(session.identity_key(LinkedUser, (user_id,)))
        if target is not None:
            session.expire(target)
