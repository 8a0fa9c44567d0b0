"""Fake Telegram Bot API server + update builders (docs/external-apis.md §4,
docs/contracts.md "Outbound calls").

Server: `FakeTelegram(token="123456789:AAH…", username="relaydesk_test_bot")`; point the channel's
`api_base` at `fake.url`. Methods under `/bot{token}/{method}` (GET or POST; parameters from the
query string, a form body or a JSON body; method names case-insensitive, as on the real server):
- `sendMessage` `{chat_id, text}` → `{"ok":true,"result":{message}}`; kept in `fake.sent`.
  Text over 4096 characters → 400 "Bad Request: message is too long".
  `fake.migrate_chat(old, new)` makes sends to `old` fail with `parameters.migrate_to_chat_id`;
  `fake.set_chat_error(chat_id, 403, "Forbidden: bot was blocked by the user")` for other refusals.
- `getMe`; `setWebhook` (records `url`, `secret_token`, `allowed_updates`, `drop_pending_updates`
  in `fake.webhook`; rejects a `secret_token` outside 1–256 of `A-Za-z0-9_-`); `deleteWebhook`;
  `getWebhookInfo` (`pending_update_count`, `last_error_date`, `last_error_message`; set them with
  `fake.pending_update_count = …` / `fake.set_webhook_error(…)`).
- Media (§4 "Media"): `fake.add_file(data, file_path=None)` keeps a file a user sent and
  answers its `file_id`; `getFile {file_id}` → `{"file_id","file_unique_id","file_size",
  "file_path"}` (files over 20 MB: 400 "Bad Request: file is too big"), downloaded from
  `GET /file/bot{token}/{file_path}`. `sendPhoto` / `sendDocument` / `sendAudio` / `sendVideo`
  take a multipart upload (field `photo` / `document` / `audio` / `video`, with `chat_id`,
  `caption`) or a URL / file_id string; `sendLocation {chat_id, latitude, longitude}`. Kept in
  `fake.sent` with `method`, `data` (bytes of an upload), `file_name`, `caption`.
Errors: `{"ok":false,"error_code","description"[, "parameters"]}`; `rate_limit_next(n, retry_after)`
gives `{"ok":false,"error_code":429,"description":"Too Many Requests: retry after N",
"parameters":{"retry_after":N}}`; wrong token → 401 "Unauthorized"; unknown method → 404.

Builders: `user`, `chat`, `message_update`, `edited_message_update`, `channel_post_update`,
`photo_update`, `document_update`, `location_update`, `contact_update`, `my_chat_member_update`,
`migrate_to_chat_update`, `migrate_from_chat_update`, `webhook_headers`;
ids: `PRIVATE_CHAT_ID`, `GROUP_CHAT_ID`, `SUPERGROUP_CHAT_ID`/`CHANNEL_CHAT_ID` (beyond 32 bits).

Invented or from memory (not in docs/external-apis.md): description texts ("Bad Request: chat_id is
empty", "Bad Request: message text is empty", "Bad Request: message is too long", "Bad Request:
secret token contains unallowed characters", "Bad Request: bad webhook: An HTTPS URL must be
provided for webhook", "Bad Request: group chat was upgraded to a supergroup chat", "Webhook was
set"); no Retry-After header on 429 (only `parameters.retry_after`); injected 502/504 come back as
nginx HTML pages, other injected statuses in the JSON error shape; the 4096 limit counts code
points; `setWebhook` insists on https unless `require_https=False` and rejects an empty
`secret_token` (the real server may treat "" as "no secret"); getMe's
`can_read_all_group_messages` mirrors `privacy_mode`; for media, the `file_id` /
`file_unique_id` / `file_path` formats, the "file is too big" text of getFile, the 400 texts of
a send without its file ("Bad Request: there is no photo in the request") and the result
message's media fields (one size for a photo).
"""
from __future__ import annotations

import itertools
import json
import re
import secrets
import time
from typing import Any

from tests.fakes.server import (FakeServer, RecordedRequest, Reply, fake_fixture, multipart,
                                nginx_page, phrase)

DEFAULT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
MAX_TEXT = 4096
SECRET_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")

MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile's limit through the public Bot API
SEND_FIELDS = {"sendPhoto": "photo", "sendDocument": "document", "sendAudio": "audio",
               "sendVideo": "video"}
