"""The public API of the marketing workspace (docs/contracts.md "Public API"): contacts and
messages, at the exact paths the contract names.

* `GET/POST /api/v1/contacts`, `GET/PUT/DELETE /api/v1/contacts/<id>`;
* `POST /api/v1/messages/send`, `GET /api/v1/messages/<conversationId>`.

Authentication is a personal API key in `X-API-Key` (or a JWT): no browser session, so no
cross-site request can use a signed-in person's cookie. Every call counts against the
workspace's per-plan rate limit (app/api_limits.py: 429 with `Retry-After`,
`X-RateLimit-Limit` and `X-RateLimit-Remaining`), needs the plan's `api` module, and works in
the caller's own workspace (the master admin, who belongs to none, is refused: they have the
REST twins). Bodies and answers are camelCase JSON; every refusal is
`{"error": true, "message": "…", "code": "…"}` (400 with `fields` naming each refused field,
401, 403, 404, 409 for a phone another contact already has, 429).
"""
from __future__ import annotations

import functools
import math
import re
import uuid
from datetime import timedelta

from flask import g, jsonify, make_response, request
from flask_appbuilder import expose
from flask_appbuilder.api import BaseApi, protect
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext as _
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError
from sqlalchemy import func, literal, or_, select, union_all
from werkzeug.exceptions import BadRequest

from app import contacts
from app.extensions import db
from app.models import Channel, Conversation, InboundEvent, LinkedUser, OutboundMessage
from app.models.base import utcnow
from app.plans import PlanRefusal, check_room
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import current_scope
from app.views.plan_checks import api_refusal

MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20
MAX_PAGE = 100_000
TEXT_LIMIT = 4096
# Meta: free text only within 24 hours of the contact's last message
META_WINDOW = timedelta(hours=24)
SENDABLE_KINDS = ("greenapi", "meta", "telegram")
TAG = re.compile(r"[^,\x00-\x1f]{1,40}")
FIELD_KEY = re.compile(r"[a-z0-9_]{1,40}")
EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,189}\.[^@\s\x00-\x1f.]{1,63}")
TELEGRAM_CHAT = re.compile(r"-?\d{1,19}")
WHATSAPP_CHAT = re.compile(r"(\d{5,20})@(c|g)\.us")
CUSTOM_VALUE_LIMIT = 1000
CUSTOM_FIELDS_LIMIT = 50


class Refused(Exception):
    """A refusal answered in the public API's error shape."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def _bad(field: str, message: str) -> Refused:
    return Refused(400, "VALIDATION_ERROR", _("Some values were refused."), {field: message})


def public(f):
    """Every operation: credentials present and valid (else 401 in our shape), the caller in a
    workspace whose plan has the API, and any refusal raised inside answered as `Refused`."""

    @functools.wraps(f)
    def wraps(self, *args, **kwargs):
        if not request.headers.get("X-API-Key") and not request.headers.get("Authorization"):
            return self.error(401, "UNAUTHORIZED",
                              _("Send your API key in the X-API-Key header."))
        try:
            return f(self, *args, **kwargs)
        except (JWTExtendedException, PyJWTError):
            return self.error(401, "UNAUTHORIZED", _("The API key or token is not valid."))
        except Refused as refusal:
            db.session.rollback()
            extra = {"fields": refusal.fields} if refusal.fields else {}
            return self.error(refusal.status, refusal.code, refusal.message, **extra)
        except PlanRefusal as refusal:
            db.session.rollback()
            return self.error(403, "PLAN_LIMIT", str(refusal.message))
        except BadRequest:
            db.session.rollback()
            return self.error(400, "BAD_REQUEST", _("The body is not a JSON object."))

    return wraps


def inside_workspace(f):
    """Below `protect` (the caller is known): the workspace, the plan's `api` module."""

    @functools.wraps(f)
    def wraps(self, *args, **kwargs):
        workspace_id = current_scope().workspace_id
        if workspace_id is None:
            raise Refused(403, "FORBIDDEN", _("The public API works inside one workspace: use "
                                              "an API key of a member of that workspace."))
        refusal = api_refusal()
        if refusal is not None:
            raise Refused(403, "FORBIDDEN", str(refusal.message))
        g.public_workspace_id = workspace_id
        return f(self, *args, **kwargs)

    return wraps


