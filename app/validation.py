"""Server-side checks shared by every door a value comes in through: the screens (WTForms), the
REST API (the same checks on the row in `pre_add`/`pre_update`, answered with 422 naming the
field) and the workspace file (marshmallow fields and the importer, its errors naming the field).

* A `Rule` is one pure check of one value: `rule.problem(value, other)` gives None or the
  message for the person (lazy, in the user's language where there is a request). `other(name)`
  reads a neighbouring value (the route's channel for a chat id). Each rule carries a
  `valid_example` and an `invalid_example`.
* `COLUMN_RULES` declares, per model, which rules each column obeys. Screens get them as form
  validators (`form_validators(model)`, each a `FormCheck` carrying the rule's examples: the
  browser form matrix fills forms with them), the REST twins and every other write through a
  screen's interface get them from `column_problems(item, new=…)`, the workspace file from
  `marshmallow_validator(rule)` and `chat_id_problem`.
* `FieldErrors` (and `FieldError` for one field) is what every check raises when it refuses:
  `{field: [message]}`. Screens show each message beside its field and keep what was typed;
  the REST API answers 422 `{"message": {field: [message]}}`.
* `unique_problems(item, labels)`: another row already holds the values of a unique column (or
  a declared unique set, `UNIQUE_ALSO`), named by field.

Choices made here:

* Languages: a shipped language (app/config.py LANGUAGES) or any ISO 639-1 code, optionally with
  an ISO 3166 region in capitals after an underscore (`pt_BR`, `de`, `en_GB`). A workspace may
  write its own replies in a language Relaydesk does not ship; `klingon` or `xx` are refused.
* Currencies: the ISO 4217 codes in `CURRENCIES`, exactly as written (three capitals); anything
  else is refused, never cut or guessed.
* Time zones: the names of the tz database (`zoneinfo.available_timezones()`).
* Chat ids by platform: Green API `<digits>@c.us` (a person) or `<digits>@g.us` /
  `<digits>-<digits>@g.us` (a group); Telegram an integer, negative for groups; Meta the
  customer's phone number in digits; the web chat an opaque token without spaces. With no
  channel chosen yet, any of these shapes passes (the channel's own check then decides).
"""
from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import UniqueConstraint, inspect, select
from wtforms.validators import ValidationError

from app.config import LANGUAGES
from app.models import (AdminIdentity, Broadcast, Channel, ChatIdentity, GlobalReplyTemplate,
                        Invoice,
                        LinkedUser, PanelConnection, PaymentMethod, Plan, PlanPrice,
                        ProviderRoute, QuickReply, ReplyTemplate, ServiceRule, Subscription,
                        TicketRule, Workspace, WorkspaceSettings)
from app.models.base import split_list
from app.models.billing import PLAN_LIMITS, PLAN_MEDIUMS, PLAN_MODULES
from app.money import MAX_MINOR
from app.models.routing import ROUTE_ACTIONS

Other = Callable[[str], Any]


# --- errors -------------------------------------------------------------------------------------

class FieldErrors(ValueError):
    """Values refused, by field: `problems` is `{field: [message, ...]}` (column names, or the
    name of the input a person fills in). `str()` joins the messages."""

    def __init__(self, problems: Mapping[str, Iterable[Any]]) -> None:
        self.problems = {f: [str(m) for m in ms] for f, ms in problems.items()}
        super().__init__(" ".join(m for ms in self.problems.values() for m in ms))


class FieldError(FieldErrors):
    """One value refused: `FieldError(field, message)`."""

    def __init__(self, field: str, message: Any) -> None:
        self.field = field
        super().__init__({field: [message]})


