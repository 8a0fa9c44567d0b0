"""A chat that changed its id: links, routes and detected chats move with it.

Used when a Telegram group becomes a supergroup (the event's `migrate_to_chat_id`, or a send
answered with it) and when a WhatsApp customer changes number (Meta `user_changed_number`).
"""
from __future__ import annotations

from app.extensions import db
from app.models import AdminIdentity, ChatIdentity, DetectedChat, ProviderRoute


def migrate_chat(channel_id: int, old_chat_id: str, new_chat_id: str,
                 chat_type: str | None = "supergroup") -> str:
    """A Telegram group became a supergroup (or a WhatsApp user changed number,
    `change_number`: `chat_type` None): links and routes move with it.

    The new chat may already have rows of its own (the bot's my_chat_member for the supergroup
    often arrives first, or a manager already assigned it): each table is UNIQUE per chat, so
    where the new chat already has the row, that row is kept and the old chat's one is dropped.
    """
    if not new_chat_id or new_chat_id == old_chat_id:
        return "ignored"
    for model in (ChatIdentity, AdminIdentity, DetectedChat):
        old = (db.session.query(model)
               .filter_by(channel_id=channel_id, chat_id=old_chat_id).one_or_none())
        if old is None:
            continue
        taken = (db.session.query(model)
                 .filter_by(channel_id=channel_id, chat_id=new_chat_id).one_or_none())
        if taken is None:
            old.chat_id = new_chat_id
            if model is DetectedChat and chat_type:
                old.chat_type = chat_type
        else:
            if model is DetectedChat and not taken.title:
                taken.title = old.title
            db.session.delete(old)
    routes = (db.session.query(ProviderRoute)
              .filter_by(channel_id=channel_id, chat_id=old_chat_id).all())
    for route in routes:
        clash = (db.session.query(ProviderRoute)
                 .filter_by(provider_id=route.provider_id, channel_id=channel_id,
                            chat_id=new_chat_id).one_or_none())
        if clash is None:
            route.chat_id = new_chat_id
        else:
            db.session.delete(route)
    db.session.flush()
    return "migrated"
