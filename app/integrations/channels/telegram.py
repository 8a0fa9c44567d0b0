"""Telegram Bot API client (docs/external-apis.md section 4)."""
from __future__ import annotations

import re
import secrets

from flask import current_app

from app.integrations.calls import call
from app.integrations.channels import base
from app.integrations.channels.base import (ActionResult, LiveAnswer, MediaToSend, SendResult,
                                            live_problem,
                                       not_called, send_not_called)
from app.integrations.ratelimit import Rate
from app.status_words import Said, platform_problem

TEXT_LIMIT = 4096
CHAT_RATE = Rate(1, 1.0)  # about one message a second per chat
GROUP_RATE = Rate(20, 60.0)  # 20 messages a minute per group
BOT_RATE = Rate(30, 1.0)  # about 30 messages a second per bot
ALLOWED_UPDATES = ["message", "edited_message", "channel_post", "edited_channel_post",
                   "my_chat_member"]
#: the method and its file field for each kind sent
SEND_METHODS = {"image": ("sendPhoto", "photo"), "video": ("sendVideo", "video"),
                "audio": ("sendAudio", "audio"), "document": ("sendDocument", "document")}
PERMANENT_CHANNEL_ERRORS = {401: "error", 404: "error"}  # bad or revoked token


class TelegramClient:
    text_limit = TEXT_LIMIT

    def __init__(self, channel):
        self.channel = channel

    def _call(self, method: str, body=None, timeout: float = 15.0,
              extra_secrets: tuple[str, ...] = ()):
        ch = self.channel
        base = (ch.api_base or "https://api.telegram.org").rstrip("/")
        return call("telegram", method, "POST", f"{base}/bot{ch.bot_token}/{method}",
                    workspace_id=ch.workspace_id, channel_id=ch.id, json=body or {},
                    timeout=timeout,
                    secrets=(ch.bot_token or "", ch.secret_token or "", *extra_secrets))

    def rate_rules(self, chat_id: str) -> list[tuple[str, Rate]]:
        bot = self.channel.bot_id or self.channel.id
        rules = [(f"tg:{bot}:bot", BOT_RATE), (f"tg:{bot}:chat:{chat_id}", CHAT_RATE)]
        if str(chat_id).startswith("-"):
            rules.append((f"tg:{bot}:group:{chat_id}", GROUP_RATE))
        return rules

    def send_text(self, chat_id: str, text: str) -> SendResult:
        return self._sent(self._call("sendMessage", {"chat_id": chat_id, "text": text}))

    def send_media(self, chat_id: str, media: MediaToSend) -> SendResult:
        """`sendLocation`, or `sendPhoto` / `sendVideo` / `sendAudio` / `sendDocument` as a
        multipart upload (docs/external-apis.md 4 "Media")."""
        if media.kind == "location":
            return self._sent(self._call("sendLocation", {
                "chat_id": chat_id, "latitude": media.latitude, "longitude": media.longitude}))
        method, field = SEND_METHODS.get(media.kind, SEND_METHODS["document"])
        ch = self.channel
        base_url = (ch.api_base or "https://api.telegram.org").rstrip("/")
        fields = {"chat_id": str(chat_id)}
        if media.caption:
            fields["caption"] = media.caption[:1024]
        result = call("telegram", method, "POST", f"{base_url}/bot{ch.bot_token}/{method}",
                      workspace_id=ch.workspace_id, channel_id=ch.id, data=fields,
                      files={field: (media.file_name, media.data, media.mime_type)},
                      timeout=base.UPLOAD_TIMEOUT,
                      secrets=(ch.bot_token or "", ch.secret_token or ""))
        return self._sent(result)

    def _sent(self, result) -> SendResult:
        if result.refused:
            return send_not_called("Telegram", result)
        data = result.data if isinstance(result.data, dict) else {}
        if result.ok and data.get("ok") is True:
            message = data.get("result") or {}
            return SendResult(ok=True, message_id=str(message.get("message_id", "")) or None)
        code = data.get("error_code") or result.status
        garbled = not data and result.status is not None and 200 <= result.status < 300
        if result.status is None or code == 429 or (isinstance(code, int) and code >= 500) \
                or garbled:
            problem = result.error or ("garbled answer" if garbled else code)
            return SendResult(ok=False, transient=True, throttled=code == 429,
                              retry_after=_retry_after(data, result),
                              error_code=str(result.error or code), error=f"Telegram {problem}")
        description = str(data.get("description") or "")[:300]
        parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        migrated = str(parameters.get("migrate_to_chat_id", ""))
        return SendResult(ok=False, transient=False, error_code=str(code),
                          error=f"Telegram {code}: {description}",
                          channel_status=PERMANENT_CHANNEL_ERRORS.get(code),
                          migrate_to_chat_id=migrated if re.fullmatch(r"-\d+", migrated)
                          else None)

    def test_connection(self) -> ActionResult:
        me = self._call("getMe", timeout=10.0)
        if me.refused:
            return not_called("Telegram", me)
        me_data = me.data if isinstance(me.data, dict) else {}
        if not (me.ok and me_data.get("ok")):
            answer = live_problem(me)
            said = platform_problem("telegram", answer.problem, answer.status,
                                    detail=f"getMe: {me.status or me.error}")
            return ActionResult(False, f"getMe failed ({me.status or me.error})", said=said,
                                updates={"status": "error", "status_detail": said.encode()})
        bot = me_data.get("result") or {}
        info = self._call("getWebhookInfo", timeout=10.0)
        hook = (info.data or {}).get("result") if isinstance(info.data, dict) else {}
        hook = hook or {}
        details = {"username": bot.get("username"), "webhook_url": hook.get("url"),
                   "pending_update_count": hook.get("pending_update_count"),
                   "last_error_message": hook.get("last_error_message"),
                   "can_read_all_group_messages": bot.get("can_read_all_group_messages")}
        problems, warnings, said_notes = [], [], []
        if not hook.get("url"):
            problems.append("no webhook set")
            said_notes.append(Said("telegram_no_webhook"))
        if hook.get("last_error_message"):
            problems.append(f"last webhook error: {hook['last_error_message']}")
            said_notes.append(Said("telegram_webhook_error",
                                   detail=f"last webhook error: {hook['last_error_message']}"))
        if bot.get("can_read_all_group_messages") is False:
            # Not an error: private chats, commands and sends to provider groups all work.
            warnings.append("privacy mode is on: in groups the bot only sees commands and "
                            "replies (BotFather /setprivacy → Disable, or make it an admin)")
            said_notes.append(Said("telegram_privacy"))
        notes = problems + warnings
        summary = f"@{bot.get('username')}" + (": " + "; ".join(notes) if notes else " OK")
        said = Said("telegram_bot_ok", {"username": str(bot.get("username") or "")[:100]},
                    said_notes)
        stored = Said(said_notes[0].code, more=said_notes[1:],
                      detail=said_notes[0].detail).encode() if said_notes else None
        return ActionResult(not problems, summary, details, said=said,
                            updates={"status": "error" if problems else "ok",
                                     "status_detail": stored},
                            warning=bool(warnings))

    def configure_webhook(self) -> ActionResult:
        token = secrets.token_urlsafe(32)[:64]  # A-Z a-z 0-9 _ - only, as Telegram requires
        bot_id = self.channel.bot_id
        if not bot_id:
            return ActionResult(False, "the bot token does not look like <bot id>:<secret>",
                                said=Said("telegram_bad_token"))
        url = f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/webhooks/telegram/{bot_id}"
        result = self._call("setWebhook", {"url": url, "secret_token": token,
                                           "allowed_updates": ALLOWED_UPDATES,
                                           "drop_pending_updates": False},
                            extra_secrets=(token,))
        data = result.data if isinstance(result.data, dict) else {}
        if result.ok and data.get("ok"):
            return ActionResult(True, f"Webhook set to {url}", updates={"secret_token": token},
                                said=Said("webhook_set", {"url": url}))
        if result.refused:
            return not_called("Telegram", result)
        problem = data.get("description") or result.status or result.error
        answer = live_problem(result)
        said = Said("webhook_failed", {"platform": "Telegram"},
                    [platform_problem("telegram", answer.problem, answer.status)],
                    detail=f"setWebhook: {problem}")
        return ActionResult(False, f"setWebhook failed ({problem})", said=said)

    def live_state(self) -> LiveAnswer:
        """The bot as Telegram describes it (`getMe`). Facts: `first_name`, `username`,
        `can_read_all_group_messages` (False: privacy mode is on), `can_join_groups`."""
        me = self._call("getMe", timeout=base.LIVE_TIMEOUT)
        data = me.data if isinstance(me.data, dict) else {}
        bot = data.get("result") if me.ok and data.get("ok") is True else None
        if not isinstance(bot, dict):
            answer = live_problem(me)
            if answer.problem == "not_found":  # Telegram's answer to a malformed token
                answer.problem = "unauthorized"
            return answer
        return LiveAnswer({
            "first_name": str(bot.get("first_name") or "")[:200],
            "username": str(bot.get("username") or "")[:200],
            "can_read_all_group_messages": bot.get("can_read_all_group_messages"),
            "can_join_groups": bot.get("can_join_groups"),
        })


def _retry_after(data: dict, result) -> float | None:
    """`parameters.retry_after` of a 429 (or a Retry-After header from a proxy in front)."""
    value = (data.get("parameters") or {}).get("retry_after") \
        if isinstance(data.get("parameters"), dict) else None
    try:
        seconds = float(value) if value is not None else None
    except (TypeError, ValueError):
        seconds = None
    header = result.retry_after()
    candidates = [s for s in (seconds, header) if s is not None]
    return max(candidates) if candidates else None
