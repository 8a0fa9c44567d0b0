"""POST /webhooks/greenapi — Green API notifications (docs/external-apis.md 2).

Authenticates with the `Authorization` header equal to the channel's webhook token (raw or
`Bearer <token>`), routes by `instanceData.idInstance`. Dedupe keys: `chatId:idMessage` for
messages (idMessage is unique only within a chat), `status:chatId:idMessage:status` for statuses.
"""
from __future__ import annotations

import hashlib
import json

from flask import request
from marshmallow import INCLUDE, Schema, fields

from app.extensions import db
from app.models import Channel
from app.webhooks.channels import ChannelRef, authenticated, cached_then_fresh
from app.webhooks.http import MiB, BadPayload, ack, parse_json, read_body, refuse, webhook_blueprint
from app.store import event_rows
from app.webhooks.intake import NormalisedEvent, from_epoch
from app.webhooks.persist import store_events

greenapi_bp = webhook_blueprint("webhooks_greenapi", __name__)

BODY_LIMIT = 1 * MiB
INCOMING = "incomingMessageReceived"
OUTGOING = ("outgoingMessageReceived", "outgoingAPIMessageReceived")
EDITED = "editedMessage"  # messageData.typeMessage of an edit (editedMessageData)


# The shape a notification must have, as a schema (the reference) and as the equivalent
# hand-written check the endpoint runs (`check_shape`, about 20 times cheaper than load());
# tests/integration/test_webhook_fuzz.py proves that both accept exactly the same documents.
class _InstanceData(Schema):
    class Meta:
        unknown = INCLUDE

    idInstance = fields.Raw(required=True)  # noqa: N815 - the platform's field name


class GreenWebhookSchema(Schema):
    class Meta:
        unknown = INCLUDE

    typeWebhook = fields.String(required=True)  # noqa: N815
    instanceData = fields.Nested(_InstanceData, required=True)  # noqa: N815
    timestamp = fields.Integer(load_default=None)
    idMessage = fields.String(load_default=None)  # noqa: N815
    senderData = fields.Dict(load_default=None)  # noqa: N815
    messageData = fields.Dict(load_default=None)  # noqa: N815


def check_shape(payload) -> None:
    """What GreenWebhookSchema().load(payload) checks, without building anything; BadPayload
    when it would raise ValidationError."""
    if not isinstance(payload, dict):
        raise BadPayload("not an object")
    if not isinstance(payload.get("typeWebhook"), str):
        raise BadPayload("typeWebhook")
    instance = payload.get("instanceData")
    if not isinstance(instance, dict) or instance.get("idInstance") is None:
        raise BadPayload("instanceData")
    timestamp = payload.get("timestamp")
    if timestamp is not None:  # fields.Integer(): anything int() takes, except booleans
        if timestamp is True or timestamp is False:
            raise BadPayload("timestamp")
        try:
            int(timestamp)
        except (TypeError, ValueError, OverflowError) as exc:
            raise BadPayload("timestamp") from exc
    id_message = payload.get("idMessage")
    if id_message is not None and not isinstance(id_message, str):
        raise BadPayload("idMessage")
    for key in ("senderData", "messageData"):
        value = payload.get(key)
        if value is not None and not isinstance(value, dict):
            raise BadPayload(key)


@greenapi_bp.post("/webhooks/greenapi")
def receive():
    body = read_body(BODY_LIMIT)
    try:
        payload = parse_json(body)
        check_shape(payload)
        id_instance = _instance_id(payload["instanceData"]["idInstance"])
    except (ValueError, TypeError, KeyError):
        return refuse(400, "malformed notification")

    given = _token_from_header(request.headers.get("Authorization"))
    if given is None:
        return refuse(401, "missing token")
    response = cached_then_fresh(lambda fresh: _accept(payload, id_instance, given, fresh))
    return response or refuse(403, "forbidden")  # the channel was deleted meanwhile


def _accept(payload: dict, id_instance: str, given: str, fresh: bool):
    channel = authenticated(("greenapi", id_instance), lambda: _load(id_instance), given, fresh)
    if channel is None:
        return refuse(403, "forbidden")
    if not channel.enabled:
        return ack(ignored="channel disabled")

    try:
        events = normalise(payload)
    except (ValueError, TypeError, KeyError, AttributeError):  # BadPayload is a ValueError
        return refuse(400, "malformed notification")
    store_events(event_rows(channel, "greenapi", events))
    return ack()


