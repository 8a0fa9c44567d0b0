"""Meta WhatsApp Cloud API client (docs/external-apis.md section 3).

`test_connection()` is the ownership check a Meta channel passes before it receives anything
(app/jobs/verification.py records its outcome): with the channel's own access token,
`GET /{version}/{phone_number_id}?fields=display_phone_number,verified_name,quality_rating` must
answer that number, and `GET /{version}/{waba_id}/phone_numbers` must list it (pages followed
with the `after` cursor, up to WABA_MAX_PAGES). Summaries and status details are written from
codes and from the number's public fields only, never from Graph's error texts.

Outcomes: verified (`verified_at` now); "Not verified" when Graph says the token cannot reach
the number or the account, or the account does not list the number (`verified_at` NULL);
"Verification failed" when the check cannot conclude — Meta does not answer, the token is
expired (190) — which leaves `verified_at` as it was: a verified channel keeps receiving while
Meta has an outage (any change to its number, account or credentials un-verifies it anyway).
"""
from __future__ import annotations

import re
from urllib.parse import quote

from flask import current_app

from app.integrations.calls import call
from app.integrations.channels import base
from app.integrations.channels.base import (ActionResult, LiveAnswer, MediaToSend, SendResult,
                                       live_problem,
                                       not_called, send_not_called)
from app.redaction import redact
from app.integrations.ratelimit import Rate
from app.status_words import Said
from app.models.base import utcnow

TEXT_LIMIT = 4096
#: a business-scoped user id: country code, `.`, (`ENT.` for a parent id,) up to 128 letters
#: and digits, e.g. `US.13491208655302741918`
BSUID = re.compile(r"^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$")
NUMBER_RATE = Rate(80, 1.0)  # 80 messages/s per number by default
RECIPIENT_RATE = Rate(1, 6.0, burst=45)  # one per 6 s to the same user, bursts to 45

# Graph error codes (docs/external-apis.md 3): which are worth retrying and after how long at least.
# Other codes are transient when Graph says so (`is_transient`, or an HTTP 5xx / 429 answer such
# as the generic code 1/2 or 131000 "Something went wrong"), permanent otherwise.
TRANSIENT_CODES = {130429: 2.0, 131056: 4.0, 131057: 30.0}
# the number's own throughput (not one recipient's pair rate): a refusal, nothing delivered
THROTTLED_CODES = {130429}
BACKOFF_BASE_BY_CODE = {131056: 4.0}  # pair rate limit: retry after 4^n seconds
# Never worth repeating, whatever the HTTP status says: bad token, bad parameter, undeliverable,
# outside the 24 h window, marketing caps and opt-out, template problems.
PERMANENT_CODES = {190, 100, 131026, 131047, 131049, 131050, 132000, 132001}
CHANNEL_STATUS_BY_CODE = {190: "needs_reauth"}
NUMBER_FIELDS = "display_phone_number,verified_name,quality_rating"
LIVE_FIELDS = "display_phone_number,verified_name,quality_rating,code_verification_status"
WABA_PAGE_SIZE = 100
WABA_MAX_PAGES = 20  # 2000 numbers: far more than one business account holds


