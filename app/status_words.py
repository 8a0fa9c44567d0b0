"""What outside services answered, as codes with parameters, put into words when shown.

The channel and panel connection actions (test connection, configure webhook, detect engine)
flash what happened and keep it as the row's `status_detail`. Neither says it in the upstream
service's or Relaydesk's technical English: an action describes the outcome as a `Said` (a
message code, its parameters, further sentences and the technical detail), flashes its words in
the reader's language and stores it encoded (`Said.encode()`: `rd:` then JSON, at most 500
characters) so the show page puts it into words in *its* reader's language
(`status_detail_words`), the technical detail folded in a closed `<details>`.

Parameters are plain values (a URL, an HTTP status, a bot's username) or codes put into words at
display: `engine` (a panel type), `state` (a Green API instance state), `reason` (a refusal of
the outbound URL policy, app/integrations/urlpolicy.py `MESSAGES`). Status details stored as
plain text before (or by other code: pausing states, awaiting verification) are shown as they
were (translated when they are a known msgid).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from app.integrations.urlpolicy import MESSAGES as REFUSALS
from app.labels import code_label
from app.redaction import redact

PREFIX = "rd:"
LIMIT = 500

#: the services' own names (never translated)
SERVICE_NAMES = {"greenapi": "Green API", "telegram": "Telegram", "meta": "Meta"}

MESSAGES: dict[str, Any] = {
    # -- a platform's answer (LiveAnswer problem codes), any channel kind --------------------
    "refused": _l("Relaydesk did not call %(platform)s: %(reason)s"),
    "timeout": _l("%(platform)s did not answer in time. Try again in a moment."),
    "connection": _l("%(platform)s could not be reached. Check the URL, then try again."),
    "unauthorized": _l("%(platform)s refused the credentials: check the token and the id."),
    "not_found": _l("%(platform)s does not know this instance: check the id and the URL."),
    "token_expired": _l("Meta refused the access token (expired or revoked): enter a new one."),
    "no_access": _l("Meta says this access token cannot read this phone number id: check "
                    "both."),
    "unavailable": _l("%(platform)s is having trouble right now (HTTP %(status)s). Try again in "
                      "a moment."),
    "bad_answer": _l("%(platform)s answered something Relaydesk does not understand: check the "
                     "URL."),
    "http_error": _l("%(platform)s answered with HTTP %(status)s."),
    # Telegram has a bot token, not an instance id and URL
    "telegram_connection": _l("Telegram could not be reached. Try again in a moment; if you "
                              "set a Bot API base URL, check it."),
    "telegram_unauthorized": _l("Telegram refused the bot token: copy it again from @BotFather "
                                "(/token), then try again."),
    "telegram_bad_answer": _l("Telegram answered something Relaydesk does not understand: "
                              "check the bot token (and the Bot API base URL, if you set one)."),
    # -- channel actions ---------------------------------------------------------------------
    "green_state": _l("Instance state: %(state)s"),
    "green_webhook_set": _l("Webhook set to %(url)s. Green API applies it within a few "
                            "minutes."),
    "webhook_set": _l("Webhook set to %(url)s."),
    "webhook_failed": _l("%(platform)s did not accept the webhook settings."),
    "telegram_bot_ok": _l("The bot @%(username)s answers."),
    "telegram_no_webhook": _l("No webhook is set: use Configure webhook."),
    "telegram_webhook_error": _l("Telegram could not deliver the last update to the webhook: "
                                 "use Configure webhook, then send the bot a message."),
    "telegram_privacy": _l("Privacy mode is on: in groups the bot sees only commands and "
                           "replies (BotFather /setprivacy → Disable, or make it an admin)."),
    "telegram_bad_token": _l("The bot token does not look like <bot id>:<secret>: copy it "
                             "again from @BotFather."),
    "meta_webhook_manual": _l("In the Meta app dashboard set the callback URL to %(url)s and "
                              "the verify token to %(token)s, then subscribe to the "
                              "\"messages\" field."),
    "meta_webhook_no_token": _l("In the Meta app dashboard set the callback URL to %(url)s, "
                                "then subscribe to the \"messages\" field. The verify token is "
                                "not configured yet: ask the platform's administrator to set "
                                "META_VERIFY_TOKEN."),
    # -- panel connection actions ------------------------------------------------------------
    "panel_ok": _l("The panel answers: %(engine)s."),
    "panel_demo": _l("Demo panel: sample orders %(first)s to %(last)s; nothing leaves "
                     "Relaydesk."),
    "panel_found": _l("Found %(engine)s at this URL; the panel engine is set to it."),
    "panel_found_problem": _l("Found %(engine)s at this URL."),
    "panel_bad_url": _l("The panel URL must start with http:// or https://."),
    "panel_none": _l("No known panel API answered at this URL. Check the URL: the panel's own "
                     "address, without a path."),
    "panel_refused": _l("Relaydesk did not call the panel: %(reason)s"),
    "panel_connection": _l("The panel could not be reached: the connection failed. Check the "
                           "URL, then try again."),
    "panel_timeout": _l("The panel did not answer in time. Try again in a moment, or allow a "
                        "longer timeout."),
    "panel_cloudflare": _l("The panel's Cloudflare protection stopped Relaydesk's request. "
                           "Allow Relaydesk's server in Cloudflare, then try again."),
    "panel_rate_limited": _l("The panel is refusing calls for now (too many requests). Try "
                             "again in a moment, or lower the requests per second."),
    "panel_server_error": _l("The panel is having trouble right now (HTTP %(status)s). Try "
                             "again in a moment."),
    "panel_garbled": _l("The panel's answer arrived cut off or corrupted. Try again in a "
                        "moment."),
    "panel_paced": _l("Relaydesk is pacing its calls to this panel. Try again in a moment."),
    "panel_unreachable": _l("The panel could not be reached. Check the URL, then try again."),
    "panel_auth": _l("The panel refused the API key. Check the admin API key, then try again."),
    "panel_bad_response": _l("The panel answered something Relaydesk does not understand. "
                             "Check the URL and the panel engine (Detect engine finds it)."),
    "panel_rejected": _l("The panel refused the request. Check the API key and its "
                         "permissions."),
    "panel_unsupported": _l("Relaydesk cannot check a panel of this engine."),
}


#: a Green API instance's state in words (getStateInstance, stateInstanceChanged)
GREEN_STATE_WORDS = {
    "authorized": _l("Authorized: the phone is linked and the instance receives messages."),
    "notAuthorized": _l("Not authorized: scan the QR code with WhatsApp on the phone "
                        "(Settings → Linked devices → Link a device)."),
    "blocked": _l("Blocked: WhatsApp has banned this number."),
    "sleepMode": _l("Sleep mode: the phone is offline. Turn it on and open WhatsApp."),
    "starting": _l("Starting: the instance is starting up, which takes a few minutes."),
    "yellowCard": _l("Yellow card: WhatsApp suspects spam and has partly stopped sending."),
}


def _engine_words(value: Any) -> str:
    return str(code_label("panel_type", value))


def _state_words(value: Any) -> str:
    words = GREEN_STATE_WORDS.get(value)
    return str(words) if words is not None else str(value)


def _state_known(value: Any) -> bool:
    return isinstance(value, str) and value in GREEN_STATE_WORDS


def _reason_words(value: Any) -> str:
    words = REFUSALS.get(value)
    return str(words) if words is not None else str(value)


#: parameters that hold a code, and how each is put into words
PARAM_WORDS = {"engine": _engine_words, "state": _state_words, "reason": _reason_words}


def refusal_code(text: str | None) -> str:
    """The URL policy's reason code for its message `text` (in any shipped language it was
    said in), or the text itself when it is not one of them."""
    from flask_babel import force_locale


    text = text or ""
    for code, message in REFUSALS.items():
        if str(message) == text or msgid(message) == text:
            return code
    try:
        from flask import current_app

        languages = list(current_app.config.get("LANGUAGES") or ())
    except RuntimeError:
        languages = []
    for language in languages:
        with force_locale(language):
            for code, message in REFUSALS.items():
                if str(message) == text:
                    return code
    return text


def msgid(lazy) -> str:
    """The English text of a lazy translation."""
    return lazy._args[0] if getattr(lazy, "_args", None) else str(lazy)  # noqa: SLF001


@dataclass
class Said:
    """One outcome in words: `code` (a key of MESSAGES) with its `params`, further sentences
    (`more`) and the technical detail (`detail`: English, for the folded part and the logs)."""

    code: str
    params: dict = field(default_factory=dict)
    more: list[Said] = field(default_factory=list)
    detail: str = ""

    def words(self) -> str:
        """The sentences in the current reader's language."""
        message = MESSAGES.get(self.code)
        known_state = self.code == "green_state" and _state_known(self.params.get("state"))
        if known_state:  # the state's own sentence says what it is and what to do
            text = _state_words(self.params["state"])
        elif message is None:
            text = self.code
        else:
            values = {name: PARAM_WORDS[name](value) if name in PARAM_WORDS else value
                      for name, value in self.params.items()}
            text = str(message) % values if values else str(message)
        return " ".join([text, *(part.words() for part in self.more)])

    def __str__(self) -> str:
        return self.words()

    def technical(self) -> str:
        """Every technical detail of these sentences, one per line."""
        return "\n".join(d for d in [self.detail, *(p.technical() for p in self.more)] if d)

    def _data(self, detail: bool = True) -> dict:
        data: dict = {"c": self.code}
        if self.params:
            data["p"] = self.params
        if self.more:
            data["m"] = [part._data(detail) for part in self.more]
        if detail and self.detail:
            data["d"] = self.detail
        return data

    def encode(self) -> str:
        """The stored form (status_detail): `rd:` and JSON, within LIMIT characters (the
        technical detail is cut, then dropped, to fit)."""

        data = self._data()
        text = PREFIX + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        if len(text) > LIMIT:
            technical = redact(self.technical())
            data = self._data(detail=False)
            bare = PREFIX + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            room = LIMIT - len(bare) - 12
            if room > 20:
                data["d"] = technical[:room]
            text = PREFIX + json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            if len(text) > LIMIT:
                text = bare[:LIMIT]
        return text

    @classmethod
    def decode(cls, text: str | None) -> Said | None:
        """The Said stored as `text`, or None when `text` is not one (plain text, garbage)."""
        if not isinstance(text, str) or not text.startswith(PREFIX):
            return None
        try:
            return cls._from(json.loads(text[len(PREFIX):]))
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    @classmethod
    def _from(cls, data: dict) -> Said:
        params = data.get("p") or {}
        if not isinstance(params, dict) or not isinstance(data["c"], str):
            raise TypeError("not a Said")
        return cls(data["c"], params, [cls._from(part) for part in data.get("m") or []],
                   str(data.get("d") or ""))


