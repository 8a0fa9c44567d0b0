"""Green API client (docs/external-apis.md 2, docs/contracts.md "Outbound calls")."""
from __future__ import annotations

import base64
import binascii
import secrets

from flask import current_app

from app.integrations.calls import call
from app.integrations.channels import base
from app.integrations.channels.base import (ActionResult, LiveAnswer, MediaToSend, SendResult,
                                       live_problem,
                                       not_called, send_not_called)
from app.integrations.ratelimit import Rate
from app.status_words import Said, platform_problem

TEXT_LIMIT = 4000
INSTANCE_RATE = Rate(50, 1.0)  # 50 requests/s per instance (HTTP 429 beyond)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QR_MAX_BYTES = 256 * 1024  # a QR code PNG is a few kilobytes


class GreenApiClient:
    text_limit = TEXT_LIMIT

    def __init__(self, channel):
        self.channel = channel

    def _url(self, method: str) -> str:
        ch = self.channel
        return f"{ch.api_url.rstrip('/')}/waInstance{ch.id_instance}/{method}/{ch.api_token}"

    def _call(self, operation: str, method: str, body=None, timeout: float = 15.0,
              extra_secrets: tuple[str, ...] = ()):
        ch = self.channel
        return call("greenapi", operation, method, self._url(operation),
                    workspace_id=ch.workspace_id, channel_id=ch.id, json=body, timeout=timeout,
                    secrets=(ch.api_token or "", ch.webhook_token or "", *extra_secrets))

    def rate_rules(self, chat_id: str) -> list[tuple[str, Rate]]:
        return [(f"green:{self.channel.id_instance}", INSTANCE_RATE)]

    def send_text(self, chat_id: str, text: str) -> SendResult:
        return self._sent(self._call("sendMessage", "POST", {"chatId": chat_id, "message": text}))

    def send_media(self, chat_id: str, media: MediaToSend) -> SendResult:
        """`sendLocation` for a location, else `sendFileByUpload` (multipart: chatId, file,
        fileName, caption), docs/external-apis.md 2 "Media out"."""
        if media.kind == "location":
            body = {"chatId": chat_id, "latitude": media.latitude,
                    "longitude": media.longitude}
            if media.place_name:
                body["nameLocation"] = media.place_name
            if media.address:
                body["address"] = media.address
            return self._sent(self._call("sendLocation", "POST", body))
        ch = self.channel
        fields = {"chatId": chat_id, "fileName": media.file_name}
        if media.caption:
            fields["caption"] = media.caption
        result = call("greenapi", "sendFileByUpload", "POST", self._url("sendFileByUpload"),
                      workspace_id=ch.workspace_id, channel_id=ch.id, data=fields,
                      files={"file": (media.file_name, media.data, media.mime_type)},
                      timeout=base.UPLOAD_TIMEOUT,
                      secrets=(ch.api_token or "", ch.webhook_token or ""))
        return self._sent(result)

    def _sent(self, result) -> SendResult:
        if result.ok and isinstance(result.data, dict) and result.data.get("idMessage"):
            return SendResult(ok=True, message_id=str(result.data["idMessage"]))
        if result.ok:  # 200 without an id: the platform answered garbage
            return SendResult(ok=False, transient=True, error="answer without idMessage")
        if result.refused:
            return send_not_called("Green API", result)
        transient = result.outcome in ("transient", "timeout")
        status = None
        if result.status in (401, 403):
            status = "error"
        return SendResult(ok=False, transient=transient, retry_after=result.retry_after(),
                          throttled=result.status == 429,
                          error_code=str(result.status or result.error),
                          error=f"Green API {result.status or result.error}",
                          channel_status=status)

    def test_connection(self) -> ActionResult:
        result = self._call("getStateInstance", "GET", timeout=10.0)
        state = result.data.get("stateInstance") if isinstance(result.data, dict) else None
        if result.refused:
            return not_called("Green API", result)
        if not result.ok or not state:
            problem = result.status or result.error
            answer = live_problem(result)
            said = platform_problem("greenapi", answer.problem, answer.status,
                                    detail=f"getStateInstance: {problem}")
            return ActionResult(False, f"Green API did not answer ({problem})", said=said,
                                updates={"status": "error", "status_detail": said.encode()})
        ok = state == "authorized"
        said = Said("green_state", {"state": state[:40]})
        return ActionResult(ok, f"Instance state: {state}", {"stateInstance": state},
                            said=said,
                            updates={"status": "ok" if ok else "error",
                                     "status_detail": None if ok else said.encode()})

    def configure_webhook(self) -> ActionResult:
        # An existing token is kept: Green API applies new settings only "within minutes", and
        # webhooks still signed with the old token would be refused meanwhile.
        token = self.channel.webhook_token or secrets.token_urlsafe(24)
        url = f"{current_app.config['PUBLIC_BASE_URL'].rstrip('/')}/webhooks/greenapi"
        settings = {"webhookUrl": url, "webhookUrlToken": token, "incomingWebhook": "yes",
                    "outgoingWebhook": "yes", "outgoingMessageWebhook": "yes",
                    "outgoingAPIMessageWebhook": "yes", "stateWebhook": "yes"}
        result = self._call("setSettings", "POST", settings, extra_secrets=(token,))
        if result.ok and isinstance(result.data, dict) and result.data.get("saveSettings"):
            return ActionResult(True, f"Webhook set to {url} (applies within minutes)",
                                updates={"webhook_token": token},
                                said=Said("green_webhook_set", {"url": url}))
        if result.refused:
            return not_called("Green API", result)
        problem = result.status or result.error
        answer = live_problem(result)
        said = Said("webhook_failed", {"platform": "Green API"},
                    [platform_problem("greenapi", answer.problem, answer.status)],
                    detail=f"setSettings: {problem}")
        return ActionResult(False, f"setSettings failed ({problem})", said=said)

    def live_state(self) -> LiveAnswer:
        """The instance state (`getStateInstance`) and, while it is not authorized, its QR code
        (`qr`). Facts: `state`; then either `qr_png` (the code as canonical base64 of a checked
        PNG) or `qr_state` (`alreadyLogged`, or `error` when Green API offers no code now)."""
        result = self._call("getStateInstance", "GET", timeout=base.LIVE_TIMEOUT)
        data = result.data if result.ok and isinstance(result.data, dict) else {}
        state = data.get("stateInstance")
        if not isinstance(state, str) or not state:
            return live_problem(result)
        facts: dict = {"state": state[:40]}
        if state != "authorized":
            facts.update(self._qr())
        return LiveAnswer(facts)

    def _qr(self) -> dict:
        result = self._call("qr", "GET", timeout=base.LIVE_TIMEOUT)
        data = result.data if result.ok and isinstance(result.data, dict) else {}
        if data.get("type") == "qrCode":
            png = checked_png(data.get("message"))
            if png is not None:
                return {"qr_png": png}
        if data.get("type") == "alreadyLogged":
            return {"qr_state": "alreadyLogged"}
        return {"qr_state": "error"}


def checked_png(value) -> str | None:
    """`value` as canonical base64 when it is base64 of a PNG of a sane size, else None: only
    an image ever reaches the page's `data:` URL."""
    if not isinstance(value, str) or len(value) > QR_MAX_BYTES * 2:
        return None
    text = value.split(",", 1)[1] if value.startswith("data:image/png;base64,") else value
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(PNG_SIGNATURE) or len(raw) > QR_MAX_BYTES:
        return None
    return base64.b64encode(raw).decode("ascii")