class PublicApi(BaseApi):
    """The shared answers: camelCase bodies and the error shape on every refusal, FAB's own
    (401/403 from `protect`) included."""

    allow_browser_login = False

    @staticmethod
    def error(status: int, code: str, message: str, **extra):
        response = make_response(jsonify({"error": True, "message": message, "code": code,
                                          **extra}), status)
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        return response

    def response_400(self, message=None):
        return self.error(400, "BAD_REQUEST", str(message or _("Bad request.")))

    def response_401(self):
        return self.error(401, "UNAUTHORIZED", _("The API key or token is not valid."))

    def response_403(self):
        return self.error(403, "FORBIDDEN", _("Your role does not allow this."))

    def response_404(self):
        return self.error(404, "NOT_FOUND", _("Not found."))

    def response_422(self, message=None):
        return self.error(400, "VALIDATION_ERROR", str(message or _("Some values were refused.")))

    def response_500(self, message=None):
        return self.error(500, "INTERNAL_ERROR", _("Something went wrong on our side."))

    @staticmethod
    def body() -> dict:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise Refused(400, "BAD_REQUEST", _("The body must be a JSON object."))
        return data

    @staticmethod
    def paging() -> tuple[int, int]:
        return (_int_arg("page", 1, 1, MAX_PAGE),
                min(_int_arg("perPage", DEFAULT_PER_PAGE, 1, 1_000_000), MAX_PER_PAGE))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise _bad(name, _("A whole number from %(low)s to %(high)s.", low=low, high=high))
    return int(raw)


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") + "Z" if value else None


def _id(pk: str) -> int:
    """A path id: digits that fit a row id, else 404 (not 400: a path names a row)."""
    if not (pk.isascii() and pk.isdigit()) or len(pk) > 18 or int(pk) > 2**63 - 1:
        raise Refused(404, "NOT_FOUND", _("Not found."))
    return int(pk)


# --- contacts -----------------------------------------------------------------------------------

def contact_json(contact: LinkedUser) -> dict:
    return {"id": contact.id, "name": contact.name, "phone": contact.phone,
            "email": contact.email, "username": contact.username,
            "language": contact.language, "tags": contacts.tag_list(contact.tags),
            "customFields": contact.custom_fields or {}, "optedOut": bool(contact.opted_out),
            "createdAt": _iso(contact.created_at), "updatedAt": _iso(contact.updated_at)}


def normalise_phone(value) -> str | None:
    """The screens' and the import's rule (app/contacts.py), for a JSON value: digits of an
    international number, None for empty; ValueError for anything else."""
    if value is not None and not isinstance(value, str):
        raise ValueError
    return contacts.normalise_phone(value)  # BadPhone is a ValueError


def _text(data: dict, key: str, limit: int) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or "\x00" in value:
        raise _bad(key, _("Text expected."))
    value = value.strip()
    if len(value) > limit:
        raise _bad(key, _("At most %(n)s characters.", n=limit))
    return value or None


