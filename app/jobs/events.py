"""Processing of inbound events (the job behind every webhook).

`process_event(event_id)` claims the row with a lease (an UPDATE that only one worker can win),
handles it by kind and marks it done. A worker that dies mid-way leaves the lease to expire; the
maintenance runner then re-enqueues the row (app/jobs/maintenance.py). Handlers are idempotent, so
processing an event twice is harmless.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import cache

from sqlalchemy import bindparam, or_, select, update

from app.extensions import db
from app.integrations.calls import buffered_call_log, flush_call_log
from app.models import (AdminIdentity, Channel, ChatIdentity, DetectedChat, InboundEvent,
                        OutboundMessage, ProviderRoute, Workspace)
from app.models.base import utcnow
from app.jobs.outbound import deferred_sends, enqueue_deferred, send_deferred
from app.models.outbound import DELIVERY_RANK
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 5
RETRY_BACKOFF = (5, 30, 120, 600)  # seconds before the maintenance runner retries

# outgoingMessageStatus values that mean the message was not delivered
GREEN_FAILED_STATUSES = {
    "noAccount": "the number has no WhatsApp account",
    "notInGroup": "the instance is not a member of this group",
    "yellowCard": "yellow card: WhatsApp limited sending from this number",
}

GREEN_STATES = {
    "authorized": ("ok", None),
    "notAuthorized": ("error", "WhatsApp is not authorised: scan the QR code in Green API"),
    "blocked": ("error", "the WhatsApp account is blocked"),
    "sleepMode": ("error", "the phone is offline (sleep mode)"),
    "starting": ("unknown", "the instance is starting"),
    "yellowCard": ("error", "yellow card: WhatsApp limited sending from this number"),
}


class EventRow:
    """An inbound event as the claim returned it (no ORM object, no second query). Handlers
    that change the event row itself load their own ORM copy (`orm()`)."""

    __slots__ = ("id", "workspace_id", "channel_id", "kind", "type", "chat_id", "sender",
                 "sender_name", "is_group", "from_me", "from_bot", "text", "message_id",
                 "status", "error_code", "error_title", "occurred_at", "received_at",
                 "payload", "state", "attempts", "lease_until", "config_version")

    def __init__(self, row) -> None:
        for name in self.__slots__:
            setattr(self, name, getattr(row, name))

    def orm(self) -> InboundEvent | None:
        return db.session.get(InboundEvent, self.id)


@cache
def _claim_statement():
    """UPDATE … RETURNING the event and its workspace's configuration version, in one
    statement (built once: SQLAlchemy caches its compiled form)."""
    table = InboundEvent.__table__
    now = bindparam("now")
    version = (select(Workspace.__table__.c.config_version)
               .where(Workspace.__table__.c.id == table.c.workspace_id)
               .scalar_subquery().label("config_version"))
    return (update(table)
            .where(table.c.id == bindparam("event_id"))
            .where(or_(table.c.state == "queued",
                       # a pending row waiting out its retry delay is not taken early by a
                       # duplicate job; the sweep queues it when the delay has passed
                       (table.c.state == "pending")
                       & (table.c.lease_until.is_(None) | (table.c.lease_until <= now)),
                       (table.c.state == "processing") & (table.c.lease_until < now)))
            .values(state="processing", lease_until=bindparam("lease"),
                    attempts=table.c.attempts + 1)
            .returning(*[table.c[name] for name in EventRow.__slots__
                         if name != "config_version"], version))


def claim(event_id: int) -> EventRow | None:
    """Take the event for this worker; None when another worker holds it or it is finished."""
    now = utcnow()
    row = db.session.connection().execute(_claim_statement(), {
        "event_id": event_id, "now": now, "lease": now + LEASE}).first()
    db.session.commit()
    return EventRow(row) if row is not None else None


@cache
def _finish_statement():
    table = InboundEvent.__table__
    return (update(table).where(table.c.id == bindparam("event_id"))
            .values(state=bindparam("state"), processed_at=bindparam("now"),
                    lease_until=None, last_error=None))


def process_event(event_id: int) -> str:
    """Handle one event. Messages the handler queued (the provider's dispatch, the customer's
    reply) are sent by this same job right after the event is committed: no second job, no
    queueing delay. If the handler fails, they go to send jobs instead (nothing waits for the
    maintenance sweep). Calls to outside services are logged within the job's own commits."""
    with buffered_call_log():
        event = claim(event_id)
        if event is None:
            return "skipped"
        with deferred_sends() as sends:
            try:
                with workspace_scope(event.workspace_id):
                    outcome = HANDLERS.get(event.kind, handle_other)(event)
                db.session.connection().execute(_finish_statement(), {
                    "event_id": event_id, "now": utcnow(),
                    "state": "ignored" if outcome == "ignored" else "done"})
                flush_call_log()
                db.session.commit()
            except Exception as exc:
                db.session.rollback()
                _record_failure(event_id, exc)
                enqueue_deferred(sends)
                raise
        if sends:
            with workspace_scope(event.workspace_id):
                send_deferred(sends)
    return outcome