# --- rules --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Rule:
    """One check of one value. `check(value, other)` returns the message or None; it is only
    called for a value that is present (None and blank are the business of "required")."""

    name: str
    check: Callable[[Any, Other], Any]
    valid_example: str
    invalid_example: str
    #: other columns the check reads through `other` (re-checked when those change)
    depends: tuple[str, ...] = ()
    #: more passing examples, by the value of the column the check depends on
    examples_by: dict = field(default_factory=dict)
    #: the codes a comma-list column accepts (`code_list`): its form offers them as choices
    codes: tuple[str, ...] = ()
    #: a blank value is checked too (else blank is the business of "required")
    checks_blank: bool = False

    def problem(self, value: Any, other: Other | None = None) -> str | None:
        blank = value is None or (isinstance(value, str) and not value.strip()) or \
            (isinstance(value, (list, tuple)) and not value)
        if blank and not self.checks_blank:
            return None
        message = self.check(value, other or (lambda name: None))
        return None if message is None else str(message)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def in_range(name: str, low: float | None, high: float | None, *, above: bool = False,
             valid: str, invalid: str) -> Rule:
    """A number from `low` (or above it, `above=True`) to `high` inclusive."""

    def check(value, other):
        number = _number(value)
        if number is None:
            return _l("Enter a number.")
        if low is not None and (number <= low if above else number < low):
            if above:
                return _l("Enter a number greater than %(low)s.", low=_fmt(low))
            if high is None:
                return _l("Enter a number of at least %(low)s.", low=_fmt(low))
            return _l("Enter a number from %(low)s to %(high)s.", low=_fmt(low),
                      high=_fmt(high))
        if high is not None and number > high:
            if low is None:
                return _l("Enter a number of at most %(high)s.", high=_fmt(high))
            return _l("Enter a number from %(low)s to %(high)s.", low=_fmt(low),
                      high=_fmt(high))
        return None

    return Rule(name, check, valid, invalid)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


# ISO 639-1 (two-letter language codes)
ISO_639_1 = frozenset("""
aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da
de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz
ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln
lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi
pl ps pt qu rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti
tk tl tn to tr ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu
""".split())
_LANGUAGE_RE = re.compile(r"^([a-z]{2})(?:_([A-Z]{2}))?$")