def contact_values(data: dict) -> dict:
    """The columns a create or update body sets (only the keys it gives)."""
    values: dict = {}
    unknown = sorted(set(data) - {"name", "phone", "email", "tags", "customFields", "optedOut",
                                  "language"})
    if unknown:
        raise _bad(unknown[0], _("Unknown field."))
    if "name" in data:
        values["name"] = _text(data, "name", 255)
    if "phone" in data:
        try:
            values["phone"] = normalise_phone(data["phone"])
        except ValueError:
            raise _bad("phone", _("An international phone number: digits, optionally with +, "
                                  "spaces or dashes.")) from None
    if "email" in data:
        email = _text(data, "email", 254)
        if email is not None and not EMAIL.fullmatch(email):
            raise _bad("email", _("Not an email address."))
        values["email"] = email.lower() if email else None
    if "language" in data:
        language = _text(data, "language", 10)
        if language is None or not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", language):
            raise _bad("language", _("A language code such as en or pt_BR."))
        values["language"] = language
    if "tags" in data:
        tags = data["tags"]
        if not isinstance(tags, list) or len(tags) > 50 or not all(
                isinstance(t, str) and TAG.fullmatch(t.strip() or "\x00") for t in tags):
            raise _bad("tags", _("A list of at most 50 tags, each 1 to 40 characters "
                                 "without commas."))
        values["tags"] = ", ".join(dict.fromkeys(t.strip() for t in tags)) or None
    if "customFields" in data:
        values["custom_fields"] = custom_fields(data["customFields"])
    if "optedOut" in data:
        if not isinstance(data["optedOut"], bool):
            raise _bad("optedOut", _("true or false."))
        values["opted_out"] = data["optedOut"]
    return values


def custom_fields(value) -> dict:
    if not isinstance(value, dict) or len(value) > CUSTOM_FIELDS_LIMIT:
        raise _bad("customFields", _("An object of at most %(n)s fields.",
                                     n=CUSTOM_FIELDS_LIMIT))
    for key, item in value.items():
        if not FIELD_KEY.fullmatch(key):
            raise _bad("customFields", _("Field names are 1 to 40 small letters, digits or _."))
        if isinstance(item, str):
            if len(item) > CUSTOM_VALUE_LIMIT or "\x00" in item:
                raise _bad("customFields", _("A value is at most %(n)s characters.",
                                             n=CUSTOM_VALUE_LIMIT))
        elif item is not None and (not isinstance(item, (int, float, bool)) or (
                isinstance(item, float) and not math.isfinite(item)) or (
                isinstance(item, int) and abs(item) >= 2**63)):
            raise _bad("customFields", _("Values are text, numbers, true, false or null."))
    return dict(value)


