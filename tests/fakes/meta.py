"""Fake Meta Graph API for the WhatsApp Cloud API + notification builders
(docs/external-apis.md §3).

Server: `FakeMetaGraph(phone_number_id="106540352242922", access_token="EAAG…",
waba_id="102290129340398")`; point `META_GRAPH_URL` at `fake.url`. Any version path `vNN.N` is
accepted. Ownership is per token: a token reads (and sends from) only the numbers and WhatsApp
Business accounts (WABAs) it was given — the constructor's token gets its number and WABA;
`add_number(number, waba_id=, token=)` seeds more, `grant(token, *ids)` shares objects.
An unknown token gets 190; a known token asking for an object it does not control gets the
same answer as for an object that does not exist (100, subcode 33, GraphMethodException).
- `POST /{version}/{phone_number_id}/messages`, `Authorization: Bearer <token>`, JSON body
  `{"messaging_product":"whatsapp","to","type":"text","text":{"body"}}` or a template →
  `{"messaging_product":"whatsapp","contacts":[{"input","wa_id"}],"messages":[{"id":"wamid.…"}]}`;
  accepted sends are kept in `fake.sent` (the request body plus `"id"`).
- `GET /{version}/{phone_number_id}` → the phone number object (`verified_name`,
  `display_phone_number`, `quality_rating`, `code_verification_status`, `id`; `?fields=`
  narrows it, as in docs/external-apis.md §3 "Number and account checks");
  `GET /{version}/{waba_id}` → `{"id","name"}`.
- `GET /{version}/{waba_id}/phone_numbers` (docs/external-apis.md §3, "Number and account checks") →
  `{"data":[phone number objects],"paging":{"cursors":{"before","after"},"next"?}}`, pages of
  `?limit=` (default 25) continued with `?after=<cursor>`; `next` only when more follow.
- Errors come in the Graph shape `{"error":{"message","type","code","error_subcode"?,
  "error_data"?,"fbtrace_id"}}`: `error_next(code)` injects 190, 100, 130429, 131056, 131026,
  131047, 131049, 131050, 131057, 132000, 132001, 131000 (or any code with your own message).

- Media (§3 "Media"): `fake.add_media(data, mime_type)` keeps a file a customer sent and
  answers its media id; `GET /{version}/{media_id}` (Bearer token of the number's owner) →
  `{"messaging_product","url","mime_type","sha256","file_size","id"}`, the `url` (on the fake:
  `/lookaside/{random}`) downloads it with the same Bearer token (401 without it).
  `POST /{version}/{phone_number_id}/media` multipart (`messaging_product=whatsapp`, `file`,
  `type`) → `{"id"}`; uploads are kept in `fake.uploads` (id → {data, type, filename}). A send
  of `type` image/video/audio/document/sticker needs `{kind: {"id"}}` of an upload (or
  `{"link"}`); an unknown id → 100. Files over the limits of §3 → 100 ("file too large").
- `{"type": "location", "location": {"latitude", "longitude", …}}` sends a location.

Builders: `text_message`, `media_message`, `location_message`, `message_notification`, `status`,
`status_error`, `messages_change`, `template_status_change`, `entry`, `notification`,
`text_notification`, `status_notification`, `signature`, `signed_body`, `verification_params`.

Invented (from memory of Meta's pages, not in docs/external-apis.md): the HTTP status that goes
with each error code (400 for most, 401 for 190, 500 for 131057/131000, 404 for 132001), the error
message texts and `error_data.details`, the 190 error_subcode 463, the generic transient error
(code 2, `is_transient`) for injected 5xx, the `GraphMethodException` code 100 / subcode 33 answer
for an unknown phone number id, the phone-number object fields, and webhook timestamps as strings;
the cursor format (opaque base64 here), the default page size of 25 and the WABA node's fields;
for media, the download URL's host and path (lookaside.fbsbx.com in reality), the media and
upload id format (15 digits), and the messages of the upload errors.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, fake_fixture, multipart

DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_NUMBER = "15550001234"
DEFAULT_WABA_ID = "102290129340398"
DEFAULT_TOKEN = "EAAGtestTOKEN0123456789abcdefZZ"

# code → (HTTP status, message, error_subcode, details)
ERRORS: dict[int, tuple[int, str, int | None, str | None]] = {
    190: (401, "Error validating access token: Session has expired.", 463, None),
    100: (400, "(#100) Invalid parameter", None, None),
    130429: (400, "(#130429) Rate limit hit", None,
             "Cloud API message throughput has been reached."),
    131056: (400, "(#131056) (Business Account, Consumer Account) pair rate limit hit", None,
             "Message failed to send because there were too many messages sent from this phone "
             "number to the same phone number in a short period of time."),
    131026: (400, "(#131026) Message Undeliverable", None,
             "Message failed to send because the recipient is not a WhatsApp user or has not "
             "accepted the latest terms."),
    131047: (400, "(#131047) Re-engagement message", None,
             "Message failed to send because more than 24 hours have passed since the customer "
             "last replied to this number."),
    131049: (400, "(#131049) This message was not delivered to maintain healthy ecosystem "
                  "engagement.", None, "In order to maintain a healthy ecosystem engagement, the "
                                       "message failed to be delivered."),
    131050: (400, "(#131050) Unable to deliver the marketing message", None,
             "The user has stopped marketing messages."),
    131057: (500, "(#131057) Account in maintenance mode", None,
             "Business account is in maintenance mode."),
    132000: (400, "(#132000) Number of parameters does not match the expected number of params",
             None, "body: number of localizable_params (0) does not match the expected number "
                   "of params (1)"),
    132001: (404, "(#132001) Template name does not exist in the translation", None,
             "template name does not exist in the language"),
    131000: (500, "(#131000) Something went wrong", None, "Something went wrong"),
}


def fbtrace_id() -> str:
    return base64.b64encode(secrets.token_bytes(8)).decode().rstrip("=")


_DEFAULT: Any = object()


def graph_error(code: int, message: str | None = None, *, subcode: int | None = _DEFAULT,
                details: str | None = None, error_type: str = "OAuthException",
                http_status: int | None = None) -> Reply:
    """A Graph error reply; `subcode=None` leaves out the code's default error_subcode."""
    default_status, default_message, default_subcode, default_details = ERRORS.get(
        code, (400, f"(#{code}) Error", None, None))
    error: dict[str, Any] = {"message": message or default_message, "type": error_type,
                             "code": code}
    subcode = default_subcode if subcode is _DEFAULT else subcode
    if subcode is not None:
        error["error_subcode"] = subcode
    if (details or default_details) is not None:
        error["error_data"] = {"messaging_product": "whatsapp",
                               "details": details or default_details}
    error["fbtrace_id"] = fbtrace_id()
    return Reply(http_status or default_status, {"error": error})