# ISO 4217 currency codes in use (the fund and precious-metal codes included; not XTS/XXX)
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN BWP
BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB
EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY
KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB
RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF XAG XAU XBA XBB XBC XBD XCD XCG
XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
""".split())

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def language_problem(value: str, other: Other | None = None):
    text = str(value).strip()
    if text in LANGUAGES:
        return None
    match = _LANGUAGE_RE.match(text)
    if match is None or match.group(1) not in ISO_639_1:
        return _l("Not a language code: use a two-letter ISO 639-1 code such as en, es or tr, "
                  "optionally with a region such as pt_BR.")
    return None


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(value: str, other: Other | None = None):
    if str(value).strip() not in _time_zones():
        return _l("Not a time zone: use a name from the tz database such as UTC, "
                  "Europe/Istanbul or America/Sao_Paulo.")
    return None


def currency_problem(value: str, other: Other | None = None):
    if str(value) not in CURRENCIES:
        return _l("Not a currency code: use a three-letter ISO 4217 code in capitals, such as "
                  "USD, EUR or TRY.")
    return None


def currency_list_problem(value: str, other: Other | None = None):
    """A comma list of ISO 4217 codes in capitals, none twice (a payment method's currencies)."""
    codes = [part.strip() for part in str(value).split(",")]
    if any(code not in CURRENCIES for code in codes):
        return _l("Use three-letter ISO 4217 codes in capitals separated by commas, such as "
                  "USD, EUR, INR.")
    if len(set(codes)) != len(codes):
        return _l("Each currency once, please.")
    return None


def slug_problem(value: str, other: Other | None = None):
    if not SLUG_RE.match(str(value)):
        return _l("Use lowercase letters, digits and hyphens only (e.g. acme-smm), starting "
                  "and ending with a letter or digit.")
    return None


def digits_problem(value, other: Other | None = None):
    if not re.fullmatch(r"\d{1,32}", str(value).strip()):
        return _l("Use digits only (the instance id Green API shows, e.g. 1101000001).")
    return None


def actions_problem(value, other: Other | None = None):
    """A route's actions: a comma separated list of known actions, each once, at least one."""
    words = [w.lower() for w in split_list(str(value))]
    unknown = [w for w in words if w not in ROUTE_ACTIONS]
    if unknown:
        return _l("Unknown action: %(words)s. Use one or more of %(known)s, separated by "
                  "commas.", words=", ".join(unknown), known=", ".join(ROUTE_ACTIONS))
    twice = sorted({w for i, w in enumerate(words) if w in words[:i]})
    if twice:
        return _l("Listed twice: %(words)s.", words=", ".join(twice))
    if not words:
        return _l("Name at least one of %(known)s.", known=", ".join(ROUTE_ACTIONS))
    return None


def code_list(name: str, codes: Iterable[str], *, at_least_one: bool = False, valid: str,
              invalid: str) -> Rule:
    """A comma list of codes (or the list a form's multiple choice gives): each one of `codes`,
    each once; with `at_least_one`, not empty."""
    codes = tuple(codes)

    def check(value, other):
        if isinstance(value, (list, tuple, set)):
            words = [str(w).strip() for w in value if str(w).strip()]
        else:
            words = split_list(str(value or ""))
        unknown = [w for w in words if w not in codes]
        if unknown:
            return _l("Not offered: %(codes)s. Choose among %(known)s.",
                      codes=", ".join(unknown), known=", ".join(codes))
        twice = sorted({w for i, w in enumerate(words) if w in words[:i]})
        if twice:
            return _l("Listed twice: %(words)s.", words=", ".join(twice))
        if at_least_one and not words:
            return _l("Choose at least one.")
        return None

    return Rule(name, check, valid, invalid, codes=codes, checks_blank=at_least_one)


def pattern_rule(name: str, pattern: str, message, *, valid: str, invalid: str) -> Rule:
    """A text matching `pattern` (whole), else `message`."""
    compiled = re.compile(pattern)

    def check(value, other):
        return None if compiled.fullmatch(str(value).strip()) else message

    return Rule(name, check, valid, invalid)


CHAT_ID_SHAPES = {
    "greenapi": re.compile(r"^\d{5,20}@c\.us$|^\d{5,20}(?:-\d{5,20})?@g\.us$"),
    "telegram": re.compile(r"^-?\d{1,20}$"),
    # a phone number, or a business-scoped user id (US.13491208655302741918)
    "meta": re.compile(r"^\d{5,20}$|^[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}$"),
    "webchat": re.compile(r"^[A-Za-z0-9_.:@-]{1,120}$"),  # within CHAT_ID_LENGTH
}
CHAT_ID_EXAMPLES = {"greenapi": "79001234567@c.us", "telegram": "-1001234567890",
                    "meta": "79001234567", "webchat": "visitor-3f2a"}
_CHAT_ID_MESSAGES = {
    "greenapi": _l("Not a WhatsApp chat id: a person is <digits>@c.us (79001234567@c.us), a "
                   "group <digits>@g.us (120363000000000001@g.us)."),
    "telegram": _l("Not a Telegram chat id: a whole number, negative for groups "
                   "(-1001234567890)."),
    "meta": _l("Not a WhatsApp user: a number with its country code (79001234567) or a "
               "business-scoped user id (US.13491208655302741918)."),
    "webchat": _l("Not a web chat id: letters, digits and - _ . : @ only, no spaces."),
}


def channel_kind(channel) -> str | None:
    """The kind of a channel given as a row, a kind name, or nothing."""
    if channel is None:
        return None
    if isinstance(channel, str):
        return channel if channel in CHAT_ID_SHAPES else None
    return getattr(channel, "kind", None)


def chat_id_problem(value, kind: str | None):
    """The chat id's shape on the platform `kind` (None: any platform's shape passes)."""
    text = str(value).strip()
    if kind in CHAT_ID_SHAPES:
        return None if CHAT_ID_SHAPES[kind].match(text) else _CHAT_ID_MESSAGES[kind]
    if any(shape.match(text) for shape in CHAT_ID_SHAPES.values()):
        return None
    return _l("Not a chat id: 79001234567@c.us or 120363000000000001@g.us on WhatsApp, "
              "-1001234567890 on Telegram.")


def _chat_id(value, other: Other):
    return chat_id_problem(value, channel_kind(other("channel")))


def url_problem(value, other: Other | None = None):
    """The shape of a URL as the outbound URL policy reads it (app/integrations/urlpolicy.py):
    only "not a web address" here; the scheme, the host and its addresses are the policy's own
    check, run where the URL is saved (so the file reports those with the database's checks)."""
    from app.integrations.urlpolicy import UrlRefused, current_policy

    try:
        current_policy().check_url(str(value).strip())
    except UrlRefused as exc:
        return str(exc) if exc.reason == "malformed" else None
    return None


MAX_COOLDOWN = 365 * 86400

def meta_id_problem(value, other: Other | None = None):
    if not re.fullmatch(r"\d{1,40}", str(value).strip()):
        return _l("Use digits only (the id Meta shows in WhatsApp Manager, e.g. 106540352242922).")
    return None


def bot_token_problem(value, other: Other | None = None):
    # never quotes the value: it is a secret
    if not re.fullmatch(r"\d+:[A-Za-z0-9_-]+", str(value).strip()):
        return _l("Not a Telegram bot token: BotFather gives one like 123456789:AAE…, the bot "
                  "id, a colon and the key.")
    return None


#: a URL's shape (screens and REST get the whole policy from app/views/tenant_urls.py)
URL = Rule("url", url_problem, "https://api.green-api.com", "not a url")
LANGUAGE = Rule("language", language_problem, "es", "klingon")
TIMEZONE = Rule("timezone", timezone_problem, "Europe/Istanbul", "Mars/Olympus")
CURRENCY = Rule("currency", currency_problem, "EUR", "dollars")
CURRENCY_LIST = Rule("currency_list", currency_list_problem, "USD, EUR", "dollars, euros")
SLUG = Rule("slug", slug_problem, "acme-smm", "Acme Shop!")
INSTANCE_ID = Rule("instance_id", digits_problem, "1101000001", "abc")
META_ID = Rule("meta_id", meta_id_problem, "106540352242922", "abc")
BOT_TOKEN = Rule("bot_token", bot_token_problem, "123456789:AAExampleKey_1", "not-a-token")
ROUTE_ACTIONS_RULE = Rule("actions", actions_problem, "refill, speed", "refil, boost")
CHAT_ID = Rule("chat_id", _chat_id, CHAT_ID_EXAMPLES["greenapi"], "hello world",
               depends=("channel",), examples_by=dict(CHAT_ID_EXAMPLES))
COOLDOWN = in_range("cooldown", 0, MAX_COOLDOWN, valid="3600", invalid="-5")
MAX_IDS = in_range("max_ids", 1, 1000, valid="50", invalid="0")
PRICE = in_range("price", 0, MAX_MINOR, valid="1900", invalid="-500")
AMOUNT = in_range("amount", 0, 100_000_000, above=True, valid="1900", invalid="-100")
REQUESTS_PER_SECOND = in_range("requests_per_second", 0.1, 100, valid="5", invalid="0")
TIMEOUT = in_range("timeout", 1, 300, valid="15", invalid="0")
PLAN_LIMIT = in_range("plan_limit", 0, 10_000_000, valid="10", invalid="-1")
REFILL_DAYS = in_range("refill_days", 0, 3650, valid="30", invalid="-1")
START_MINUTES = in_range("start_minutes", 0, 525_600, valid="60", invalid="-1")
PLAN_MEDIUMS_RULE = code_list("plan_mediums", PLAN_MEDIUMS, at_least_one=True,
                              valid="greenapi,telegram", invalid="sms")
PLAN_MODULES_RULE = code_list("plan_modules", PLAN_MODULES, valid="api,tickets",
                              invalid="crm")
BROADCAST_KINDS_RULE = code_list("broadcast_kinds", ("greenapi", "meta", "telegram", "webchat"),
                                 valid="greenapi,telegram", invalid="sms")
BROADCAST_LANGUAGES_RULE = code_list("broadcast_languages", tuple(LANGUAGES), valid="es,ru",
                                     invalid="klingon")
# a code files and links name the plan by (`plan: pro`); four digits so that the form matrix
# can vary it
PLAN_CODE = pattern_rule(
    "plan_code", r"[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?",
    _l("Use lowercase letters, digits, hyphens and underscores only (e.g. pro or team-2026), "
       "starting and ending with a letter or digit."),
    valid="team-2026", invalid="Pro Plan!")
# a name people read on pages and, later, at sign-up: plain text (it is always shown escaped;
# markup typed into it is a mistake or a probe). Four digits so that the form matrix can vary it
PLAIN_NAME = Rule(
    "plain_name",
    lambda value, other: _l("Use plain text: no HTML tags such as <b>.")
    if re.search(r"<[A-Za-z/!?]", str(value)) else None,
    "Growth 2026", "<b>Gold</b>")
STRIPE_PRICE_ID = pattern_rule(
    "stripe_price_id", r"price_[A-Za-z0-9]{1,100}",
    _l("Not a Stripe price id: it starts with price_ (Stripe shows it on the product's price, "
       "e.g. price_1MoBy5LkdIwHu7ix); a product id (prod_…) is not a price."),
    valid="price_1MoBy5LkdIwHu7ix", invalid="prod_NZKdYqrwEYx6iK")
RAZORPAY_PLAN_ID = pattern_rule(
    "razorpay_plan_id", r"plan_[A-Za-z0-9]{1,100}",
    _l("Not a Razorpay plan id: it starts with plan_ (Razorpay → Subscriptions → Plans, "
       "e.g. plan_NkFzqNqLZRsYfX)."),
    valid="plan_NkFzqNqLZRsYfX", invalid="sub_NkFzqNqLZRsYfX")

QUICK_REPLY_SHORTCUT = pattern_rule(
    "quick_reply_shortcut", r"[a-z0-9][a-z0-9_-]{0,31}",
    _l("A shortcut is one word of small letters, digits, - or _ (at most 32), written without "
       "its slash: delay for /delay."),
    valid="delay2026", invalid="/Delay now")

TICKET_POLL = in_range("ticket_poll", 5, 86_400, valid="60", invalid="2")
INBOX_RESUME = in_range("inbox_resume", 0, 10_080, valid="30", invalid="-1")
RULE_POSITION = in_range("rule_position", 0, 100_000, valid="10", invalid="-1")


def ticket_words_problem(value, other: Other | None = None):
    """A subject rule's words: plain words or phrases separated by commas, bounded
    (app/domain/ticket_rules.py); no patterns at all, so nothing is slow to match."""
    from app.domain import ticket_rules as bounds

    problem = bounds.words_problem(str(value))
    if problem == "too_long":
        return _l("Too long: at most %(num)d characters.", num=bounds.MAX_WORDS_TEXT)
    if problem == "too_many":
        return _l("Too many words: at most %(num)d, separated by commas.", num=bounds.MAX_WORDS)
    if problem == "word_too_long":
        return _l("A word or phrase is too long: at most %(num)d characters each.",
                  num=bounds.MAX_WORD_CHARS)
    if problem == "word_too_short":
        return _l("A word is too short: at least %(num)d letters each (it would be found "
                  "inside too many other words).", num=bounds.MIN_WORD_CHARS)
    return None


TICKET_WORDS = Rule("ticket_words", ticket_words_problem, "refill, recarga, рефилл", "ok, a")

#: which rules each column obeys, per model (screens, REST API and workspace file alike)
COLUMN_RULES: dict[type, dict[str, tuple[Rule, ...]]] = {
    Workspace: {"slug": (SLUG,), "language": (LANGUAGE,), "timezone": (TIMEZONE,)},
    Plan: {"code": (PLAN_CODE,), "name": (PLAIN_NAME,), "mediums": (PLAN_MEDIUMS_RULE,),
           "modules": (PLAN_MODULES_RULE,), **{name: (PLAN_LIMIT,) for name in PLAN_LIMITS}},
    PlanPrice: {"amount_cents": (PRICE,), "currency": (CURRENCY,),
                "stripe_price_id": (STRIPE_PRICE_ID,), "razorpay_plan_id": (RAZORPAY_PLAN_ID,)},
    Invoice: {"amount_cents": (AMOUNT,), "currency": (CURRENCY,)},
    PaymentMethod: {"name": (PLAIN_NAME,), "currencies": (CURRENCY_LIST,)},
    Subscription: {"amount_cents": (PRICE,), "currency": (CURRENCY,)},
    Channel: {"id_instance": (INSTANCE_ID,), "phone_number_id": (META_ID,),
              "waba_id": (META_ID,), "bot_token": (BOT_TOKEN,)},
    PanelConnection: {"requests_per_second": (REQUESTS_PER_SECOND,),
                      "timeout_seconds": (TIMEOUT,)},
    WorkspaceSettings: {"cooldown_refill_seconds": (COOLDOWN,),
                        "cooldown_speed_seconds": (COOLDOWN,),
                        "cooldown_cancel_seconds": (COOLDOWN,),
                        "max_ids_per_message": (MAX_IDS,),
                        "ticket_poll_seconds": (TICKET_POLL,),
                        "inbox_resume_minutes": (INBOX_RESUME,)},
    TicketRule: {"subject_words": (TICKET_WORDS,), "message_words": (TICKET_WORDS,),
                 "position": (RULE_POSITION,), "name": (PLAIN_NAME,)},
    ServiceRule: {"refill_days": (REFILL_DAYS,), "start_minutes_max": (START_MINUTES,)},
    ProviderRoute: {"chat_id": (CHAT_ID,), "actions": (ROUTE_ACTIONS_RULE,)},
    ChatIdentity: {"chat_id": (CHAT_ID,)},
    AdminIdentity: {"chat_id": (CHAT_ID,)},
    LinkedUser: {"language": (LANGUAGE,)},
    Broadcast: {"name": (PLAIN_NAME,), "channel_kinds": (BROADCAST_KINDS_RULE,),
                "languages": (BROADCAST_LANGUAGES_RULE,)},
    ReplyTemplate: {"language": (LANGUAGE,)},
    GlobalReplyTemplate: {"language": (LANGUAGE,)},
    QuickReply: {"shortcut": (QUICK_REPLY_SHORTCUT,), "title": (PLAIN_NAME,)},
}

#: unique sets the database does not enforce (yet), checked like the UNIQUE constraints
UNIQUE_ALSO: dict[type, tuple[tuple[str, ...], ...]] = {
    Plan: (("name",),),
}


def rules_for(model) -> dict[str, tuple[Rule, ...]]:
    for cls in getattr(model, "__mro__", (model,)):
        if cls in COLUMN_RULES:
            return COLUMN_RULES[cls]
    return {}


# --- screens (WTForms) --------------------------------------------------------------------------

class FormCheck:
    """WTForms validator running one rule; the error is shown beside the field (escaped: FAB's
    own form macro marks errors safe, and a message may quote what was typed).

    `valid_example` / `invalid_example`: a value that passes and one that fails (the browser
    form matrix fills forms with these)."""

    field_flags: dict = {}

    def __init__(self, rule: Rule, model=None) -> None:
        self.rule = rule
        self.model = model
        self.valid_example = rule.valid_example
        self.invalid_example = rule.invalid_example
        self.examples_by = dict(rule.examples_by)

    def __call__(self, form, field) -> None:
        message = self.rule.problem(field.data, _form_other(form, self.model))
        if message is not None:
            raise ValidationError(escape(message))


def _form_other(form, model) -> Other:
    def other(name: str):
        if name in form:
            return form[name].data
        pk = getattr(form, "_id", None)
        if model is not None and pk is not None:
            from app.extensions import db

            stored = db.session.get(model, pk)
            return getattr(stored, name, None)
        return None
    return other


def form_validators(model) -> dict[str, list[FormCheck]]:
    """{column: [FormCheck, ...]} for the declared rules of `model`."""
    return {column: [FormCheck(rule, model) for rule in rules]
            for column, rules in rules_for(model).items()}


def attach_rules(form_cls, model) -> None:
    """Give the fields of a FAB form class the declared rules of `model` that they lack: the
    fields a view declares itself (`add_form_extra_fields`, secrets) included."""
    from wtforms.fields.core import UnboundField

    if form_cls is None:
        return
    for column, rules in rules_for(model).items():
        unbound = getattr(form_cls, column, None)
        if not isinstance(unbound, UnboundField):
            continue
        validators = list(unbound.kwargs.get("validators") or ())
        have = {v.rule for v in validators if isinstance(v, FormCheck)}
        missing = [FormCheck(rule, model) for rule in rules if rule not in have]
        if missing:
            unbound.kwargs["validators"] = validators + missing


def with_examples(validator, valid: str, invalid: str):
    """Give a validator from elsewhere (a template check, the URL policy) the two examples."""
    validator.valid_example = valid
    validator.invalid_example = invalid
    return validator


# --- every save (screens and REST) --------------------------------------------------------------

def _changed(item, column: str) -> bool:
    state = inspect(item)
    attr = state.attrs.get(column) if hasattr(state.attrs, "get") else None
    if attr is None:
        try:
            attr = state.attrs[column]
        except KeyError:
            return False
    return attr.history.has_changes()


def column_problems(item, *, new: bool) -> dict[str, list[str]]:
    """{column: [message]} for the declared rules of `item`'s columns. On an update only the
    columns that change (or whose rule reads a column that changes) are checked, so a row
    saved before a rule existed can still be edited elsewhere."""
    problems: dict[str, list[str]] = {}
    other = lambda name: getattr(item, name, None)  # noqa: E731
    for column, rules in rules_for(type(item)).items():
        for rule in rules:
            if not new and not any(_changed(item, c) for c in (column, *rule.depends)):
                continue
            message = rule.problem(getattr(item, column, None), other)
            if message is not None:
                problems.setdefault(column, []).append(message)
    return problems


def unique_sets(model) -> list[tuple[str, ...]]:
    """The attribute names of every unique column set of `model` (the table's UNIQUE
    constraints and `UNIQUE_ALSO`), relationship keys as their column attribute names."""
    table = model.__table__
    keys = {c.name: c.key for c in inspect(model).columns}
    sets = []
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint):
            sets.append(tuple(keys.get(c.name, c.name) for c in constraint.columns))
    for column in table.columns:
        if column.unique:
            sets.append((keys.get(column.name, column.name),))
    sets.extend(UNIQUE_ALSO.get(model, ()))
    return list(dict.fromkeys(sets))


