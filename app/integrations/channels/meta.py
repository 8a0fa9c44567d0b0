"""Meta WhatsApp Cloud API client (EXTERNAL_APIS.md section 3)."""
from __future__ import annotations

from flask import current_app

from app.integrations.calls import call
from app.integrations.channels import ActionResult, SendResult, not_called, send_not_called
from app.integrations.ratelimit import Rate

TEXT_LIMIT = 4096
NUMBER_RATE = Rate(80, 1.0)  # 80 messages/s per number by default
RECIPIENT_RATE = Rate(1, 6.0, burst=45)  # one per 6 s to the same user, bursts to 45

# Graph error codes (EXTERNAL_APIS 3): which are worth retrying, and after how long at least.
# Other codes are transient when Graph says so (`is_transient`, or an HTTP 5xx / 429 answer such
# as the generic code 1/2 or 131000 "Something went wrong"), permanent otherwise.
TRANSIENT_CODES = {130429: 2.0, 131056: 4.0, 131057: 30.0}
BACKOFF_BASE_BY_CODE = {131056: 4.0}  # pair rate limit: retry after 4^n seconds
# Never worth repeating, whatever the HTTP status says: bad token, bad parameter, undeliverable,
# outside the 24 h window, marketing caps and opt-out, template problems.
PERMANENT_CODES = {190, 100, 131026, 131047, 131049, 131050, 132000, 132001}
CHANNEL_STATUS_BY_CODE = {190: "needs_reauth"}


class MetaClient:
    text_limit = TEXT_LIMIT

    def __init__(self, channel):
        self.channel = channel

    def _base(self) -> str:
        config = current_app.config
        return f"{config['META_GRAPH_URL'].rstrip('/')}/{config['META_GRAPH_VERSION']}"

    def _call(self, operation: str, method: str, path: str, body=None, timeout: float = 15.0):
        ch = self.channel
        return call("meta", operation, method, f"{self._base()}/{path}",
                    workspace_id=ch.workspace_id, channel_id=ch.id, json=body, timeout=timeout,
                    headers={"Authorization": f"Bearer {ch.access_token}"},
                    secrets=(ch.access_token or "", ch.app_secret or ""))

    def rate_rules(self, chat_id: str) -> list[tuple[str, Rate]]:
        number = self.channel.phone_number_id
        return [(f"meta:{number}", NUMBER_RATE), (f"meta:{number}:to:{chat_id}", RECIPIENT_RATE)]

    def send_text(self, chat_id: str, text: str) -> SendResult:
        body = {"messaging_product": "whatsapp", "to": chat_id, "type": "text",
                "text": {"body": text}}
        result = self._call("messages", "POST", f"{self.channel.phone_number_id}/messages", body)
        if result.refused:
            return send_not_called("Meta", result)
        data = result.data if isinstance(result.data, dict) else {}
        messages = data.get("messages") if isinstance(data.get("messages"), list) else []
        if result.ok and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return SendResult(ok=True, message_id=str(messages[0]["id"]))
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = _code(error)
        if code is not None:  # a Graph error object
            message = str(error.get("message") or "")[:300]
            if code not in PERMANENT_CODES and (
                    code in TRANSIENT_CODES or error.get("is_transient") is True
                    or result.status is None or result.status >= 500 or result.status == 429):
                waits = [w for w in (TRANSIENT_CODES.get(code), result.retry_after()) if w]
                return SendResult(ok=False, transient=True, retry_after=max(waits, default=None),
                                  backoff_base=BACKOFF_BASE_BY_CODE.get(code),
                                  error_code=str(code), error=f"Meta {code}: {message}")
            return SendResult(ok=False, transient=False, error_code=str(code),
                              error=f"Meta {code}: {message}",
                              channel_status=CHANNEL_STATUS_BY_CODE.get(code))
        garbled = result.status is not None and 200 <= result.status < 300
        if result.status is None or result.status >= 500 or result.status == 429 or garbled:
            problem = result.error or ("garbled answer" if garbled else result.status)
            return SendResult(ok=False, transient=True, retry_after=result.retry_after(),
                              error_code=str(result.error or result.status),
                              error=f"Meta {problem}")
        return SendResult(ok=False, transient=False, error_code=str(result.status),
                          error=f"Meta HTTP {result.status}")

    def test_connection(self) -> ActionResult:
        result = self._call("phone_number", "GET", str(self.channel.phone_number_id),
                            timeout=10.0)
        if result.refused:
            return not_called("Meta", result)
        data = result.data if isinstance(result.data, dict) else {}
        if result.ok and data.get("id"):
            return ActionResult(True, f"Number {data.get('display_phone_number', data['id'])} "
                                      f"({data.get('verified_name', '')})", data,
                                updates={"status": "ok", "status_detail": None})
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = error.get("code")
        problem = code or result.status or result.error
        status = "needs_reauth" if code == 190 else "error"
        return ActionResult(False, f"Phone number lookup failed ({problem})",
                            updates={"status": status,
                                     "status_detail": f"lookup failed: {problem}"})

    def configure_webhook(self) -> ActionResult:
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        verify = current_app.config.get("META_VERIFY_TOKEN") or "(set META_VERIFY_TOKEN)"
        return ActionResult(True, f"In the Meta app dashboard set the callback URL to "
                                  f"{base}/webhooks/meta and the verify token to {verify}, then "
                                  f"subscribe to the 'messages' field.")


def _code(error: dict) -> int | None:
    """The Graph error code as a number (it is one; tolerate it arriving as a string)."""
    try:
        return int(error["code"]) if error.get("code") is not None else None
    except (TypeError, ValueError):
        return None
