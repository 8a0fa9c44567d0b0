"""Fake Green API instance + webhook builders (docs/external-apis.md §2,
docs/contracts.md "Outbound calls").

Server: `FakeGreenAPI(id_instance="1101000001", api_token="green-token", state="authorized")`;
point the channel's `api_url` at `fake.url`. Methods served under
`/waInstance{idInstance}/{method}/{apiTokenInstance}`:
- `POST sendMessage` `{"chatId", "message"}` → `{"idMessage": "3EB0…"}` (unique ids); sends are kept
  in `fake.sent` (dicts with chatId, message, idMessage).
- `GET getStateInstance` → `{"stateInstance": fake.state}` (assign `fake.state` to change it).
- `POST setSettings` `{…}` → `{"saveSettings": true}`; merged into `fake.settings`.
- `GET qr` → `{"type":"qrCode","message":"<base64 PNG>"}` while `fake.state` is notAuthorized
  (a real, small PNG that changes on every call, as the real code changes about every 20 s),
  `{"type":"alreadyLogged","message":"instance account already authorized"}` once authorized,
  `{"type":"error","message":"…"}` in any other state. `fake.authorize()` is the phone scanning
  the code (state → authorized), `fake.unlink()` the phone logging out (→ notAuthorized);
  `fake.qr_served` counts the codes given.
- `POST sendFileByUpload` multipart (`chatId`, `file`, `fileName`, `caption`) and `POST
  sendFileByUrl` `{"chatId", "urlFile", "fileName", "caption"}` → `{"idMessage"}`; kept in
  `fake.sent` with `kind` "file" and the file's `data` (bytes), `fileName`, `caption`, `mimeType`
  (upload) or `urlFile`. Files over 100 MB → 400. `POST sendLocation` `{"chatId", "latitude",
  "longitude", "nameLocation", "address"}` → `{"idMessage"}` (kind "location").
- Media in: `fake.host_file(data, name, content_type)` serves a file at a temporary download URL
  (`GET /download/{random}/{name}`, as the `downloadUrl` of a media webhook; no credentials,
  like the real storage links) and answers that URL.
Wrong idInstance or token → 401. `fail_next(status=429, retry_after=…)` / `rate_limit=50` give the
documented HTTP 429.

Webhook builders (`incoming_message`, `outgoing_message_status`, `outgoing_message`,
`state_instance_changed`, `file_message`, `location_message`, `contact_message`,
`webhook_headers`) produce the payloads of §2 for tests to POST to
`/webhooks/greenapi`.

Invented details (not in docs/external-apis.md): bodies of the 401/429/5xx answers (plain text, as a
gateway would send), the 400 `{"code", "description"}` validation answer, 405 for a known method
called with the wrong HTTP verb, the exact idMessage format ("3EB0" + 16 upper-case hex), the QR
image itself (a 29×29 pattern drawn here, not a scannable code), the `error` answer's message for
states other than notAuthorized/authorized, and in
webhooks the `chatId`/`sendByApi` fields of outgoingMessageStatus and the `quotedMessage` object of
a legacy quoted message; for media, the download URL's path (`/download/…` on the fake, a
storage bucket in reality), the 400 answer to a missing or oversized file and the
`multipart` answer when `sendFileByUpload` gets JSON instead.
"""
from __future__ import annotations

import base64
import itertools
import random
import secrets
import struct
import time
import zlib
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, fake_fixture, multipart

DEFAULT_ID_INSTANCE = "1101000001"
DEFAULT_TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
DEFAULT_WID = "11001234567@c.us"

OUTGOING_STATUSES = ("sent", "delivered", "read", "failed", "noAccount", "notInGroup", "yellowCard")
INSTANCE_STATES = ("notAuthorized", "authorized", "blocked", "sleepMode", "starting", "yellowCard")

_METHOD_VERBS = {"sendMessage": "POST", "getStateInstance": "GET", "setSettings": "POST",
                 "qr": "GET", "sendFileByUpload": "POST", "sendFileByUrl": "POST",
                 "sendLocation": "POST"}
