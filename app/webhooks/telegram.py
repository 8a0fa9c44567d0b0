"""POST /webhooks/telegram/<bot_id> — Telegram Bot API updates (docs/external-apis.md 4).

`<bot_id>` is the number before ':' in the bot token; the request must carry
`X-Telegram-Bot-Api-Secret-Token` equal to the channel's secret token. Dedupe on `update_id`.
Chat ids may exceed 32 bits and groups have negative ids: they are kept as strings.
"""
from __future__ import annotations

from flask import request

from app.extensions import db
from app.models import Channel
from app.webhooks.channels import ChannelRef, authenticated, cached_then_fresh
from app.webhooks.http import MiB, BadPayload, ack, parse_json, read_body, refuse, webhook_blueprint
from app.store import event_rows
from app.webhooks.intake import NormalisedEvent, from_epoch
from app.webhooks.persist import store_events

telegram_bp = webhook_blueprint("webhooks_telegram", __name__)

BODY_LIMIT = 1 * MiB
MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
GROUP_TYPES = {"group", "supergroup"}


@telegram_bp.post("/webhooks/telegram/<bot_id>")
def receive(bot_id: str):
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
    if not given:
        return refuse(401, "missing secret token")
    body: list[bytes] = []  # read once, after authentication, kept for a second attempt
    response = cached_then_fresh(lambda fresh: _accept(bot_id, given, fresh, body))
    return response or refuse(403, "forbidden")  # the channel was deleted meanwhile


def _accept(bot_id: str, given: str, fresh: bool, body: list[bytes]):
    key = ("telegram", bot_id) if bot_id.isdigit() and len(bot_id) <= 32 else None
    channel = authenticated(key, lambda: _load(bot_id), given, fresh)
    if channel is None:
        return refuse(403, "forbidden")

    if not body:
        body.append(read_body(BODY_LIMIT))
    try:
        update = parse_json(body[0])
        events = normalise(update)
    except (ValueError, TypeError, KeyError, AttributeError):
        return refuse(400, "malformed update")
    if not channel.enabled:
        return ack(ignored="channel disabled")
    store_events(event_rows(channel, "telegram", events))
    return ack()


def _load(bot_id: str) -> ChannelRef | None:
    channel = db.session.query(Channel).filter_by(kind="telegram", bot_id=bot_id).one_or_none()
    return ChannelRef.of(channel) if channel is not None else None


def _id(value) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return value
    return None


def _chat(obj: dict) -> dict:
    chat = obj.get("chat")
    if not isinstance(chat, dict) or _id(chat.get("id")) is None:
        raise BadPayload("chat")
    return chat


def _name(user: dict) -> str | None:
    parts = [user.get("first_name"), user.get("last_name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p).strip()
    return name or (user.get("username") if isinstance(user.get("username"), str) else None)


def normalise(update) -> list[NormalisedEvent]:
    if not isinstance(update, dict):
        raise BadPayload("update")
    update_id = update.get("update_id")
    if isinstance(update_id, bool) or not isinstance(update_id, int):
        raise BadPayload("update_id")
    key = f"update:{update_id}"

    for message_key in MESSAGE_KEYS:
        message = update.get(message_key)
        if message is None:
            continue
        if not isinstance(message, dict):
            raise BadPayload(message_key)
        chat = _chat(message)
        chat_id = _id(chat["id"])
        sender = message.get("from") if isinstance(message.get("from"), dict) else {}
        migrate_to = _id(message.get("migrate_to_chat_id"))
        if migrate_to is not None:
            return [NormalisedEvent(
                kind="membership", type="migrate_to_chat_id", dedupe_key=key, payload=update,
                chat_id=chat_id, is_group=True, status="migrated",
                extra={"old_chat_id": chat_id, "new_chat_id": migrate_to},
                occurred_at=from_epoch(message.get("date")),
            )]
        text = message.get("text")
        if not isinstance(text, str):
            text = message.get("caption") if isinstance(message.get("caption"), str) else None
        return [NormalisedEvent(
            kind="message", type=message_key, dedupe_key=key, payload=update, chat_id=chat_id,
            sender=_id(sender.get("id")) or chat_id, sender_name=_name(sender) if sender else
            (chat.get("title") if isinstance(chat.get("title"), str) else None),
            is_group=chat.get("type") in GROUP_TYPES, from_bot=sender.get("is_bot") is True,
            text=text, message_id=_id(message.get("message_id")),
            occurred_at=from_epoch(message.get("date")),
        )]

    member = update.get("my_chat_member")
    if member is not None:
        if not isinstance(member, dict):
            raise BadPayload("my_chat_member")
        chat = _chat(member)
        new = member.get("new_chat_member") if isinstance(member.get("new_chat_member"),
                                                          dict) else {}
        status = new.get("status") if isinstance(new.get("status"), str) else None
        actor = member.get("from") if isinstance(member.get("from"), dict) else {}
        return [NormalisedEvent(
            kind="membership", type="my_chat_member", dedupe_key=key, payload=update,
            chat_id=_id(chat["id"]), sender=_id(actor.get("id")), sender_name=_name(actor),
            is_group=chat.get("type") in GROUP_TYPES, status=status,
            extra={"title": chat.get("title") if isinstance(chat.get("title"), str) else None,
                   "chat_type": chat.get("type") if isinstance(chat.get("type"), str) else None},
            occurred_at=from_epoch(member.get("date")),
        )]

    other_type = next((k for k in update if k != "update_id"), "unknown")
    return [NormalisedEvent(kind="other", type=str(other_type)[:60], dedupe_key=key,
                            payload=update)]