class MetaClient:
    text_limit = TEXT_LIMIT

    def __init__(self, channel):
        self.channel = channel

    def _base(self) -> str:
        config = current_app.config
        return f"{config['META_GRAPH_URL'].rstrip('/')}/{config['META_GRAPH_VERSION']}"

    def _call(self, operation: str, method: str, path: str, body=None, timeout: float = 15.0,
              params: dict | None = None):
        ch = self.channel
        return call("meta", operation, method, f"{self._base()}/{path}",
                    workspace_id=ch.workspace_id, channel_id=ch.id, json=body, timeout=timeout,
                    params=params, headers={"Authorization": f"Bearer {ch.access_token}"},
                    secrets=self._secrets())

    def _secrets(self) -> tuple[str, ...]:
        return (self.channel.access_token or "", self.channel.app_secret or "")

    def rate_rules(self, chat_id: str) -> list[tuple[str, Rate]]:
        number = self.channel.phone_number_id
        return [(f"meta:{number}", NUMBER_RATE), (f"meta:{number}:to:{chat_id}", RECIPIENT_RATE)]

    def send_text(self, chat_id: str, text: str) -> SendResult:
        # a business-scoped user id (a user whose number Meta withholds) is a `recipient`
        address = "recipient" if BSUID.match(chat_id) else "to"
        body = {"messaging_product": "whatsapp", address: chat_id, "type": "text",
                "text": {"body": text}}
        return self._message(body)

    def send_media(self, chat_id: str, media: MediaToSend) -> SendResult:
        """A location as `{"type": "location", "location": {…}}`; a file uploaded first
        (`POST /{version}/{phone_number_id}/media`, multipart `messaging_product`, `file`,
        `type` → `{"id"}`), then sent as `{"type": kind, kind: {"id", "caption"?,
        "filename"?}}` (docs/external-apis.md 3 "Media")."""
        address = "recipient" if BSUID.match(chat_id) else "to"
        body = {"messaging_product": "whatsapp", address: chat_id, "type": media.kind}
        if media.kind == "location":
            body["location"] = {"latitude": media.latitude, "longitude": media.longitude,
                                **({"name": media.place_name} if media.place_name else {}),
                                **({"address": media.address} if media.address else {})}
            return self._message(body)
        ch = self.channel
        uploaded = call("meta", "media_upload", "POST",
                        f"{self._base()}/{ch.phone_number_id}/media",
                        workspace_id=ch.workspace_id, channel_id=ch.id,
                        data={"messaging_product": "whatsapp", "type": media.mime_type},
                        files={"file": (media.file_name, media.data, media.mime_type)},
                        headers={"Authorization": f"Bearer {ch.access_token}"},
                        timeout=base.UPLOAD_TIMEOUT, secrets=self._secrets())
        data = uploaded.data if isinstance(uploaded.data, dict) else {}
        if not (uploaded.ok and data.get("id")):
            return self._refusal(uploaded)
        item: dict = {"id": str(data["id"])}
        if media.caption and media.kind in ("image", "video", "document"):
            item["caption"] = media.caption
        if media.kind == "document":
            item["filename"] = media.file_name
        body[media.kind] = item
        return self._message(body)

    def _message(self, body: dict) -> SendResult:
        result = self._call("messages", "POST", f"{self.channel.phone_number_id}/messages", body)
        data = result.data if isinstance(result.data, dict) else {}
        messages = data.get("messages") if isinstance(data.get("messages"), list) else []
        if result.ok and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return SendResult(ok=True, message_id=str(messages[0]["id"]))
        return self._refusal(result)

    def _refusal(self, result) -> SendResult:
        """A call that did not give the answer expected: what to do about it."""
        if result.refused:
            return send_not_called("Meta", result)
        data = result.data if isinstance(result.data, dict) else {}
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
                                  throttled=code in THROTTLED_CODES or result.status == 429,
                                  error_code=str(code), error=f"Meta {code}: {message}")
            return SendResult(ok=False, transient=False, error_code=str(code),
                              error=f"Meta {code}: {message}",
                              channel_status=CHANNEL_STATUS_BY_CODE.get(code))
        garbled = result.status is not None and 200 <= result.status < 300
        if result.status is None or result.status >= 500 or result.status == 429 or garbled:
            problem = result.error or ("garbled answer" if garbled else result.status)
            return SendResult(ok=False, transient=True, retry_after=result.retry_after(),
                              throttled=result.status == 429,
                              error_code=str(result.error or result.status),
                              error=f"Meta {problem}")
        return SendResult(ok=False, transient=False, error_code=str(result.status),
                          error=f"Meta HTTP {result.status}")

    def test_connection(self) -> ActionResult:
        """Verify that this channel's own access token controls its number and its WABA.

        The result's `updates` set `verified_at` (now, or None), `status` and `status_detail`;
        app/jobs/verification.py applies them only if the channel was not changed meanwhile.
        No secret of the channel appears in the summary or the status detail."""
        result = self._verify()
        result.summary = redact(result.summary, self._secrets())
        result.updates["status_detail"] = redact(result.updates["status_detail"],
                                                 self._secrets())
        return result

    def _verify(self) -> ActionResult:
        ch = self.channel
        number_id = str(ch.phone_number_id or "")
        if not number_id or not ch.access_token:
            return _check_failed("the phone number id and the access token are both needed")
        number = self._call("verify_number", "GET", quote(number_id, safe=""), timeout=10.0,
                            params={"fields": NUMBER_FIELDS})
        if number.refused:  # META_GRAPH_URL refused by the outbound policy: inconclusive
            return not_called("Meta", number)
        data = number.data if isinstance(number.data, dict) else {}
        if not number.ok or str(data.get("id", "")) != number_id:
            return _graph_refusal(number, data, f"this access token cannot read phone number id "
                                                f"{number_id}")
        phone = {key: data.get(key) for key in ("display_phone_number", "verified_name",
                                                  "quality_rating")}
        if ch.waba_id:
            problem = self._number_in_waba(number_id, str(ch.waba_id))
            if problem is not None:
                return problem
        return self._verified(phone)

    def _number_in_waba(self, number_id: str, waba_id: str) -> ActionResult | None:
        """None when the WABA's number list (as this token sees it) holds the number."""
        params = {"limit": str(WABA_PAGE_SIZE)}
        for _page in range(WABA_MAX_PAGES):
            listed = self._call("verify_waba", "GET", f"{quote(waba_id, safe='')}/phone_numbers",
                                timeout=10.0, params=params)
            data = listed.data if isinstance(listed.data, dict) else {}
            numbers = data.get("data")
            if not listed.ok or not isinstance(numbers, list):
                return _graph_refusal(listed, data, f"this access token cannot read the "
                                                    f"WhatsApp Business account {waba_id}")
            if any(isinstance(n, dict) and str(n.get("id")) == number_id for n in numbers):
                return None
            paging = data.get("paging") if isinstance(data.get("paging"), dict) else {}
            cursors = paging.get("cursors") if isinstance(paging.get("cursors"), dict) else {}
            after = cursors.get("after")
            if not numbers or not paging.get("next") or not isinstance(after, str) or not after:
                break
            params = {"limit": str(WABA_PAGE_SIZE), "after": after}
        return _not_verified(f"phone number id {number_id} is not a number of the WhatsApp "
                             f"Business account {waba_id}")

    def _verified(self, phone: dict) -> ActionResult:
        parts = [f"number {phone.get('display_phone_number') or '?'}"]
        if phone.get("verified_name"):
            parts.append(f"name {phone['verified_name']}")
        if phone.get("quality_rating"):
            parts.append(f"quality {phone['quality_rating']}")
        if not self.channel.waba_id:
            parts.append("no WhatsApp Business account id: template status updates cannot "
                         "reach this channel")
        text = ("Verified: " + ", ".join(str(p) for p in parts))[:500]
        return ActionResult(True, text, phone,
                            updates={"verified_at": utcnow(), "status": "ok",
                                     "status_detail": text})

    def live_state(self) -> LiveAnswer:
        """The number as Meta describes it to this channel's token. Facts:
        `display_phone_number`, `verified_name`, `quality_rating`, `code_verification_status`.
        Problems: token_expired (Graph 190), no_access (the token cannot read the number)."""
        number_id = str(self.channel.phone_number_id or "")
        if not number_id or not self.channel.access_token:
            return LiveAnswer(problem="unauthorized")
        result = self._call("number_state", "GET", quote(number_id, safe=""),
                            timeout=base.LIVE_TIMEOUT, params={"fields": LIVE_FIELDS})
        data = result.data if isinstance(result.data, dict) else {}
        if result.ok and str(data.get("id", "")) == number_id:
            return LiveAnswer({key: str(data[key])[:200] if data.get(key) is not None else None
                               for key in LIVE_FIELDS.split(",")})
        error = data.get("error") if isinstance(data.get("error"), dict) else {}
        code = _code(error)
        if code == 190:
            return LiveAnswer(problem="token_expired", status=result.status)
        if code in OWNERSHIP_DENIED_CODES:
            return LiveAnswer(problem="no_access", status=result.status)
        return live_problem(result)

    def configure_webhook(self) -> ActionResult:
        base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
        token = current_app.config.get("META_VERIFY_TOKEN")
        verify = token or "(set META_VERIFY_TOKEN)"
        url = f"{base}/webhooks/meta"
        said = Said("meta_webhook_manual", {"url": url, "token": token}) if token else \
            Said("meta_webhook_no_token", {"url": url})
        return ActionResult(True, f"In the Meta app dashboard set the callback URL to "
                                  f"{url} and the verify token to {verify}, then "
                                  f"subscribe to the 'messages' field.", said=said)