def new_wamid() -> str:
    raw = b"\x15\x02\x00\x11\x18\x12" + secrets.token_bytes(18)
    return "wamid.HBgL" + base64.b64encode(raw).decode().rstrip("=")


DEFAULT_PAGE_SIZE = 25


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"idx:{index}".encode()).decode().rstrip("=")


def _index_after(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text.removeprefix("idx:")) + 1 if text.startswith("idx:") else None
    except ValueError:
        return None


class FakeMetaGraph(FakeServer):
    name = "meta"

    def __init__(self, phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                 access_token: str = DEFAULT_TOKEN, *, waba_id: str = DEFAULT_WABA_ID,
                 display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
                 verified_name: str = "Relaydesk Test", quality_rating: str = "GREEN",
                 code_verification_status: str = "VERIFIED", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phone_number_id, self.access_token = phone_number_id, access_token
        self.waba_id = waba_id
        self.numbers: dict[str, dict[str, Any]] = {}  # phone number id → its object
        self.wabas: dict[str, list[str]] = {}  # WABA id → its phone number ids, in order
        self.grants: dict[str, set[str]] = {}  # token → ids of the numbers and WABAs it controls
        self.add_number(phone_number_id, waba_id=waba_id, token=access_token,
                        display_phone_number=display_phone_number, verified_name=verified_name,
                        quality_rating=quality_rating,
                        code_verification_status=code_verification_status)
        self.phone = self.numbers[phone_number_id]
        self.sent: list[dict[str, Any]] = []
        self.media: dict[str, dict[str, Any]] = {}  # media id → {data, mime_type, token, path}
        self.uploads: dict[str, dict[str, Any]] = {}
        self.route("GET", r"/lookaside/(?P<path>[0-9a-f]+)", self._lookaside)
        self.route("POST", r"/(?P<version>v\d+\.\d+)/(?P<object_id>[^/]+)/media", self._upload)
        self.route("POST", r"/(?P<version>v\d+\.\d+)/(?P<object_id>[^/]+)/messages", self._send)
        self.route("GET", r"/(?P<version>v\d+\.\d+)/(?P<object_id>[^/]+)/phone_numbers",
                   self._waba_numbers)
        self.route("GET", r"/(?P<version>v\d+\.\d+)/(?P<object_id>[^/]+)", self._node)

    # ---- seeding -----------------------------------------------------------------------------
    def add_number(self, phone_number_id: str, *, waba_id: str, token: str,
                   display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
                   verified_name: str = "Relaydesk Test",
                   quality_rating: str = "GREEN",
                   code_verification_status: str = "VERIFIED") -> dict[str, Any]:
        """A number of `waba_id` (made if new); `token` controls both."""
        with self.lock:
            phone = {"verified_name": verified_name, "display_phone_number": display_phone_number,
                     "quality_rating": quality_rating,
                     "code_verification_status": code_verification_status, "id": phone_number_id}
            self.numbers[phone_number_id] = phone
            numbers = self.wabas.setdefault(waba_id, [])
            if phone_number_id not in numbers:
                numbers.append(phone_number_id)
            self.grants.setdefault(token, set()).update({phone_number_id, waba_id})
            return phone

    def set_quality(self, rating: str, phone_number_id: str | None = None) -> None:
        """What `quality_rating` the number's object answers from now on (GREEN, YELLOW, RED,
        UNKNOWN; the constructor's number when none is named)."""
        with self.lock:
            self.numbers[phone_number_id or self.phone_number_id]["quality_rating"] = rating

    def grant(self, token: str, *object_ids: str) -> None:
        """Give `token` control of numbers or WABAs (a token with nothing yet is made valid)."""
        with self.lock:
            self.grants.setdefault(token, set()).update(object_ids)

    # ---- fault helpers -----------------------------------------------------------------------
    def error_next(self, code: int, *, n: int = 1, message: str | None = None,
                   http_status: int | None = None, subcode: int | None = _DEFAULT,
                   details: str | None = None, method: str | None = None,
                   path: Any = None) -> None:
        reply = graph_error(code, message, subcode=subcode, details=details,
                            http_status=http_status)
        self.fail_next(n, reply.status, body=reply.body, method=method, path=path)

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        if status == 429:
            reply = graph_error(130429, http_status=429)
        elif status >= 500:
            reply = Reply(status, {"error": {
                "message": "An unexpected error has occurred. Please retry your request later.",
                "type": "OAuthException", "is_transient": True, "code": 2,
                "fbtrace_id": fbtrace_id()}})
        else:
            reply = graph_error(100, http_status=status)
        if retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after)
        return reply

    def not_found(self, req: RecordedRequest) -> Reply:
        return graph_error(100, f"Unknown path components: {req.path}", http_status=400)

    # ---- handlers ----------------------------------------------------------------------------
    def _token(self, req: RecordedRequest) -> str | None:
        header = req.headers.get("Authorization", "")
        return header[7:] if header.startswith("Bearer ") else req.query.get("access_token")

    def _unknown_object(self, req: RecordedRequest, object_id: str) -> Reply:
        return graph_error(100, f"Unsupported {req.method.lower()} request. Object with ID "
                                f"'{object_id}' does not exist, cannot be loaded due to missing "
                                "permissions, or does not support this operation. Please read the "
                                "Graph API documentation at "
                                "https://developers.facebook.com/docs/graph-api",
                           subcode=33, error_type="GraphMethodException")

    def _check(self, req: RecordedRequest, object_id: str,
               kinds: tuple[str, ...] = ("number",)) -> Reply | None:
        """None when the request's token controls `object_id`, a number or a WABA as `kinds`
        allows; else Graph's answer (190 for a token it does not know)."""
        granted = self.grants.get(self._token(req) or "")
        if granted is None:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token",
                               subcode=None)
        exists = (("number" in kinds and object_id in self.numbers)
                  or ("waba" in kinds and object_id in self.wabas))
        if not exists or object_id not in granted:
            return self._unknown_object(req, object_id)
        return None

    @staticmethod
    def _narrowed(item: dict[str, Any], req: RecordedRequest) -> dict[str, Any]:
        fields = [f for f in req.query.get("fields", "").split(",") if f]
        if not fields:
            return dict(item)
        return {k: v for k, v in item.items() if k in fields or k == "id"}

    # ---- media -----------------------------------------------------------------------------
    def add_media(self, data: bytes, mime_type: str = "image/jpeg", *,
                  token: str | None = None) -> str:
        """A file a customer sent to the number: its media id (readable with `token`, the
        constructor's by default)."""
        media_id = str(secrets.randbelow(9 * 10**14) + 10**14)
        with self.lock:
            self.media[media_id] = {"data": data, "mime_type": mime_type,
                                    "token": token or self.access_token,
                                    "path": secrets.token_hex(12)}
        return media_id

    def _media_node(self, req: RecordedRequest, media_id: str) -> Reply:
        item = self.media[media_id]
        token = self._token(req)
        if token not in self.grants:
            return graph_error(190, "Invalid OAuth access token - Cannot parse access token",
                               subcode=None)
        if token != item["token"]:
            return self._unknown_object(req, media_id)
        return Reply(200, {"messaging_product": "whatsapp",
                           "url": f"{self.url}/lookaside/{item['path']}",
                           "mime_type": item["mime_type"],
                           "sha256": hashlib.sha256(item["data"]).hexdigest(),
                           "file_size": len(item["data"]), "id": media_id})

    def _lookaside(self, req: RecordedRequest, path: str) -> Reply:
        item = next((m for m in self.media.values() if m["path"] == path), None)
        if item is None:
            return Reply(404, "Not Found")
        if self._token(req) != item["token"]:
            return Reply(401, "Unauthorized")
        return Reply(200, item["data"], content_type=item["mime_type"])

    def _upload(self, req: RecordedRequest, version: str, object_id: str) -> Reply:
        problem = self._check(req, object_id)
        if problem:
            return problem
        parsed = multipart(req)
        if parsed is None:
            return graph_error(100, "(#100) The parameter file is required.")
        fields, files = parsed
        if fields.get("messaging_product") != "whatsapp":
            return graph_error(100, "(#100) The parameter messaging_product is required.")
        upload = files.get("file")
        if upload is None or not upload.data:
            return graph_error(100, "(#100) The parameter file is required.")
        kind = (fields.get("type") or upload.content_type or "").split("/", 1)[0]
        limit = UPLOAD_LIMITS.get(kind, UPLOAD_LIMITS["application"])
        if len(upload.data) > limit:
            return graph_error(100, "(#100) Param file must be a file with a maximum size of "
                                    f"{limit // (1024 * 1024)}MB")
        upload_id = str(secrets.randbelow(9 * 10**14) + 10**14)
        self.uploads[upload_id] = {"data": upload.data, "type": fields.get("type"),
                                   "filename": upload.filename}
        return Reply(200, {"id": upload_id})

    def _node(self, req: RecordedRequest, version: str, object_id: str) -> Reply:
        if object_id in self.media:
            return self._media_node(req, object_id)
        problem = self._check(req, object_id, kinds=("number", "waba"))
        if problem:
            return problem
        if object_id in self.wabas:
            return Reply(200, self._narrowed({"id": object_id, "name": "Relaydesk Test WABA"},
                                             req))
        return Reply(200, self._narrowed(self.numbers[object_id], req))

    def _waba_numbers(self, req: RecordedRequest, version: str, object_id: str) -> Reply:
        problem = self._check(req, object_id, kinds=("waba",))
        if problem:
            return problem
        try:
            limit = max(1, int(req.query.get("limit", DEFAULT_PAGE_SIZE)))
        except ValueError:
            return graph_error(100, "(#100) Param limit must be an integer")
        start = 0
        if "after" in req.query:
            start = _index_after(req.query["after"])
            if start is None:
                return graph_error(100, "(#100) Invalid cursor")
        ids = self.wabas[object_id]
        page = ids[start:start + limit]
        body: dict[str, Any] = {"data": [self._narrowed(self.numbers[i], req) for i in page]}
        if page:
            body["paging"] = {"cursors": {"before": _cursor(start),
                                          "after": _cursor(start + len(page) - 1)}}
            if start + len(page) < len(ids):
                body["paging"]["next"] = (f"{self.url}{req.path}?limit={limit}"
                                          f"&after={_cursor(start + len(page) - 1)}")
        return Reply(200, body)

    def _send(self, req: RecordedRequest, version: str, object_id: str) -> Reply:
        problem = self._check(req, object_id)
        if problem:
            return problem
        body = req.json if isinstance(req.json, dict) else {}
        missing = _missing_parameter(body)
        if missing:
            return graph_error(100, f"(#100) The parameter {missing} is required.")
        if body["messaging_product"] != "whatsapp":
            return graph_error(100, "(#100) Param messaging_product must be one of {WHATSAPP} - "
                                    f"got \"{body['messaging_product']}\".")
        kind = body.get("type", "text")
        if kind in MEDIA_TYPES:
            item = body.get(kind)
            if not isinstance(item, dict) or not (item.get("id") or item.get("link")):
                return graph_error(100, f"(#100) The parameter {kind}['id'] is required.")
            if item.get("id") and str(item["id"]) not in self.uploads:
                return graph_error(100, "(#100) Invalid parameter: media id not found")
        wamid = new_wamid()
        self.sent.append({**body, "id": wamid})
        to = str(body.get("to") or body["recipient"])
        return Reply(200, {"messaging_product": "whatsapp",
                           "contacts": [{"input": to, "wa_id": re.sub(r"\D", "", to)}],
                           "messages": [{"id": wamid}]})

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.sent.clear()


MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
#: §3 "Media" limits, by the uploaded type's family (documents: any other)
UPLOAD_LIMITS = {"image": 5 * 1024 * 1024, "video": 16 * 1024 * 1024,
                 "audio": 16 * 1024 * 1024, "application": 100 * 1024 * 1024,
                 "text": 100 * 1024 * 1024}


def _missing_parameter(body: dict) -> str | None:
    if not body.get("messaging_product"):
        return "messaging_product"
    if not body.get("to") and not body.get("recipient"):  # a phone number or a BSUID
        return "to"
    kind = body.get("type", "text")
    if kind == "text" and not (body.get("text") or {}).get("body"):
        return "text['body']"
    if kind == "location":
        location = body.get("location") or {}
        if location.get("latitude") is None or location.get("longitude") is None:
            return "location['latitude']"
    if kind == "template":
        template = body.get("template") or {}
        if not template.get("name"):
            return "template['name']"
        if not (template.get("language") or {}).get("code"):
            return "template['language']['code']"
    return None


fake_meta = fake_fixture(FakeMetaGraph, "fake_meta")


# ---- notification builders (docs/external-apis.md §3) ---------------------------------------
def _ts(timestamp: int | str | None) -> str:
    return str(int(time.time()) if timestamp is None else timestamp)