SEND_FIELDS_LOWER = {name.lower(): name for name in SEND_FIELDS}

PRIVATE_CHAT_ID = 123456789
GROUP_CHAT_ID = -987654321
SUPERGROUP_CHAT_ID = -1001234567890     # below -2**32: needs 64-bit storage
CHANNEL_CHAT_ID = -1009876543210


def tg_error(code: int, description: str, parameters: dict | None = None) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(code, body)


def _chat_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    return "supergroup" if str(chat_id).startswith("-100") else "group"


def _parse_chat_id(value: Any) -> int | str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    if isinstance(value, str) and value.startswith("@"):
        return value
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))


class FakeTelegram(FakeServer):
    name = "telegram"

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = "relaydesk_test_bot",
                 first_name: str = "Relaydesk", privacy_mode: bool = True,
                 require_https: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token, self.username, self.first_name = token, username, first_name
        self.privacy_mode, self.require_https = privacy_mode, require_https
        self.sent: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] | None = None
        self.pending_update_count = 0
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.chats: dict[int | str, dict] = {}
        self._chat_errors: dict[int | str, Reply] = {}
        self._message_ids: dict[int | str, itertools.count] = {}
        self.files: dict[str, dict[str, Any]] = {}  # file_id → {data, file_path}
        self.route("*", r"/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)", self._call)
        self.route("GET", r"/file/bot(?P<token>[^/]+)/(?P<path>.+)", self._file)

    def add_file(self, data: bytes, file_path: str | None = None) -> str:
        """A file a user sent: its `file_id` (`getFile` then the download URL serve it)."""
        file_id = "AgAC" + secrets.token_urlsafe(24)
        with self.lock:
            self.files[file_id] = {"data": data,
                                   "file_path": file_path or f"photos/file_{len(self.files)}.jpg"}
        return file_id

    def _file(self, req: RecordedRequest, token: str, path: str) -> Reply:
        if token != self.token:
            return tg_error(401, "Unauthorized")
        item = next((f for f in self.files.values() if f["file_path"] == path), None)
        if item is None:
            return tg_error(404, "Not Found")
        return Reply(200, item["data"], content_type="application/octet-stream")

    def _get_file(self, params: dict) -> Reply:
        item = self.files.get(params.get("file_id") or "")
        if item is None:
            return tg_error(400, "Bad Request: invalid file_id")
        if len(item["data"]) > MAX_DOWNLOAD:
            return tg_error(400, "Bad Request: file is too big")
        file_id = params["file_id"]
        return Reply(200, {"ok": True, "result": {
            "file_id": file_id, "file_unique_id": file_id[-16:], "file_size": len(item["data"]),
            "file_path": item["file_path"]}})

    def _send_file(self, req: RecordedRequest, method: str) -> Reply:
        field = SEND_FIELDS[method]
        parsed = multipart(req)
        fields, files = parsed if parsed is not None else (req.params, {})
        chat_id = _parse_chat_id(fields.get("chat_id"))
        if chat_id is None:
            return tg_error(400, "Bad Request: chat_id is empty")
        upload = files.get(field)
        reference = fields.get(field)
        if (upload is None or not upload.data) and not (isinstance(reference, str)
                                                        and reference):
            return tg_error(400, f"Bad Request: there is no {field} in the request")
        if chat_id in self._chat_errors:
            error = self._chat_errors[chat_id]
            return Reply(error.status, error.body)
        caption = fields.get("caption")
        if isinstance(caption, str) and len(caption) > 1024:
            return tg_error(400, "Bad Request: message caption is too long")
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {"message_id": next(counter), "from": self.bot_user(),
                   "chat": self.chats.get(chat_id) or _result_chat(chat_id),
                   "date": int(time.time())}
        new_id = "BQAC" + secrets.token_urlsafe(24)
        message[field] = ([{"file_id": new_id, "file_unique_id": new_id[-16:], "width": 1,
                            "height": 1}] if field == "photo" else {"file_id": new_id})
        if caption:
            message["caption"] = caption
        self.sent.append({"chat_id": chat_id, "text": caption or "", "method": method,
                          "params": dict(fields), "message_id": message["message_id"],
                          "data": upload.data if upload else None,
                          "file_name": upload.filename if upload else None,
                          "caption": caption, "reference": reference})
        return Reply(200, {"ok": True, "result": message})

    def _send_location(self, params: dict) -> Reply:
        chat_id = _parse_chat_id(params.get("chat_id"))
        if chat_id is None:
            return tg_error(400, "Bad Request: chat_id is empty")
        try:
            latitude, longitude = float(params["latitude"]), float(params["longitude"])
        except (KeyError, TypeError, ValueError):
            return tg_error(400, "Bad Request: wrong latitude or longitude")
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {"message_id": next(counter), "from": self.bot_user(),
                   "chat": self.chats.get(chat_id) or _result_chat(chat_id),
                   "date": int(time.time()),
                   "location": {"latitude": latitude, "longitude": longitude}}
        self.sent.append({"chat_id": chat_id, "text": "", "method": "sendLocation",
                          "params": dict(params), "message_id": message["message_id"],
                          "latitude": latitude, "longitude": longitude})
        return Reply(200, {"ok": True, "result": message})

    @property
    def bot_id(self) -> int:
        return int(self.token.split(":", 1)[0])

    def bot_user(self) -> dict:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}

    # ---- test controls -----------------------------------------------------------------------
    def rate_limit_next(self, n: int = 1, retry_after: int = 5, **match: Any) -> None:
        self.fail_next(n, 429, retry_after=retry_after, **match)

    def set_chat_error(self, chat_id: int | str, code: int, description: str,
                       parameters: dict | None = None) -> None:
        with self.lock:
            self._chat_errors[chat_id] = tg_error(code, description, parameters)

    def migrate_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        self.set_chat_error(old_chat_id, 400,
                            "Bad Request: group chat was upgraded to a supergroup chat",
                            {"migrate_to_chat_id": new_chat_id})

    def set_webhook_error(self, message: str, date: int | None = None) -> None:
        with self.lock:
            self.last_error_message = message
            self.last_error_date = int(time.time()) if date is None else date

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        if status == 429:
            after = 5 if retry_after is None else retry_after
            return tg_error(429, f"Too Many Requests: retry after {after}",
                            {"retry_after": after})
        if status in (502, 504):
            return nginx_page(status)
        return tg_error(status, phrase(status))

    def not_found(self, req: RecordedRequest) -> Reply:
        return tg_error(404, "Not Found")

    # ---- handlers ----------------------------------------------------------------------------
    def _call(self, req: RecordedRequest, token: str, method: str) -> Reply:
        if token != self.token:
            return tg_error(401, "Unauthorized")
        if method.lower() in SEND_FIELDS_LOWER:
            return self._send_file(req, SEND_FIELDS_LOWER[method.lower()])
        handler = {"getme": self._get_me, "sendmessage": self._send_message,
                   "getfile": self._get_file, "sendlocation": self._send_location,
                   "setwebhook": self._set_webhook, "deletewebhook": self._delete_webhook,
                   "getwebhookinfo": self._webhook_info}.get(method.lower())
        if handler is None:
            return tg_error(404, "Not Found")
        return handler(req.params)

    def _get_me(self, _params: dict) -> Reply:
        return Reply(200, {"ok": True, "result": {
            **self.bot_user(), "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": False}})

    def _send_message(self, params: dict) -> Reply:
        chat_id = _parse_chat_id(params.get("chat_id"))
        text = params.get("text")
        if chat_id is None:
            return tg_error(400, "Bad Request: chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return tg_error(400, "Bad Request: message text is empty")
        if len(text) > MAX_TEXT:
            return tg_error(400, "Bad Request: message is too long")
        if chat_id in self._chat_errors:
            error = self._chat_errors[chat_id]
            return Reply(error.status, error.body)
        counter = self._message_ids.setdefault(chat_id, itertools.count(1))
        message = {"message_id": next(counter), "from": self.bot_user(),
                   "chat": self.chats.get(chat_id) or _result_chat(chat_id),
                   "date": int(time.time()), "text": text}
        self.sent.append({"chat_id": chat_id, "text": text, "params": dict(params),
                          "message_id": message["message_id"]})
        return Reply(200, {"ok": True, "result": message})

    def _set_webhook(self, params: dict) -> Reply:
        url = params.get("url") or ""
        if not url:
            return self._delete_webhook(params)
        if self.require_https and not url.startswith("https://"):
            return tg_error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                                 "webhook")
        secret = params.get("secret_token")
        if secret is not None and not (isinstance(secret, str)
                                       and SECRET_TOKEN_RE.fullmatch(secret)):
            return tg_error(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        if isinstance(allowed, str):
            try:
                allowed = json.loads(allowed)
            except ValueError:
                return tg_error(400, "Bad Request: can't parse allowed updates JSON object")
        drop = _truthy(params.get("drop_pending_updates"))
        already = self.webhook is not None and self.webhook["url"] == url
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": allowed,
                        "drop_pending_updates": drop,
                        "max_connections": int(params.get("max_connections") or 40)}
        if drop:
            self.pending_update_count = 0
        return Reply(200, {"ok": True, "result": True,
                           "description": "Webhook is already set" if already
                           else "Webhook was set"})

    def _delete_webhook(self, params: dict) -> Reply:
        existed = self.webhook is not None
        self.webhook = None
        if _truthy(params.get("drop_pending_updates")):
            self.pending_update_count = 0
        return Reply(200, {"ok": True, "result": True,
                           "description": "Webhook was deleted" if existed
                           else "Webhook is already deleted"})

    def _webhook_info(self, _params: dict) -> Reply:
        info: dict[str, Any] = {"url": self.webhook["url"] if self.webhook else "",
                                "has_custom_certificate": False,
                                "pending_update_count": self.pending_update_count}
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self.webhook["allowed_updates"] is not None:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        if self.last_error_date is not None:
            info["last_error_date"] = self.last_error_date
            info["last_error_message"] = self.last_error_message
        return Reply(200, {"ok": True, "result": info})

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.sent.clear()