def _code(error: dict) -> int | None:
    """The Graph error code as a number (it is one; tolerate it arriving as a string)."""
    try:
        return int(error["code"]) if error.get("code") is not None else None
    except (TypeError, ValueError):
        return None


#: Graph error codes that say the token cannot reach the object (it does not exist for this
#: token, or the token lacks the permission): proof that the channel does not control it
OWNERSHIP_DENIED_CODES = {10, 100} | set(range(200, 300))


def _not_verified(reason: str) -> ActionResult:
    """Meta denied that this token controls the number or the account: unverified."""
    text = f"Not verified: {reason}."[:500]
    return ActionResult(False, text, updates={"verified_at": None, "status": "error",
                                              "status_detail": text})


def _check_failed(reason: str, status: str = "error") -> ActionResult:
    """The check could not conclude (Meta did not answer, the token is expired): the channel
    keeps the verification it had — ownership proven with these same credentials stays proven
    (changing any of them sends the channel back to verification)."""
    text = f"Verification failed: {reason}."[:500]
    return ActionResult(False, text, updates={"status": status, "status_detail": text})


def _graph_refusal(result, data: dict, cannot: str) -> ActionResult:
    """Why a verification call failed, from its code and HTTP status only (Graph's own message
    is not repeated: it is upstream text)."""
    error = data.get("error") if isinstance(data.get("error"), dict) else {}
    code = _code(error)
    if code == 190:
        return _check_failed("Meta refused the access token (Graph error 190): enter a valid "
                             "token", status="needs_reauth")
    if code in OWNERSHIP_DENIED_CODES:
        return _not_verified(f"{cannot} (Graph error {code})")
    if code is not None:
        return _check_failed(f"Meta answered with Graph error {code}; try again")
    if result.status is None or result.error in ("timeout", "connection"):
        return _check_failed(f"Meta did not answer ({result.error or 'no answer'}); try again")
    if result.ok:
        return _check_failed("Meta answered for another object; try again")
    return _check_failed(f"Meta answered HTTP {result.status}; try again")