def text_message(from_: str, body: str, *, wamid: str | None = None,
                 timestamp: int | str | None = None) -> dict:
    return {"from": from_, "id": wamid or new_wamid(), "timestamp": _ts(timestamp),
            "type": "text", "text": {"body": body}}


def media_message(from_: str, kind: str, media_id: str, *, mime_type: str = "image/jpeg",
                  caption: str | None = None, filename: str | None = None,
                  wamid: str | None = None, timestamp: int | str | None = None) -> dict:
    """An inbound media message (§3 "Media"): `{"type": kind, kind: {"id", "mime_type",
    "sha256", "caption"?, "filename"?}}`."""
    item: dict[str, Any] = {"mime_type": mime_type, "sha256": base64.b64encode(
        hashlib.sha256(media_id.encode()).digest()).decode(), "id": media_id}
    if caption is not None:
        item["caption"] = caption
    if filename is not None:
        item["filename"] = filename
    return {"from": from_, "id": wamid or new_wamid(), "timestamp": _ts(timestamp),
            "type": kind, kind: item}


def location_message(from_: str, latitude: float, longitude: float, *, name: str | None = None,
                     address: str | None = None, wamid: str | None = None,
                     timestamp: int | str | None = None) -> dict:
    location: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if name is not None:
        location["name"] = name
    if address is not None:
        location["address"] = address
    return {"from": from_, "id": wamid or new_wamid(), "timestamp": _ts(timestamp),
            "type": "location", "location": location}