class ContactsApi(PublicApi):
    """`/api/v1/contacts`: a workspace's contacts (a contact with a panel username is a
    linked user: app/models/people.py)."""

    resource_name = "contacts"
    route_base = "/api/v1/contacts"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    method_permission_name = {"list": "get", "one": "get", "create": "post", "update": "put",
                              "delete": "delete"}

    def _contact(self, pk: str) -> LinkedUser:
        contact = db.session.execute(select(LinkedUser).where(
            LinkedUser.id == _id(pk),
            LinkedUser.workspace_id == g.public_workspace_id)).scalar_one_or_none()
        if contact is None:
            raise Refused(404, "NOT_FOUND", _("No such contact in this workspace."))
        return contact

    def _phone_free(self, phone: str | None, besides: int | None = None) -> None:
        if phone is None:
            return
        other = db.session.execute(select(LinkedUser.id).where(
            LinkedUser.workspace_id == g.public_workspace_id, LinkedUser.phone == phone,
            LinkedUser.id != (besides or 0)).limit(1)).scalar()
        if other is not None:
            raise Refused(409, "CONFLICT", _("Contact %(id)s already has this phone number.",
                                             id=other), {"phone": _("Already used.")})

    @expose("", methods=["GET"])
    @public
    @protect()
    @inside_workspace
    @permission_name("get")
    def list(self):
        """The workspace's contacts, newest first.
        ---
        get:
          parameters:
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: perPage, schema: {type: integer, minimum: 1, maximum: 100}}
          - {in: query, name: search, schema: {type: string}}
          - {in: query, name: tag, schema: {type: string}}
          responses:
            200:
              description: '{"data": [contact], "page", "perPage", "total"}'
        """
        page, per_page = self.paging()
        query = select(LinkedUser).where(LinkedUser.workspace_id == g.public_workspace_id)
        search = (request.args.get("search") or "").replace("\x00", "").strip()[:100]
        if search:
            like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(or_(*(column.ilike(like, escape="\\") for column in (
                LinkedUser.name, LinkedUser.phone, LinkedUser.email, LinkedUser.username))))
        tag = (request.args.get("tag") or "").replace("\x00", "").strip()[:40]
        if tag:
            # a whole tag of the comma list, whatever the spaces around it
            padded = func.concat(",", func.replace(func.coalesce(LinkedUser.tags, ""), ", ", ","),
                                 ",")
            query = query.where(padded.contains("," + tag + ",", autoescape=True))
        total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar()
        rows = db.session.execute(query.order_by(LinkedUser.id.desc())
                                  .offset((page - 1) * per_page).limit(per_page)).scalars()
        return self.response(200, data=[contact_json(c) for c in rows], page=page,
                             perPage=per_page, total=total)

    @expose("/<pk>", methods=["GET"])
    @public
    @protect()
    @inside_workspace
    @permission_name("get")
    def one(self, pk):
        """One contact.
        ---
        get:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            200:
              description: a contact
        """
        return self.response(200, **contact_json(self._contact(pk)))

    @expose("", methods=["POST"])
    @public
    @protect()
    @inside_workspace
    @permission_name("post")
    def create(self):
        """Create a contact.
        ---
        post:
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    name: {type: string}
                    phone: {type: string}
                    email: {type: string}
                    language: {type: string}
                    tags: {type: array, items: {type: string}}
                    customFields: {type: object}
                    optedOut: {type: boolean}
          responses:
            201:
              description: the contact
            409:
              description: another contact has this phone number
        """
        values = contact_values(self.body())
        if not any(values.get(key) for key in ("name", "phone", "email")):
            raise _bad("name", _("Give at least a name, a phone or an email."))
        check_room(g.public_workspace_id, "max_linked_users")
        self._phone_free(values.get("phone"))
        now = utcnow()
        contact = LinkedUser(workspace_id=g.public_workspace_id, source="api",
                             **{"custom_fields": {}, **values})
        if values.get("opted_out"):
            contact.opted_out_at = now
        db.session.add(contact)
        db.session.commit()
        return self.response(201, **contact_json(contact))

    @expose("/<pk>", methods=["PUT"])
    @public
    @protect()
    @inside_workspace
    @permission_name("put")
    def update(self, pk):
        """Update the fields given.
        ---
        put:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          requestBody:
            content:
              application/json:
                schema: {type: object}
          responses:
            200:
              description: the contact
            409:
              description: another contact has this phone number
        """
        contact = self._contact(pk)
        values = contact_values(self.body())
        if "phone" in values:
            self._phone_free(values["phone"], besides=contact.id)
        if "opted_out" in values and values["opted_out"] != contact.opted_out:
            contact.opted_out_at = utcnow() if values["opted_out"] else None
        for key, value in values.items():
            setattr(contact, key, value)
        db.session.commit()
        return self.response(200, **contact_json(contact))

    @expose("/<pk>", methods=["DELETE"])
    @public
    @protect()
    @inside_workspace
    @permission_name("delete")
    def delete(self, pk):
        """Delete a contact (its chat identities go with it; its conversations stay).
        ---
        delete:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          responses:
            204:
              description: deleted
        """
        db.session.delete(self._contact(pk))
        db.session.commit()
        return "", 204


# --- messages -----------------------------------------------------------------------------------

def chat_for(channel: Channel, to: str) -> str:
    """The platform's chat id for `to` (a phone number, or a chat id as the platform writes
    it), or a refusal naming `to`."""
    to = to.strip()
    if channel.kind == "telegram":
        if TELEGRAM_CHAT.fullmatch(to):
            return to
        raise _bad("to", _("A Telegram chat id (a whole number)."))
    match = WHATSAPP_CHAT.fullmatch(to)
    if match:
        if channel.kind == "greenapi":
            return to
        if match.group(2) == "c":
            return match.group(1)
        raise _bad("to", _("The Meta Cloud API does not send to groups."))
    try:
        phone = normalise_phone(to)
    except ValueError:
        phone = None
    if phone is None:
        raise _bad("to", _("A phone number in international form, or a chat id."))
    return f"{phone}@c.us" if channel.kind == "greenapi" else phone