def status_detail_text(detail: str | None) -> str | None:
    """A stored status detail as plain text (the REST API): the sentences in the reader's
    language, then the technical detail after " — "; other text as it is."""
    said = Said.decode(detail)
    if said is None:
        return detail
    technical = said.technical()
    return f"{said.words()} — {technical}" if technical else said.words()


def status_detail_words(detail: str | None, plain=None) -> Any:
    """A stored status detail for a screen: a Said in words with its technical detail folded;
    other text through `plain` (or as is)."""
    said = Said.decode(detail)
    if said is None:
        if plain is not None:
            return plain(detail)
        return detail or ""
    sentence = Markup("<bdi>%s</bdi>") % said.words()
    technical = said.technical()
    if not technical:
        return sentence
    return sentence + Markup(
        " <details class='rd-status-detail'><summary class='text-muted small'>%s</summary>"
        "<pre dir='ltr'>%s</pre></details>") % (_("Technical detail"), technical)


def platform_problem(kind: str, problem: str, status: int | None = None, reason: str = "",
                     detail: str = "") -> Said:
    """The words for a platform's problem code (app/integrations/channels `LiveAnswer`) on a
    channel of `kind`."""
    if kind == "telegram" and problem in ("connection", "unauthorized", "not_found",
                                          "bad_answer"):
        code = "telegram_unauthorized" if problem == "not_found" else f"telegram_{problem}"
        return Said(code, detail=detail)
    params: dict = {"platform": SERVICE_NAMES.get(kind, kind)}
    if problem == "refused":
        params["reason"] = refusal_code(reason)
    if problem in ("unavailable", "http_error"):
        params["status"] = status if status is not None else "?"
    return Said(problem if problem in MESSAGES else "http_error", params, detail=detail)


def panel_problem(error) -> Said:
    """The words for a PanelError (app/integrations/panels/base.py)."""
    kind = getattr(error, "kind", "unreachable")
    detail = f"{kind}: {getattr(error, 'detail', '')}"
    if kind == "refused":
        return Said("panel_refused", {"reason": refusal_code(error.detail)}, detail=detail)
    if kind == "unreachable":
        cause = getattr(error, "cause", None)
        if cause == "server_error":
            return Said("panel_server_error", {"status": getattr(error, "status", None) or "?"},
                        detail=detail)
        code = f"panel_{cause}" if cause and f"panel_{cause}" in MESSAGES else \
            "panel_unreachable"
        return Said(code, detail=detail)
    code = f"panel_{kind}"
    return Said(code if code in MESSAGES else "panel_unreachable", detail=detail)