def message_notification(message: dict, *, name: str = "Customer",
                         phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                         waba_id: str = DEFAULT_WABA_ID) -> dict:
    """A notification carrying one message of any type."""
    return notification(entry(messages_change(messages=[message],
                                              names={message["from"]: name},
                                              phone_number_id=phone_number_id),
                              waba_id=waba_id))


def status_error(code: int, title: str | None = None) -> dict:
    _http, message, _sub, _details = ERRORS.get(code, (400, f"(#{code}) Error", None, None))
    return {"code": code, "title": title or re.sub(r"^\(#\d+\) ", "", message)}


def status(wamid: str, status: str, recipient_id: str, *, timestamp: int | str | None = None,
           errors: list[dict] | None = None) -> dict:
    if status not in ("sent", "delivered", "read", "failed"):
        raise ValueError("status must be sent, delivered, read or failed")
    item = {"id": wamid, "status": status, "timestamp": _ts(timestamp),
            "recipient_id": recipient_id}
    if errors:
        item["errors"] = errors
    return item


def messages_change(*, messages: list[dict] = (), statuses: list[dict] = (),
                    contacts: list[dict] | None = None,
                    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                    display_phone_number: str = DEFAULT_DISPLAY_NUMBER,
                    names: dict[str, str] | None = None) -> dict:
    """A `messages` change. `contacts` default to one per distinct sender, named from `names`."""
    value: dict[str, Any] = {"messaging_product": "whatsapp",
                             "metadata": {"display_phone_number": display_phone_number,
                                          "phone_number_id": phone_number_id}}
    if messages:
        if contacts is None:
            senders = dict.fromkeys(m["from"] for m in messages)
            contacts = [{"profile": {"name": (names or {}).get(s, "Customer")}, "wa_id": s}
                        for s in senders]
        value["contacts"] = contacts
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    return {"field": "messages", "value": value}