def message_json(row, conversation_id: int) -> dict:
    if row.direction == "in":
        status, error = "received", None
    else:
        status = row.delivery_status or {"pending": "queued", "retrying": "queued",
                                         "sending": "queued", "held": "queued"}.get(
            row.state, row.state)
        error = row.error_code if status == "failed" else None
    return {"id": f"{row.direction}-{row.id}", "conversationId": conversation_id,
            "direction": row.direction, "type": "text", "text": row.text, "status": status,
            "error": error, "sender": row.sender, "purpose": row.purpose,
            "createdAt": _iso(row.at)}


class MessagesApi(PublicApi):
    """`/api/v1/messages`: send a text, read a conversation's messages."""

    resource_name = "messages"
    route_base = "/api/v1/messages"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}
    method_permission_name = {"send": "post", "read": "get"}

    def _conversation(self, pk) -> Conversation:
        conversation = db.session.execute(select(Conversation).where(
            Conversation.id == _id(str(pk)),
            Conversation.workspace_id == g.public_workspace_id,
            # a provider's group is where dispatches go, not a customer's conversation
            Conversation.kind != "provider")).scalar_one_or_none()
        if conversation is None:
            raise Refused(404, "NOT_FOUND", _("No such conversation in this workspace."))
        return conversation

    def _channel(self, data: dict) -> Channel | None:
        if data.get("channelId") is None:
            return None
        value = data["channelId"]
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
            raise _bad("channelId", _("A channel id (a whole number)."))
        channel = db.session.execute(select(Channel).where(
            Channel.id == value, Channel.workspace_id == g.public_workspace_id)).scalar()
        if channel is None:
            raise Refused(404, "NOT_FOUND", _("No such channel in this workspace."))
        return channel

    def _only_channel(self) -> Channel:
        channels = db.session.execute(select(Channel).where(
            Channel.workspace_id == g.public_workspace_id, Channel.enabled.is_(True),
            Channel.kind.in_(SENDABLE_KINDS)).limit(2)).scalars().all()
        if not channels:
            raise _bad("channelId", _("This workspace has no enabled channel that can send."))
        if len(channels) > 1:
            raise _bad("channelId", _("This workspace has several channels that can send: say "
                                      "which with channelId."))
        return channels[0]

    @expose("/send", methods=["POST"])
    @public
    @protect()
    @inside_workspace
    @permission_name("post")
    def send(self):
        """Send a text message to a contact or into a conversation.
        ---
        post:
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    to: {type: string}
                    conversationId: {type: integer}
                    channelId: {type: integer}
                    type: {type: string, enum: [text]}
                    text: {type: string}
          responses:
            201:
              description: '{"messageId", "conversationId", "status": "queued"}'
        """
        data = self.body()
        unknown = sorted(set(data) - {"to", "conversationId", "channelId", "type", "text"})
        if unknown:
            raise _bad(unknown[0], _("Unknown field."))
        if data.get("type", "text") != "text":
            raise _bad("type", _("Only text messages can be sent through the API for now."))
        text = data.get("text")
        if not isinstance(text, str) or not text.strip() or "\x00" in text:
            raise _bad("text", _("The text to send."))
        if len(text) > TEXT_LIMIT:
            raise _bad("text", _("At most %(n)s characters.", n=TEXT_LIMIT))
        channel = self._channel(data)
        conversation = None
        if data.get("conversationId") is not None:
            value = data["conversationId"]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise _bad("conversationId", _("A conversation id (a whole number)."))
            conversation = self._conversation(value)
            if channel is not None and channel.id != conversation.channel_id:
                raise _bad("channelId", _("The conversation is on another channel."))
            channel = db.session.get(Channel, conversation.channel_id)
            chat_id = conversation.chat_id
        elif isinstance(data.get("to"), str) and data["to"].strip():
            channel = channel or self._only_channel()
            chat_id = chat_for(channel, data["to"])
            conversation = db.session.execute(select(Conversation).where(
                Conversation.workspace_id == g.public_workspace_id,
                Conversation.channel_id == channel.id,
                Conversation.chat_id == chat_id)).scalar()
        else:
            raise _bad("to", _("Give to (a phone number or chat id) or conversationId."))
        if channel.kind not in SENDABLE_KINDS or not channel.enabled:
            raise _bad("channelId", _("This channel cannot send messages now."))
        self._may_send(channel, chat_id, conversation)
        from app.jobs.outbound import queue_message  # local: the jobs import the views' models

        key = request.headers.get("Idempotency-Key", "").strip()[:100] or uuid.uuid4().hex
        message_id = queue_message(channel, chat_id, text, f"api:{key}", purpose="api")
        conversation_id = db.session.execute(select(Conversation.id).where(
            Conversation.workspace_id == g.public_workspace_id,
            Conversation.channel_id == channel.id, Conversation.chat_id == chat_id)).scalar()
        return self.response(201, messageId=f"out-{message_id}", conversationId=conversation_id,
                             status="queued")

    @staticmethod
    def _may_send(channel: Channel, chat_id: str, conversation: Conversation | None) -> None:
        contact_id = conversation.linked_user_id if conversation is not None else None
        phone = chat_id.split("@", 1)[0] if channel.kind != "telegram" else None
        opted_out = db.session.execute(select(LinkedUser.id).where(
            LinkedUser.workspace_id == channel.workspace_id, LinkedUser.opted_out.is_(True),
            or_(LinkedUser.id == (contact_id or 0),
                LinkedUser.phone == phone if phone else literal(False))).limit(1)).scalar()
        if opted_out is not None:
            raise Refused(403, "OPTED_OUT", _("This contact opted out of messages."))
        if channel.kind == "meta":
            last = conversation.last_inbound_at if conversation is not None else None
            if last is None or utcnow() - last > META_WINDOW:
                raise Refused(400, "OUTSIDE_24H_WINDOW", _(
                    "WhatsApp allows free text only within 24 hours of the contact's last "
                    "message. Outside that window only an approved template can be sent."))

    @expose("/<pk>", methods=["GET"])
    @public
    @protect()
    @inside_workspace
    @permission_name("get")
    def read(self, pk):
        """A conversation's messages, oldest first.
        ---
        get:
          parameters:
          - {in: path, name: pk, required: true, schema: {type: integer}}
          - {in: query, name: page, schema: {type: integer, minimum: 1}}
          - {in: query, name: perPage, schema: {type: integer, minimum: 1, maximum: 100}}
          responses:
            200:
              description: '{"data": [message], "page", "perPage", "total"}'
        """
        conversation = self._conversation(pk)
        page, per_page = self.paging()
        ie, om = InboundEvent.__table__, OutboundMessage.__table__
        inbound = select(literal("in").label("direction"), ie.c.id, ie.c.received_at.label("at"),
                         ie.c.text, ie.c.sender_name.label("sender"),
                         literal(None).label("purpose"), literal(None).label("state"),
                         literal(None).label("delivery_status"),
                         literal(None).label("error_code")).where(
            ie.c.workspace_id == conversation.workspace_id,
            ie.c.channel_id == conversation.channel_id, ie.c.chat_id == conversation.chat_id,
            ie.c.kind == "message")
        outbound = select(literal("out").label("direction"), om.c.id, om.c.created_at.label("at"),
                          om.c.text, literal(None).label("sender"), om.c.purpose, om.c.state,
                          om.c.delivery_status, om.c.error_code).where(
            om.c.workspace_id == conversation.workspace_id,
            om.c.channel_id == conversation.channel_id, om.c.chat_id == conversation.chat_id,
            om.c.purpose != "dispatch")
        both = union_all(inbound, outbound).subquery()
        total = db.session.execute(select(func.count()).select_from(both)).scalar()
        rows = db.session.execute(select(both).order_by(both.c.at, both.c.direction, both.c.id)
                                  .offset((page - 1) * per_page).limit(per_page))
        return self.response(200, data=[message_json(row, conversation.id) for row in rows],
                             page=page, perPage=per_page, total=total)