#: identifier columns have their own check and message (app/ownership.py)
_OWN_CHECK = {Channel: {"id_instance", "bot_id", "phone_number_id", "waba_id", "widget_key"}}


def _field_of(column: str, shown: set[str]) -> str:
    """The form field of a column: `provider_id` is chosen through `provider`."""
    if column.endswith("_id") and column[:-3] in shown:
        return column[:-3]
    return column


def blamed_column(columns: tuple[str, ...], shown: Iterable[str] | None = None) -> str:
    """The field a duplicate is reported on: the last column of the set a person fills in
    (never the workspace), preferably one the form shows."""
    shown = set(shown or ())
    candidates = [c for c in columns if c != "workspace_id"] or list(columns)
    fields = [_field_of(c, shown) for c in candidates]
    return next((f for f in reversed(fields) if f in shown), fields[-1])


#: what a duplicate of a unique set says when the generic sentence would not be clear
DUPLICATE_MESSAGES: dict[tuple[type, tuple[str, ...]], Any] = {
    (PlanPrice, ("plan_id", "currency", "interval")): _l(
        "This plan already has a price in this currency for this billing interval: change "
        "that price instead."),
    (PanelConnection, ("workspace_id",)): _l(
        "This workspace already has a panel connection: change that one instead."),
}