def _result_chat(chat_id: int | str) -> dict:
    if isinstance(chat_id, str):
        return {"id": CHANNEL_CHAT_ID, "title": chat_id[1:], "username": chat_id[1:],
                "type": "channel"}
    kind = _chat_type(chat_id)
    if kind == "private":
        return {"id": chat_id, "first_name": "Alice", "username": "alice", "type": "private"}
    return {"id": chat_id, "title": "Provider group", "type": kind}


fake_telegram = fake_fixture(FakeTelegram, "fake_telegram")


# ---- update builders (docs/external-apis.md §4) ---------------------------------------------
_update_ids = itertools.count(721000001)
_message_ids = itertools.count(1001)


def user(id: int = 111111111, first_name: str = "Alice", username: str | None = "alice", *,
         is_bot: bool = False) -> dict:
    item: dict[str, Any] = {"id": id, "is_bot": is_bot, "first_name": first_name}
    if username:
        item["username"] = username
    return item


def chat(id: int, type: str | None = None, title: str | None = None, *,
         username: str | None = None, first_name: str | None = None) -> dict:
    """A chat object; `type` defaults from the id (positive private, -100… supergroup, other
    negative group); groups and channels get a `title`, private chats a `first_name`."""
    kind = type or _chat_type(id)
    item: dict[str, Any] = {"id": id, "type": kind}
    if kind == "private":
        item["first_name"] = first_name or "Alice"
    else:
        item["title"] = title or ("Updates" if kind == "channel" else "Provider group")
    if username:
        item["username"] = username
    return item