def _record_failure(event_id: int, exc: Exception) -> None:
    event = db.session.get(InboundEvent, event_id, populate_existing=True)
    if event is None:
        return
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.state = "failed"
        event.lease_until = None
    else:
        delay = RETRY_BACKOFF[min(event.attempts - 1, len(RETRY_BACKOFF) - 1)]
        event.state = "pending"
        event.lease_until = utcnow() + timedelta(seconds=delay)
    db.session.commit()
    log.exception("event %s failed (attempt %s)", event_id, event.attempts)


# --- handlers ---------------------------------------------------------------------------------

def handle_message(event: InboundEvent) -> str:
    if event.from_me or event.from_bot:
        return "ignored"  # our own sends, the phone's, and other bots never count as commands
    if not (event.text or "").strip():
        return "ignored"  # media without a caption, Telegram service messages: no command
    from app.jobs.pipeline import handle_command_message

    return handle_command_message(event)


def handle_status(event: InboundEvent) -> str:
    """Record a delivery status on the outbound message, never moving it backwards."""
    candidates = (db.session.query(OutboundMessage)
                  .filter_by(channel_id=event.channel_id, platform_message_id=event.message_id)
                  .all()) if event.message_id else []
    if len(candidates) > 1 and event.chat_id:  # Green: idMessage is unique only within a chat
        candidates = [m for m in candidates if m.chat_id == event.chat_id]
    if len(candidates) != 1:
        return "ignored"
    message = candidates[0]
    status, error_title = event.status or "", event.error_title
    if status in GREEN_FAILED_STATUSES:  # Green API's own words for "not delivered"
        status, error_title = "failed", error_title or GREEN_FAILED_STATUSES[status]
    new_rank = DELIVERY_RANK.get(status, 0)
    if new_rank > DELIVERY_RANK.get(message.delivery_status or "", 0):
        message.delivery_status = status
        message.delivery_status_at = event.occurred_at or utcnow()
        if status == "failed":
            message.error_code = event.error_code or "failed"
            message.last_error = error_title
    return "status"


def handle_state(event: InboundEvent) -> str:
    """A Green API instance changed state: the channel status follows, unless a newer state
    was already applied (Green API resends notifications, so they may arrive out of order)."""
    channel = db.session.get(Channel, event.channel_id)
    if channel is None:
        return "ignored"
    if event.occurred_at is not None:
        newer = (db.session.query(InboundEvent.id)
                 .filter(InboundEvent.channel_id == event.channel_id,
                         InboundEvent.kind == "state", InboundEvent.state == "done",
                         InboundEvent.id != event.id,
                         InboundEvent.occurred_at > event.occurred_at)
                 .first())
        if newer is not None:
            return "ignored"
    status, detail = GREEN_STATES.get(event.status or "", ("unknown", event.status))
    channel.status = status
    channel.status_detail = detail
    return "state"


def handle_membership(event) -> str:
    if event.type == "migrate_to_chat_id":
        message = event.payload.get("message") if isinstance(event.payload, dict) else None
        new_chat = (message or {}).get("migrate_to_chat_id")
        if new_chat is None or not event.chat_id:
            return "ignored"
        return migrate_chat(event.channel_id, event.chat_id, str(new_chat))
    chat_payload = {}
    member = event.payload.get("my_chat_member") or {}
    if isinstance(member.get("chat"), dict):
        chat_payload = member["chat"]
    detected = (db.session.query(DetectedChat)
                .filter_by(channel_id=event.channel_id, chat_id=event.chat_id).one_or_none())
    now = utcnow()
    if detected is None:
        detected = DetectedChat(workspace_id=event.workspace_id, channel_id=event.channel_id,
                                chat_id=event.chat_id, detected_at=now)
        db.session.add(detected)
    detected.title = chat_payload.get("title") or detected.title
    detected.chat_type = chat_payload.get("type") or detected.chat_type
    detected.member_status = event.status
    detected.last_seen_at = now
    return "membership"


def migrate_chat(channel_id: int, old_chat_id: str, new_chat_id: str) -> str:
    """A Telegram group became a supergroup: links and routes move with it.

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
            if model is DetectedChat:
                old.chat_type = "supergroup"
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


def handle_other(event: InboundEvent) -> str:
    return "ignored"


HANDLERS = {
    "message": handle_message,
    "status": handle_status,
    "state": handle_state,
    "membership": handle_membership,
    "other": handle_other,
}