MAX_FILE_BYTES = 100 * 1024 * 1024
QR_SIZE = 29  # modules of a version-3 QR code


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def qr_png(seed: int, scale: int = 4) -> bytes:
    """A real PNG (8-bit greyscale) looking like a QR code: three finder squares and a pattern
    that depends on `seed`."""
    rng = random.Random(seed)
    size = QR_SIZE

    def dark(x: int, y: int) -> bool:
        for fx, fy in ((0, 0), (size - 7, 0), (0, size - 7)):
            if fx <= x < fx + 7 and fy <= y < fy + 7:
                dx, dy = x - fx, y - fy
                ring = min(dx, dy, 6 - dx, 6 - dy)
                return ring != 1
        return rng.random() < 0.5

    modules = [[dark(x, y) for x in range(size)] for y in range(size)]
    rows = b""
    for y in range(size * scale):
        row = bytes(0 if modules[y // scale][x // scale] else 255 for x in range(size * scale))
        rows += b"\x00" + row
    header = struct.pack(">IIBBBBB", size * scale, size * scale, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def new_outgoing_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()


class FakeGreenAPI(FakeServer):
    name = "greenapi"

    def __init__(self, id_instance: str | int = DEFAULT_ID_INSTANCE, api_token: str = DEFAULT_TOKEN,
                 *, state: str = "authorized", wid: str = DEFAULT_WID, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.id_instance, self.api_token = str(id_instance), api_token
        self.state, self.wid = state, wid
        self.settings: dict[str, Any] = {}
        self.sent: list[dict[str, Any]] = []
        self.qr_served = 0
        self.files: dict[str, tuple[bytes, str]] = {}  # download path → (data, content type)
        self.route("*", r"/waInstance(?P<instance>[^/]+)/(?P<method>[A-Za-z]+)/(?P<token>[^/]+)",
                   self._call)
        self.route("GET", r"/download/(?P<path>[0-9a-f]+/[^/]+)", self._download)

    def host_file(self, data: bytes, name: str = "file.jpg",
                  content_type: str = "image/jpeg") -> str:
        """Serve `data` as a media webhook's `downloadUrl`; answers that URL."""
        path = f"{secrets.token_hex(8)}/{name}"
        with self.lock:
            self.files[path] = (data, content_type)
        return f"{self.url}/download/{path}"

    def _download(self, req: RecordedRequest, path: str) -> Reply:
        found = self.files.get(path)
        if found is None:
            return Reply(404, "<Error><Code>NoSuchKey</Code></Error>",
                         content_type="application/xml")
        return Reply(200, found[0], content_type=found[1])

    def _call(self, req: RecordedRequest, instance: str, method: str, token: str) -> Reply:
        if instance != self.id_instance or token != self.api_token:
            return Reply(401, "Unauthorized")
        verb = _METHOD_VERBS.get(method)
        if verb is None:
            return Reply(404, "Not Found")
        if req.method != verb:
            return Reply(405, "Method Not Allowed")
        if method == "getStateInstance":
            return Reply(200, {"stateInstance": self.state})
        if method == "qr":
            return self._qr()
        if method == "sendFileByUpload":
            return self._send_upload(req)
        body = req.json if isinstance(req.json, dict) else None
        if body is None:
            return Reply(400, {"code": 400, "description": "Validation failed. Details: "
                                                           "body must be a JSON object"})
        if method == "setSettings":
            self.settings.update(body)
            return Reply(200, {"saveSettings": True})
        if method == "sendFileByUrl":
            return self._send_file_by_url(body)
        if method == "sendLocation":
            return self._send_location(body)
        return self._send_message(body)

    @staticmethod
    def _invalid(problem: str) -> Reply:
        return Reply(400, {"code": 400, "description": f"Validation failed. Details: {problem}"})

    @staticmethod
    def _chat_problem(chat_id) -> str | None:
        if not isinstance(chat_id, str) or not chat_id.endswith(("@c.us", "@g.us")):
            return "'chatId' must be a string ending in @c.us or @g.us"
        return None

    def _keep(self, item: dict[str, Any]) -> Reply:
        item["idMessage"] = new_outgoing_id()
        self.sent.append(item)
        return Reply(200, {"idMessage": item["idMessage"]})

    def _send_upload(self, req: RecordedRequest) -> Reply:
        parsed = multipart(req)
        if parsed is None:
            return self._invalid("the request must be multipart/form-data")
        fields, files = parsed
        problem = self._chat_problem(fields.get("chatId"))
        upload = files.get("file")
        if problem:
            return self._invalid(problem)
        if upload is None or not upload.data:
            return self._invalid("'file' is required")
        if len(upload.data) > MAX_FILE_BYTES:
            return self._invalid("file size must not exceed 100 MB")
        return self._keep({"kind": "file", "chatId": fields["chatId"],
                           "fileName": fields.get("fileName") or upload.filename,
                           "caption": fields.get("caption"), "mimeType": upload.content_type,
                           "data": upload.data, "message": fields.get("caption") or ""})

    def _send_file_by_url(self, body: dict[str, Any]) -> Reply:
        problem = self._chat_problem(body.get("chatId"))
        if problem:
            return self._invalid(problem)
        if not isinstance(body.get("urlFile"), str) or not body.get("fileName"):
            return self._invalid("'urlFile' and 'fileName' are required")
        return self._keep({"kind": "file", "chatId": body["chatId"], "urlFile": body["urlFile"],
                           "fileName": body["fileName"], "caption": body.get("caption"),
                           "message": body.get("caption") or ""})

    def _send_location(self, body: dict[str, Any]) -> Reply:
        problem = self._chat_problem(body.get("chatId"))
        if problem:
            return self._invalid(problem)
        if not all(isinstance(body.get(k), (int, float)) and not isinstance(body.get(k), bool)
                   for k in ("latitude", "longitude")):
            return self._invalid("'latitude' and 'longitude' must be numbers")
        return self._keep({"kind": "location", "chatId": body["chatId"],
                           "latitude": body["latitude"], "longitude": body["longitude"],
                           "nameLocation": body.get("nameLocation"),
                           "address": body.get("address"), "message": ""})

    def _send_message(self, body: dict[str, Any]) -> Reply:
        chat_id, message = body.get("chatId"), body.get("message")
        problem = None
        if not isinstance(chat_id, str) or not chat_id.endswith(("@c.us", "@g.us")):
            problem = "'chatId' must be a string ending in @c.us or @g.us"
        elif not isinstance(message, str) or not message:
            problem = "'message' is required"
        if problem:
            return Reply(400, {"code": 400,
                               "description": f"Validation failed. Details: {problem}"})
        return self._keep({"chatId": chat_id, "message": message})

    def _qr(self) -> Reply:
        with self.lock:
            state = self.state
            if state == "notAuthorized":
                self.qr_served += 1
                code = base64.b64encode(qr_png(self.qr_served)).decode("ascii")
                return Reply(200, {"type": "qrCode", "message": code})
        if state == "authorized":
            return Reply(200, {"type": "alreadyLogged",
                               "message": "instance account already authorized"})
        return Reply(200, {"type": "error",
                           "message": f"instance is in state {state}, no QR code available"})

    def authorize(self) -> None:
        """The phone scanned the QR code: the instance is linked."""
        with self.lock:
            self.state = "authorized"

    def unlink(self) -> None:
        """The phone logged the instance out: it waits to be linked again."""
        with self.lock:
            self.state = "notAuthorized"

    def messages_to(self, chat_id: str) -> list[str]:
        with self.lock:
            return [m["message"] for m in self.sent if m["chatId"] == chat_id]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.sent.clear()


fake_greenapi = fake_fixture(FakeGreenAPI, "fake_greenapi")


# ---- webhook payload builders (docs/external-apis.md §2) --------------------------------------
_incoming_ids = itertools.count(1)


def new_incoming_id() -> str:
    return f"F7AEC1B7{next(_incoming_ids):012X}"


def instance_data(id_instance: str | int = DEFAULT_ID_INSTANCE, wid: str = DEFAULT_WID) -> dict:
    return {"idInstance": int(id_instance), "wid": wid, "typeInstance": "whatsapp"}


def _text_data(kind: str, text: str, quoted: dict | None) -> dict:
    if kind == "textMessage":
        return {"typeMessage": "textMessage", "textMessageData": {"textMessage": text}}
    if kind == "extendedTextMessage":
        return {"typeMessage": "extendedTextMessage", "extendedTextMessageData": {"text": text}}
    if kind == "quotedMessage":
        quoted = quoted or {"stanzaId": new_incoming_id(), "participant": DEFAULT_WID,
                            "typeMessage": "textMessage", "textMessage": "earlier message"}
        return {"typeMessage": "quotedMessage",
                "extendedTextMessageData": {"text": text, "stanzaId": quoted.get("stanzaId"),
                                            "participant": quoted.get("participant")},
                "quotedMessage": quoted}
    raise ValueError("kind must be textMessage, extendedTextMessage or quotedMessage")


def incoming_message(chat_id: str, text: str, *, kind: str = "textMessage",
                     sender: str | None = None, id_message: str | None = None,
                     timestamp: int | None = None, chat_name: str = "Alice",
                     sender_name: str = "Alice", sender_contact_name: str = "",
                     id_instance: str | int = DEFAULT_ID_INSTANCE, wid: str = DEFAULT_WID,
                     quoted: dict | None = None) -> dict:
    """`incomingMessageReceived`. For a group (`chat_id` ending @g.us) `sender` is the member
    (default "79001234568@c.us"); for a person it defaults to `chat_id`."""
    if sender is None:
        sender = "79001234568@c.us" if chat_id.endswith("@g.us") else chat_id
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": instance_data(id_instance, wid),
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "idMessage": id_message or new_incoming_id(),
        "senderData": {"chatId": chat_id, "sender": sender, "chatName": chat_name,
                       "senderName": sender_name, "senderContactName": sender_contact_name},
        "messageData": _text_data(kind, text, quoted),
    }


FILE_TYPES = ("imageMessage", "videoMessage", "documentMessage", "audioMessage",
              "stickerMessage")


def _incoming(chat_id: str, message_data: dict, *, id_message: str | None = None,
              timestamp: int | None = None, sender_name: str = "Alice",
              id_instance: str | int = DEFAULT_ID_INSTANCE, wid: str = DEFAULT_WID) -> dict:
    sender = "79001234568@c.us" if chat_id.endswith("@g.us") else chat_id
    return {
        "typeWebhook": "incomingMessageReceived",
        "instanceData": instance_data(id_instance, wid),
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "idMessage": id_message or new_incoming_id(),
        "senderData": {"chatId": chat_id, "sender": sender, "chatName": sender_name,
                       "senderName": sender_name, "senderContactName": ""},
        "messageData": message_data,
    }


def file_message(chat_id: str, download_url: str, *, kind: str = "imageMessage",
                 file_name: str = "photo.jpg", mime_type: str = "image/jpeg",
                 caption: str | None = None, **kwargs: Any) -> dict:
    """An incoming media message (§2 "Media in": `fileMessageData`)."""
    if kind not in FILE_TYPES:
        raise ValueError(f"kind must be one of {FILE_TYPES}")
    data: dict[str, Any] = {"downloadUrl": download_url, "fileName": file_name,
                            "jpegThumbnail": "", "mimeType": mime_type}
    if caption is not None:
        data["caption"] = caption
    return _incoming(chat_id, {"typeMessage": kind, "fileMessageData": data}, **kwargs)


def location_message(chat_id: str, latitude: float, longitude: float, *,
                     name: str | None = None, address: str | None = None,
                     **kwargs: Any) -> dict:
    data: dict[str, Any] = {"latitude": latitude, "longitude": longitude, "jpegThumbnail": ""}
    if name is not None:
        data["nameLocation"] = name
    if address is not None:
        data["address"] = address
    return _incoming(chat_id, {"typeMessage": "locationMessage", "locationMessageData": data},
                     **kwargs)


def contact_message(chat_id: str, display_name: str, phone: str, **kwargs: Any) -> dict:
    vcard = (f"BEGIN:VCARD\nVERSION:3.0\nFN:{display_name}\n"
             f"item1.TEL;waid={phone}:+{phone}\nEND:VCARD")
    return _incoming(chat_id, {"typeMessage": "contactMessage", "contactMessageData": {
        "displayName": display_name, "vcard": vcard}}, **kwargs)


def outgoing_message_status(chat_id: str, id_message: str, status: str = "delivered", *,
                            timestamp: int | None = None, send_by_api: bool = True,
                            id_instance: str | int = DEFAULT_ID_INSTANCE,
                            wid: str = DEFAULT_WID) -> dict:
    if status not in OUTGOING_STATUSES:
        raise ValueError(f"status must be one of {OUTGOING_STATUSES}")
    return {"typeWebhook": "outgoingMessageStatus", "chatId": chat_id,
            "instanceData": instance_data(id_instance, wid),
            "timestamp": int(time.time()) if timestamp is None else timestamp,
            "idMessage": id_message, "status": status, "sendByApi": send_by_api}


def outgoing_message(chat_id: str, text: str, *, from_api: bool = True,
                     id_message: str | None = None, timestamp: int | None = None,
                     id_instance: str | int = DEFAULT_ID_INSTANCE, wid: str = DEFAULT_WID) -> dict:
    """`outgoingAPIMessageReceived` (sent through the API, `from_api=True`) or
    `outgoingMessageReceived` (sent from the phone): our own sends, never commands."""
    return {
        "typeWebhook": "outgoingAPIMessageReceived" if from_api else "outgoingMessageReceived",
        "instanceData": instance_data(id_instance, wid),
        "timestamp": int(time.time()) if timestamp is None else timestamp,
        "idMessage": id_message or new_outgoing_id(),
        "senderData": {"chatId": chat_id, "sender": wid, "chatName": "", "senderName": "",
                       "senderContactName": ""},
        "messageData": _text_data("textMessage", text, None),
    }


def state_instance_changed(state: str, *, timestamp: int | None = None,
                           id_instance: str | int = DEFAULT_ID_INSTANCE,
                           wid: str = DEFAULT_WID) -> dict:
    if state not in INSTANCE_STATES:
        raise ValueError(f"state must be one of {INSTANCE_STATES}")
    return {"typeWebhook": "stateInstanceChanged", "instanceData": instance_data(id_instance, wid),
            "timestamp": int(time.time()) if timestamp is None else timestamp,
            "stateInstance": state}


def webhook_headers(webhook_token: str, *, bearer: bool = False) -> dict[str, str]:
    """Headers Green API sends with a webhook: the `webhookUrlToken` raw or as `Bearer <token>`."""
    return {"Authorization": f"Bearer {webhook_token}" if bearer else webhook_token,
            "Content-Type": "application/json"}
