"""GET/POST /webhooks/meta — WhatsApp Cloud API notifications (EXTERNAL_APIS.md section 3).

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
import logging
from collections import defaultdict

from flask import current_app, request
from marshmallow import INCLUDE, Schema, fields, validate

from app.extensions import db
from app.models import Channel
from app.webhooks.intake import (MiB, BadPayload, ChannelRef, NormalisedEvent, StaleChannel,
                                 ack, cached_then_fresh, channel_cache, event_rows, from_epoch,
                                 parse_json, read_body, refuse, store_events, webhook_blueprint)

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
        if channels and not fresh:
            raise StaleChannel(None)  # an app secret may have just changed: ask the database
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
        return hmac.compare_digest(digest, given)

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
    else:
        media = message.get(kind) if isinstance(kind, str) else None
        body = media.get("caption") if isinstance(media, dict) else None
    return body if isinstance(body, str) else None


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
            names = {c.get("wa_id"): (c.get("profile") or {}).get("name")
                     for c in value.get("contacts") or [] if isinstance(c, dict)}
            for message in value.get("messages") or []:
                wamid = _s(message.get("id"))
                sender = _s(message.get("from"))
                if not wamid or not sender:
                    raise BadPayload("message id/from")
                result[channel_id].append(NormalisedEvent(
                    kind="message", type=f"message:{_s(message.get('type')) or 'unknown'}",
                    dedupe_key=wamid, payload={"metadata": metadata, "message": message},
                    chat_id=sender, sender=sender, sender_name=_s(names.get(sender)),
                    text=_text_of(message), message_id=wamid,
                    occurred_at=from_epoch(message.get("timestamp"))))
            for status in value.get("statuses") or []:
                status_id, state = _s(status.get("id")), _s(status.get("status"))
                if not status_id or not state:
                    raise BadPayload("status id/status")
                errors = status.get("errors") or []
                first = errors[0] if errors and isinstance(errors[0], dict) else {}
                result[channel_id].append(NormalisedEvent(
                    kind="status", type="status", dedupe_key=f"{status_id}:{state}",
                    payload={"metadata": metadata, "status": status},
                    chat_id=_s(status.get("recipient_id")), message_id=status_id, status=state,
                    error_code=_s(first.get("code")), error_title=_s(first.get("title")),
                    occurred_at=from_epoch(status.get("timestamp"))))
    return result


def _s(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value).strip() or None
    return None