def template_status_change(event: str, template_id: int, name: str, language: str = "en_US",
                           reason: str = "NONE") -> dict:
    return {"field": "message_template_status_update",
            "value": {"event": event, "message_template_id": template_id,
                      "message_template_name": name, "message_template_language": language,
                      "reason": reason}}


def entry(*changes: dict, waba_id: str = DEFAULT_WABA_ID) -> dict:
    return {"id": waba_id, "changes": list(changes)}


def notification(*entries: dict) -> dict:
    return {"object": "whatsapp_business_account", "entry": list(entries)}


def text_notification(from_: str, body: str, *, name: str = "Customer",
                      wamid: str | None = None, timestamp: int | str | None = None,
                      phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                      waba_id: str = DEFAULT_WABA_ID) -> dict:
    message = text_message(from_, body, wamid=wamid, timestamp=timestamp)
    return notification(entry(messages_change(messages=[message], names={from_: name},
                                              phone_number_id=phone_number_id), waba_id=waba_id))


def status_notification(wamid: str, status_: str, recipient_id: str, *,
                        errors: list[dict] | None = None, timestamp: int | str | None = None,
                        phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
                        waba_id: str = DEFAULT_WABA_ID) -> dict:
    item = status(wamid, status_, recipient_id, timestamp=timestamp, errors=errors)
    return notification(entry(messages_change(statuses=[item], phone_number_id=phone_number_id),
                              waba_id=waba_id))


def signature(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` value: `sha256=<hex HMAC-SHA256(app secret, raw body)>`."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signed_body(payload: dict, app_secret: str) -> tuple[bytes, dict[str, str]]:
    """(raw body, headers) ready for `requests.post(url, data=raw, headers=headers)`."""
    raw = json.dumps(payload).encode()
    return raw, {"Content-Type": "application/json",
                 "X-Hub-Signature-256": signature(raw, app_secret)}


def verification_params(verify_token: str, challenge: str = "1158201444") -> dict[str, str]:
    return {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": challenge}
