"""Edited messages: one policy for Telegram, Meta and Green API.

What the platforms send: Telegram an `edited_message` update (same `message_id` as the
original), Meta a message of `type: edit` (`edit.original_message_id`, `edit.message` the new
content), Green API an `incomingMessageReceived` (or, for the phone's own edits,
`outgoingMessageReceived`) whose `typeMessage` is `editedMessage` (`editedMessageData.stanzaId`,
`textMessage`). The webhooks store every edit as a message event whose `message_id` is the
edited message's id and whose text is the new text.

The policy (docs/ARCHITECTURE.md "Edited messages"): an edit is always stored and, when it
carries text, traced in the command log. It is acted on only if no earlier version of the
message (the original, or an earlier edit) was handled as a command: it was conversation
(ignored or answered with the fallback), had no text, or is unknown to us. An edit never
re-issues a command already handled, and while an earlier version is still being handled (or
its handling failed) the edit is not acted on either — never two commands for one message.
"""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import CommandLog, InboundEvent

TELEGRAM_EDITS = ("edited_message", "edited_channel_post")
META_EDIT = "message:edit"
GREEN_TYPES = ("incomingMessageReceived", "outgoingMessageReceived",
               "outgoingAPIMessageReceived")
#: command log outcomes that mean "not a command": the message was conversation
CONVERSATION_OUTCOMES = ("ignored", "fallback")
UNFINISHED = ("pending", "queued", "processing")
#: the command log outcome of an edit that was not acted on
NOT_ACTED = "edit_not_acted"


def is_edit(event) -> bool:
    """Whether the message event is an edit of an earlier message (any platform)."""
    kind = event.type or ""
    if kind in TELEGRAM_EDITS or kind == META_EDIT:
        return True
    if kind in GREEN_TYPES and isinstance(event.payload, dict):
        data = event.payload.get("messageData")
        return isinstance(data, dict) and data.get("typeMessage") == "editedMessage"
    return False


def decide(event) -> tuple[bool, dict]:
    """(act on the edit?, the facts for the trace's `edit` step)."""
    if not event.message_id:
        return True, {"original": None, "decision": "original_unknown"}
    table, logs = InboundEvent.__table__, CommandLog.__table__
    query = (select(table.c.id, table.c.state, logs.c.state.label("log_state"), logs.c.outcome,
                    logs.c.actions)
             .select_from(table.outerjoin(logs, logs.c.inbound_event_id == table.c.id))
             .where(table.c.channel_id == event.channel_id, table.c.kind == "message",
                    table.c.message_id == event.message_id, table.c.id < event.id)
             .order_by(table.c.id))
    if not (event.type or "").startswith("message:"):  # Meta's wamids are unique anyway
        query = query.where(table.c.chat_id == event.chat_id)  # Telegram, Green: per chat
    earlier = db.session.execute(query).all()
    facts = {"original": event.message_id, "earlier": len(earlier)}
    for row in earlier:
        verdict = _handled(row)
        if verdict is not None:
            return False, {**facts, "decision": verdict, "earlier_event": row.id}
    return True, {**facts, "decision": "acted_on" if earlier else "original_unknown"}


def _handled(row) -> str | None:
    """Why an earlier version stops the edit, or None when it was not a command."""
    if row.state in UNFINISHED or row.log_state in UNFINISHED:
        return "original_pending"
    if row.log_state is None:  # never read as text (no text, our own): not a command
        return None
    if row.log_state != "done" or row.actions or row.outcome not in CONVERSATION_OUTCOMES:
        return "original_was_command"
    return None