def _message(text: str | None, the_chat: dict, sender: dict | None, message_id: int | None,
             date: int | None, extra: dict) -> dict:
    msg: dict[str, Any] = {"message_id": message_id or next(_message_ids)}
    if sender is not None:
        msg["from"] = sender
    msg["chat"] = the_chat
    msg["date"] = int(time.time()) if date is None else date
    if text is not None:
        msg["text"] = text
    msg.update(extra)
    return msg


def message_update(text: str | None, *, chat_id: int = PRIVATE_CHAT_ID,
                   chat_type: str | None = None, title: str | None = None,
                   sender: dict | None = None,
                   update_id: int | None = None, message_id: int | None = None,
                   date: int | None = None, kind: str = "message", **extra: Any) -> dict:
    """`{"update_id", kind: message}`; `sender` defaults to `user()` (pass
    `user(…, is_bot=True)` for a bot sender); `kind`: message, edited_message or channel_post."""
    the_chat = chat(chat_id, chat_type, title)
    if sender is None and kind != "channel_post":
        sender = user(chat_id) if the_chat["type"] == "private" else user()
    if kind == "edited_message":
        extra.setdefault("edit_date", int(time.time()))
    if kind == "channel_post":
        extra.setdefault("sender_chat", the_chat)
    return {"update_id": update_id or next(_update_ids),
            kind: _message(text, the_chat, sender, message_id, date, extra)}