def duplicate_message(columns: tuple[str, ...], blamed: str,
                      labels: Mapping[str, Any] | None = None,
                      shown: Iterable[str] | None = None, model: type | None = None) -> str:
    own = DUPLICATE_MESSAGES.get((model, tuple(columns)))
    if own is not None:
        return str(own)
    labels, shown = labels or {}, set(shown or ())
    others = [_field_of(c, shown) for c in columns if c != "workspace_id"]
    others = [f for f in others if f != blamed]
    if not others:
        return str(_l("This value is already used by another row: choose another one."))
    names = ", ".join(str(labels.get(f, f)) for f in others)
    return str(_l("Another row with the same %(columns)s already uses this value.",
                  columns=names))


def unique_problems(item, labels: Mapping[str, Any] | None = None,
                    shown: Iterable[str] | None = None) -> dict[str, list[str]]:
    """{field: [message]} for each unique column set whose values another row already holds.
    Never flushes the session (the row being saved may sit in it half-made)."""
    from app.extensions import db

    model = type(item)
    skip = _OWN_CHECK.get(model, set())
    problems: dict[str, list[str]] = {}
    pk = inspect(item).identity
    mapper = inspect(model)
    with db.session.no_autoflush:
        for columns in unique_sets(model):
            if len(columns) == 1 and columns[0] in skip:
                continue
            values = [_column_value(item, c) for c in columns]
            if any(v is None or v == "" for v in values):
                continue
            query = select(mapper.primary_key[0]).where(
                *(getattr(model, c) == v for c, v in zip(columns, values, strict=True)))
            if pk:
                query = query.where(mapper.primary_key[0] != pk[0])
            if db.session.execute(query.limit(1)).first() is not None:
                blamed = blamed_column(columns, shown)
                problems.setdefault(blamed, []).append(
                    duplicate_message(columns, blamed, labels, shown, model))
    return problems


def _column_value(item, column: str):
    value = getattr(item, column, None)
    if value is None and column.endswith("_id"):  # the relationship set, the id not yet
        related = getattr(item, column[:-3], None)
        value = getattr(related, "id", None) if related is not None else None
    return value


def check_item(item, *, new: bool, labels: Mapping[str, Any] | None = None,
               shown: Iterable[str] | None = None) -> None:
    """Every declared rule and unique set for `item`.

    :raise FieldErrors: naming each refused field."""
    problems = column_problems(item, new=new)
    for column, messages in unique_problems(item, labels, shown).items():
        problems.setdefault(column, []).extend(messages)
    if problems:
        raise FieldErrors(problems)


# --- the workspace file (marshmallow) -----------------------------------------------------------

def marshmallow_validator(rule: Rule) -> Callable[[Any], None]:
    """The rule as a marshmallow validator (values without neighbours)."""
    from marshmallow import ValidationError as SchemaError

    def validate(value) -> None:
        message = rule.problem(value)
        if message is not None:
            raise SchemaError(message)

    validate.rule = rule  # type: ignore[attr-defined]
    return validate