def _load(id_instance: str) -> ChannelRef | None:
    channel = db.session.query(Channel).filter_by(kind="greenapi",
                                                  id_instance=id_instance).one_or_none()
    return ChannelRef.of(channel) if channel is not None else None


def _instance_id(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise BadPayload("idInstance")
    text = str(value).strip()
    if not text.isdigit() or len(text) > 32:
        raise BadPayload("idInstance")
    return text


def _token_from_header(header: str | None) -> str | None:
    if not header:
        return None
    header = header.strip()
    if header.lower() == "bearer":  # "Bearer " with nothing after it: no token at all
        return None
    if header.lower().startswith("bearer "):
        header = header[7:].strip()
    return header or None


def message_text(message_data: dict | None) -> str | None:
    """The text of a message whatever its shape (text, extended text, legacy quoted message)."""
    if not isinstance(message_data, dict):
        return None
    kind = message_data.get("typeMessage")
    if kind == "textMessage":
        text = _field(message_data, "textMessageData", "textMessage")
    elif kind in ("extendedTextMessage", "quotedMessage"):
        text = _field(message_data, "extendedTextMessageData", "text")
    elif kind == EDITED:  # the message as it reads after the edit
        text = _field(message_data, "editedMessageData", "textMessage")
    else:  # media with a caption, etc.
        text = _field(message_data, "fileMessageData", "caption")
    return text if isinstance(text, str) else None


def _field(data: dict, section: str, key: str):
    inner = data.get(section)
    return inner.get(key) if isinstance(inner, dict) else None


def normalise(payload: dict) -> list[NormalisedEvent]:
    kind = payload["typeWebhook"]
    timestamp = payload.get("timestamp")
    occurred = from_epoch(timestamp)
    if kind == INCOMING or kind in OUTGOING:
        sender = payload.get("senderData") or {}
        if not isinstance(sender, dict):
            raise BadPayload("senderData")
        chat_id = _str(sender.get("chatId"))
        id_message = _str(payload.get("idMessage"))
        if not chat_id or not id_message:
            raise BadPayload("chatId/idMessage")
        message_data = payload.get("messageData")
        # an edit names the message it edits (`stanzaId`): that is its message_id, as for
        # Telegram's edits (app/jobs/edits.py); its own idMessage stays in the dedupe key
        edited = (_str(_field(message_data, "editedMessageData", "stanzaId"))
                  if isinstance(message_data, dict)
                  and message_data.get("typeMessage") == EDITED else None)
        return [NormalisedEvent(
            kind="message", type=kind, dedupe_key=f"{chat_id}:{id_message}", payload=payload,
            chat_id=chat_id, sender=_str(sender.get("sender")) or chat_id,
            sender_name=_str(sender.get("senderName")) or _str(sender.get("chatName")),
            is_group=chat_id.endswith("@g.us"), from_me=kind in OUTGOING,
            text=message_text(message_data), message_id=edited or id_message,
            occurred_at=occurred,
        )]
    if kind == "outgoingMessageStatus":
        chat_id, id_message = _str(payload.get("chatId")), _str(payload.get("idMessage"))
        status = _str(payload.get("status"))
        if not id_message or not status:
            raise BadPayload("status")
        return [NormalisedEvent(
            kind="status", type=kind, dedupe_key=f"status:{chat_id}:{id_message}:{status}",
            payload=payload, chat_id=chat_id, message_id=id_message, status=status,
            error_code=status if status not in ("sent", "delivered", "read") else None,
            occurred_at=occurred,
        )]
    if kind == "stateInstanceChanged":
        state = _str(payload.get("stateInstance"))
        if not state:
            raise BadPayload("stateInstance")
        return [NormalisedEvent(kind="state", type=kind,
                                dedupe_key=f"state:{timestamp}:{state}", payload=payload,
                                status=state, occurred_at=occurred)]
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]
    return [NormalisedEvent(kind="other", type=kind[:60] or "unknown",
                            dedupe_key=f"other:{kind}:{digest}", payload=payload,
                            occurred_at=occurred)]


def _str(value) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, str)):
        text = str(value).strip()
        return text or None
    return None