def edited_message_update(text: str, **kwargs: Any) -> dict:
    return message_update(text, kind="edited_message", **kwargs)


def channel_post_update(text: str, *, chat_id: int = CHANNEL_CHAT_ID, title: str = "Updates",
                        **kwargs: Any) -> dict:
    return message_update(text, kind="channel_post", chat_id=chat_id, chat_type="channel",
                          title=title, **kwargs)


def my_chat_member_update(chat_id: int = SUPERGROUP_CHAT_ID, *, chat_type: str | None = None,
                          title: str = "Provider group", old_status: str = "left",
                          new_status: str = "member", bot: dict | None = None,
                          by: dict | None = None, update_id: int | None = None,
                          date: int | None = None) -> dict:
    """The bot's own membership changed: added (left → member/administrator) or removed
    (member → left/kicked)."""
    bot = bot or user(int(DEFAULT_TOKEN.split(":")[0]), "Relaydesk", "relaydesk_test_bot",
                      is_bot=True)
    return {"update_id": update_id or next(_update_ids), "my_chat_member": {
        "chat": chat(chat_id, chat_type, title), "from": by or user(),
        "date": int(time.time()) if date is None else date,
        "old_chat_member": {"user": bot, "status": old_status},
        "new_chat_member": {"user": bot, "status": new_status}}}


def migrate_to_chat_update(old_chat_id: int = GROUP_CHAT_ID,
                           new_chat_id: int = SUPERGROUP_CHAT_ID, *,
                           title: str = "Provider group", **kwargs: Any) -> dict:
    """Service message in the old group: it became the supergroup `new_chat_id`."""
    update = message_update(None, chat_id=old_chat_id, chat_type="group", title=title, **kwargs)
    update["message"]["migrate_to_chat_id"] = new_chat_id
    return update


def migrate_from_chat_update(new_chat_id: int = SUPERGROUP_CHAT_ID,
                             old_chat_id: int = GROUP_CHAT_ID, *,
                             title: str = "Provider group", **kwargs: Any) -> dict:
    """Service message in the new supergroup, pointing back at the old group."""
    update = message_update(None, chat_id=new_chat_id, chat_type="supergroup", title=title,
                            **kwargs)
    update["message"]["migrate_from_chat_id"] = old_chat_id
    return update


def photo_update(file_id: str, *, caption: str | None = None, **kwargs: Any) -> dict:
    """A photo message: `photo` is its sizes, smallest first (the last is the original)."""
    extra: dict[str, Any] = {"photo": [
        {"file_id": file_id + "-s", "file_unique_id": "s" + file_id[-8:], "file_size": 600,
         "width": 90, "height": 60},
        {"file_id": file_id, "file_unique_id": file_id[-16:], "width": 800, "height": 533}]}
    if caption is not None:
        extra["caption"] = caption
    return message_update(None, **extra, **kwargs)


def document_update(file_id: str, *, file_name: str = "invoice.pdf",
                    mime_type: str = "application/pdf", file_size: int | None = None,
                    caption: str | None = None, **kwargs: Any) -> dict:
    document: dict[str, Any] = {"file_id": file_id, "file_unique_id": file_id[-16:],
                                "file_name": file_name, "mime_type": mime_type}
    if file_size is not None:
        document["file_size"] = file_size
    extra: dict[str, Any] = {"document": document}
    if caption is not None:
        extra["caption"] = caption
    return message_update(None, **extra, **kwargs)


def location_update(latitude: float, longitude: float, **kwargs: Any) -> dict:
    return message_update(None, location={"latitude": latitude, "longitude": longitude},
                          **kwargs)


def contact_update(phone_number: str, first_name: str, last_name: str | None = None,
                   **kwargs: Any) -> dict:
    contact = {"phone_number": phone_number, "first_name": first_name}
    if last_name:
        contact["last_name"] = last_name
    return message_update(None, contact=contact, **kwargs)


def webhook_headers(secret_token: str) -> dict[str, str]:
    return {"X-Telegram-Bot-Api-Secret-Token": secret_token, "Content-Type": "application/json"}
