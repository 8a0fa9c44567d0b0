"""GET/POST /webhooks/meta — WhatsApp Cloud API notifications (docs/external-apis.md 3).

GET answers the verification challenge when `hub.verify_token` equals META_VERIFY_TOKEN.
POST requires `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`; the secret is
the platform's META_APP_SECRET or, for channels in manual mode, the channel's own app secret.
A channel's own secret speaks for that channel only: events in the same body for channels it
does not belong to are dropped (403 when the signature matches no candidate secret at all).
One POST can carry many entries and changes: each message (dedupe `wamid`) and each status
(dedupe `status id + status`) becomes its own event, on the channel its `phone_number_id` names;
a WABA-level change (template status) goes to the channel whose `waba_id` is the entry's id.
Only verified channels are candidates (`verified_at` set: a Graph call with the channel's own
token confirmed its number and WABA, app/jobs/verification.py). An unverified channel is treated
exactly like an unknown number: nothing is stored for it, and its own app secret vouches for
nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections import defaultdict

from flask import current_app, request
from marshmallow import INCLUDE, Schema, fields, validate

from app.extensions import db
from app.models import Channel
from app.webhooks.channels import (ChannelRef, cached_then_fresh, channel_cache,
                                   credential_matches, stale_unless_fresh)
from app.webhooks.http import MiB, BadPayload, ack, parse_json, read_body, refuse, webhook_blueprint
from app.store import event_rows
from app.webhooks.intake import NormalisedEvent, from_epoch
from app.webhooks.persist import store_events

log = logging.getLogger(__name__)
meta_bp = webhook_blueprint("webhooks_meta", __name__)

BODY_LIMIT = 3 * MiB
MAX_ENTRIES = 1000
OBJECT = "whatsapp_business_account"


# The shape a notification must have, as a schema (the reference) and as the equivalent
# hand-written check the endpoint runs (`check_shape`, much cheaper than load());
# tests/integration/test_webhook_fuzz.py proves that both accept exactly the same documents.

class _Change(Schema):
    class Meta:
        unknown = INCLUDE

    field = fields.String(required=True)
    value = fields.Dict(required=True)


class _Entry(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.Raw(load_default=None)
    changes = fields.List(fields.Nested(_Change), load_default=list)


class MetaNotificationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    object = fields.String(required=True, validate=validate.Equal(OBJECT))
    entry = fields.List(fields.Nested(_Entry), required=True,
                        validate=validate.Length(max=MAX_ENTRIES))


def check_shape(payload) -> None:
    """What MetaNotificationSchema().load(payload) checks, without building anything;
    BadPayload when it would raise ValidationError."""
    if not isinstance(payload, dict) or payload.get("object") != OBJECT:
        raise BadPayload("object")
    entries = payload.get("entry")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise BadPayload("entry")
    for entry in entries:
        if not isinstance(entry, dict):
            raise BadPayload("entry")
        if "changes" not in entry:
            continue
        changes = entry["changes"]
        if not isinstance(changes, list):
            raise BadPayload("changes")
        for change in changes:
            if (not isinstance(change, dict) or not isinstance(change.get("field"), str)
                    or not isinstance(change.get("value"), dict)):
                raise BadPayload("change")


@meta_bp.get("/webhooks/meta")
def verify():
    expected = current_app.config.get("META_VERIFY_TOKEN") or ""
    given = request.args.get("hub.verify_token", "")
    if request.args.get("hub.mode") != "subscribe" or not expected or not hmac.compare_digest(
            given.encode(), expected.encode()):
        return refuse(403, "verification failed")
    challenge = request.args.get("hub.challenge", "")
    if len(challenge) > 256:
        return refuse(400, "challenge too long")
    return challenge, 200, {"Content-Type": "text/plain; charset=utf-8"}


@meta_bp.post("/webhooks/meta")
def receive():
    body = read_body(BODY_LIMIT)
    signature = request.headers.get("X-Hub-Signature-256", "")
    if not signature:
        return refuse(401, "missing signature")
    try:
        payload = parse_json(body)
        check_shape(payload)
    except (ValueError, TypeError):
        return refuse(400, "malformed notification")

    response = cached_then_fresh(lambda fresh: _accept(payload, body, signature, fresh))
    return response or refuse(403, "forbidden")  # a channel was deleted meanwhile


def _accept(payload: dict, body: bytes, signature: str, fresh: bool):
    channels = _channels_named_in(payload, fresh)
    platform_signed, signed_by = _signature_check(body, signature, channels.values())
    if not platform_signed and not signed_by:
        stale_unless_fresh(bool(channels), fresh)  # an app secret may have just changed
        return refuse(403, "forbidden")
    try:
        per_channel = normalise(payload, channels)
    except (ValueError, TypeError, KeyError, AttributeError):  # BadPayload is a ValueError
        return refuse(400, "malformed notification")
    rows: list[dict] = []
    for channel_id, events in per_channel.items():
        channel = channels[channel_id]
        if not (platform_signed or channel_id in signed_by):
            # Signed with another channel's own app secret: that secret speaks for its own
            # channel only, never for a number of another workspace named in the same body.
            log.warning("meta notification for channel %s not signed by its app secret: "
                        "ignored", channel_id)
            continue
        if channel.enabled:
            rows.extend(event_rows(channel, "meta", events))
    store_events(rows)  # every channel's rows in one write: all stored, or none (StaleChannel)
    return ack()


def _channels_named_in(payload: dict, fresh: bool = False) -> dict[int, ChannelRef]:
    """Verified Meta channels the payload names (by phone_number_id or by WABA id), keyed by
    id. An unverified channel is not one of them: it receives nothing."""
    numbers, wabas = set(), set()
    for entry in payload.get("entry") or []:
        if isinstance(entry.get("id"), (str, int)):
            wabas.add(str(entry["id"]))
        for change in entry.get("changes") or []:
            metadata = (change.get("value") or {}).get("metadata")
            if isinstance(metadata, dict) and isinstance(metadata.get("phone_number_id"),
                                                         (str, int)):
                numbers.add(str(metadata["phone_number_id"]))
    if not numbers and not wabas:
        return {}

    def load() -> dict[int, ChannelRef]:
        query = db.session.query(Channel).filter(Channel.kind == "meta",
                                                 Channel.verified_at.is_not(None))
        rows = query.filter(Channel.phone_number_id.in_(numbers)
                            | Channel.waba_id.in_(wabas)).all()
        return {row.id: ChannelRef.of(row) for row in rows}

    key = ("meta", frozenset(numbers), frozenset(wabas))
    return channel_cache.lookup(key, load, fresh=fresh) or {}


def _signature_check(body: bytes, header: str, channels) -> tuple[bool, set[int]]:
    """(signed with META_APP_SECRET, ids of the channels whose own app secret signed it)."""
    if not header.startswith("sha256="):
        return False, set()
    # Bytes, not str: compare_digest raises TypeError on non-ASCII text (a forged header).
    given = header[len("sha256="):].strip().lower().encode("utf-8", "replace")

    def matches(secret: str | None) -> bool:
        if not secret:
            return False
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
        return credential_matches(given, digest)

    # Every candidate is checked (no early exit): timing does not tell which secret matched.
    platform_signed = matches(current_app.config.get("META_APP_SECRET"))
    signed_by = {c.id for c in channels if matches(c.app_secret)}
    return platform_signed, signed_by


def _text_of(message: dict) -> str | None:
    kind = message.get("type")
    if kind == "text":
        body = (message.get("text") or {}).get("body")
    elif kind == "button":
        body = (message.get("button") or {}).get("text")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        body = reply.get("title")
    elif kind == "edit":  # the edited message as it reads now
        edited = (message.get("edit") or {}).get("message")
        return _text_of(edited) if isinstance(edited, dict) else None
    else:
        media = message.get(kind) if isinstance(kind, str) else None
        body = media.get("caption") if isinstance(media, dict) else None
    return body if isinstance(body, str) else None


def _sender(message: dict, contacts: list[dict]) -> str | None:
    """Who wrote the message: the phone number (`from`) when Meta gives it — identities made
    before business-scoped ids keep working —, else the business-scoped user id
    (`from_user_id`, e.g. `US.13491208655302741918`: a user with a username may hide the
    number), else the one contact of the change (its `wa_id`, else its `user_id`)."""
    sender = _s(message.get("from")) or _s(message.get("from_user_id"))
    if sender is None and len(contacts) == 1:
        sender = _s(contacts[0].get("wa_id")) or _s(contacts[0].get("user_id"))
    return sender


def _contact_name(contacts: list[dict], message: dict, sender: str) -> str | None:
    keys = {sender, _s(message.get("from")), _s(message.get("from_user_id"))} - {None}
    for contact in contacts:
        if keys & {_s(contact.get("wa_id")), _s(contact.get("user_id"))}:
            name = (contact.get("profile") or {}).get("name")
            return _s(name) if isinstance(name, str) else None
    return None


def _unreadable(kind: str, item, metadata: dict) -> NormalisedEvent:
    """A message or status without the ids it needs (no message id, nobody we can answer):
    kept as an `other` event (nothing acts on it), never a 400 for the whole delivery."""
    digest = hashlib.sha256(json.dumps(item, sort_keys=True, default=str).encode()).hexdigest()
    log.warning("meta %s without the ids it needs: stored, not acted on", kind)
    return NormalisedEvent(kind="other", type=f"{kind}:unidentified",
                           dedupe_key=f"unidentified:{kind}:{digest[:32]}",
                           payload={"metadata": metadata, kind: item})


def message_event(message, metadata: dict, contacts: list[dict]) -> NormalisedEvent:
    """One entry of `messages[]` as an event, on its own: a message Meta sends without `from`
    (business-scoped ids) is keyed on its business-scoped id; one with no id at all is kept
    as `other`. An edit (`type: edit`) carries the edited message's id as `message_id` (as
    Telegram's edits do) and the new text; a number change (`system`, `user_changed_number`)
    is a `membership` event moving the chat to the new number (app/jobs/events.py)."""
    if not isinstance(message, dict):
        raise BadPayload("message")
    wamid = _s(message.get("id"))
    sender = _sender(message, contacts)
    if not wamid or not sender:
        return _unreadable("message", message, metadata)
    kind = _s(message.get("type")) or "unknown"
    payload = {"metadata": metadata, "message": message}
    occurred = from_epoch(message.get("timestamp"))
    system = message.get("system") if isinstance(message.get("system"), dict) else {}
    if kind == "system" and system.get("type") == "user_changed_number":
        new_id = _s(system.get("wa_id")) or _s(system.get("new_wa_id"))
        return NormalisedEvent(
            kind="membership", type="user_changed_number", dedupe_key=wamid, payload=payload,
            chat_id=sender, sender=sender, text=_s(system.get("body")), message_id=wamid,
            status="number_changed", occurred_at=occurred,
            extra={"old_chat_id": sender, "new_chat_id": new_id})
    message_id = wamid
    if kind == "edit":
        edit = message.get("edit") if isinstance(message.get("edit"), dict) else {}
        message_id = _s(edit.get("original_message_id")) or wamid
    return NormalisedEvent(
        kind="message", type=f"message:{kind}", dedupe_key=wamid, payload=payload,
        chat_id=sender, sender=sender, sender_name=_contact_name(contacts, message, sender),
        text=_text_of(message), message_id=message_id, occurred_at=occurred)


def normalise(payload: dict, channels: dict) -> dict[int, list[NormalisedEvent]]:
    by_number = {c.phone_number_id: c.id for c in channels.values() if c.phone_number_id}
    by_waba = {c.waba_id: c.id for c in channels.values() if c.waba_id}
    result: dict[int, list[NormalisedEvent]] = defaultdict(list)
    for entry in payload["entry"]:
        waba_id = str(entry.get("id")) if entry.get("id") is not None else None
        for change in entry.get("changes") or []:
            value = change["value"]
            field = change["field"]
            if field == "message_template_status_update":
                channel_id = by_waba.get(waba_id)
                if channel_id is None:
                    continue
                template_id = value.get("message_template_id")
                event = value.get("event")
                result[channel_id].append(NormalisedEvent(
                    kind="other", type="message_template_status_update",
                    dedupe_key=f"template:{template_id}:{event}:{entry.get('time')}",
                    payload={"entry_id": waba_id, "value": value}, status=_s(event),
                    error_title=_s(value.get("reason"))))
                continue
            if field != "messages":
                continue
            metadata = value.get("metadata") or {}
            channel_id = by_number.get(str(metadata.get("phone_number_id")))
            if channel_id is None:
                log.info("meta notification for unknown number %s ignored",
                         metadata.get("phone_number_id"))
                continue
            contacts = [c for c in value.get("contacts") or [] if isinstance(c, dict)]
            for message in value.get("messages") or []:
                result[channel_id].append(message_event(message, metadata, contacts))
            for status in value.get("statuses") or []:
                if not isinstance(status, dict):
                    raise BadPayload("status")
                status_id, state = _s(status.get("id")), _s(status.get("status"))
                if not status_id or not state:
                    result[channel_id].append(_unreadable("status", status, metadata))
                    continue
                errors = status.get("errors") or []
                first = errors[0] if errors and isinstance(errors[0], dict) else {}
                result[channel_id].append(NormalisedEvent(
                    kind="status", type="status", dedupe_key=f"{status_id}:{state}",
                    payload={"metadata": metadata, "status": status},
                    chat_id=_s(status.get("recipient_id")) or _s(status.get("recipient_user_id")),
                    message_id=status_id, status=state,
                    error_code=_s(first.get("code")), error_title=_s(first.get("title")),
                    occurred_at=from_epoch(status.get("timestamp"))))
    return result


def _s(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value).strip() or None
    return None
