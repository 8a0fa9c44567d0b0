"""Panel adapters: one module per panel engine (docs/panels.md, docs/external-apis.md section 1).

    base.py          the interface (PanelAdapter, PanelOrder, PanelError, capability names)
    perfectpanel.py  Perfect Panel admin API v2        rentalpanel.py  Rental Panel admin API v1
    smmapi.py        the reseller "user" API v2        demo_adapter.py the offline demo panel
    registry.py      adapter_for(connection), detect(url, api_key)

This module holds what every engine shares, and nothing engine-specific:

* `PanelSettings`: what an adapter needs from a `PanelConnection` (or from a detect form).
* `PanelTransport`: every HTTP call of an adapter. It waits for the workspace's panel rate limit
  (Redis, shared by every worker), goes through `app.integrations.calls.call` (timeout, timing,
  an `ExternalCall` row with the key redacted, the outbound URL policy), retries transient
  failures and turns the ones that remain into `PanelError("unreachable")`; a URL the policy
  refuses is `PanelError("refused")` at once.
* Total parsing helpers: keys read case-insensitively, numbers that come as strings, both date
  formats, and the Perfect-Panel-v2 order / reseller-API service shapes (the demo panel uses
  them too). They never raise for any JSON value: a field that cannot be read becomes None.

Panel times are read as UTC (the project's storage convention). Panels do not say which zone
their timestamps are in; Rental Panel answers carry the panel's own clock (`panel_now`, in the
same zone as `created_at`), and eligibility measures windows on it, so its windows are right
whatever the zone. For the other engines a panel running on a non-UTC clock shifts windows by
its offset (hours, against windows counted in days).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.domain.eligibility import normalise_status
from app.integrations.calls import CallResult, call
from app.integrations.panels.base import PanelError, PanelOrder, PanelService

log = logging.getLogger(__name__)

DEFAULT_REQUESTS_PER_SECOND = 5.0
DEFAULT_TIMEOUT = 15.0
RATE_LIMIT_MAX_WAIT = 10.0  # seconds a chat command's call may wait for the panel's rate limit
QUEUED_AFTER = 10.0  # a command that will wait longer for the panel: its customer is told
QUEUED_MAX_WAIT = 120.0  # ... once its customer was told it is queued (app/jobs/drivers.py)
BACKGROUND_MAX_WAIT = 60.0  # seconds a background call (runners, refresh) may wait for a slot
# Slots are spaced (1 + RATE_GUARD) / rps seconds apart: any `rps` consecutive calls span
# 1 + RATE_GUARD seconds, so a call that leaves up to RATE_GUARD seconds after its slot (a busy
# worker, a new connection) still cannot make rps + 1 calls land in one second at the panel.
RATE_GUARD = 0.1
RETRY_BACKOFF = (0.2, 0.6)  # pause before the 2nd and the 3rd attempt
RETRY_AFTER_CAP = 2.0  # a Retry-After longer than this is not waited for in-process
# API paths a manager may paste as part of the panel URL; the adapters append their own.
KNOWN_API_SUFFIXES = ("/admin/adminapi/v2", "/adminapi/v2", "/adminapi/v1", "/api/v2")

_CLOUDFLARE_MARKERS = ("_cf_chl_opt", "challenge-platform", "cf-browser-verification",
                       "<title>just a moment", "attention required! | cloudflare")


# ---- settings ----------------------------------------------------------------------------------
@dataclass
class PanelSettings:
    """Where a panel is and how politely to call it."""

    url: str
    api_key: str = ""
    workspace_id: int | None = None
    user_api_key: str = ""  # the reseller API key, for services on admin-API engines
    api_path: str | None = None
    requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_connection(cls, connection) -> PanelSettings:
        return cls(url=connection.url or "", api_key=connection.api_key or "",
                   user_api_key=getattr(connection, "user_api_key", None) or "",
                   workspace_id=connection.workspace_id, api_path=connection.api_path or None,
                   requests_per_second=connection.requests_per_second or
                   DEFAULT_REQUESTS_PER_SECOND,
                   timeout=connection.timeout_seconds or DEFAULT_TIMEOUT)

    @property
    def base_url(self) -> str:
        return split_api_url(self.url)[0]

    @property
    def pasted_api_path(self) -> str | None:
        return split_api_url(self.url)[1]


def split_api_url(url: str) -> tuple[str, str | None]:
    """`https://p.example/admin/adminapi/v2/` → (`https://p.example`, `/admin/adminapi/v2`)."""
    base = (url or "").strip().rstrip("/")
    for suffix in KNOWN_API_SUFFIXES:
        if base.lower().endswith(suffix):
            return base[: -len(suffix)], suffix
    return base, None


# ---- transport ---------------------------------------------------------------------------------
def panel_rate(requests_per_second: float | None):
    """The GCRA rate of a panel: one call every (1 + RATE_GUARD)/rps seconds, no burst
    (docs/external-apis.md 1.2: "clients keep to about 5 requests/second per panel"; the guard
    keeps the configured rate even when a call leaves a little after its slot)."""
    from app.integrations.ratelimit import Rate

    rps = requests_per_second if requests_per_second and requests_per_second > 0 else \
        DEFAULT_REQUESTS_PER_SECOND
    return Rate(1, (1.0 + RATE_GUARD) / rps, burst=1)


def rate_key(settings: PanelSettings) -> str:
    if settings.workspace_id is not None:
        return f"panel:{settings.workspace_id}"
    return f"panel:url:{settings.base_url.lower()}"  # detect() before a workspace is known


def is_cloudflare(result: CallResult) -> bool:
    """A Cloudflare challenge or block page instead of the API's answer."""
    headers = {k.lower(): str(v).lower() for k, v in (result.headers or {}).items()}
    if headers.get("cf-mitigated") == "challenge":
        return True
    if result.data is not None:
        return False
    text = (result.text or "")[:20000].lower()
    if "cloudflare" in headers.get("server", "") and "<html" in text:
        return True
    return any(marker in text for marker in _CLOUDFLARE_MARKERS)


def transient_reason(result: CallResult) -> str | None:
    """Why a call is worth repeating (network, timeout, 429, 5xx, Cloudflare, JSON cut off
    in transit), or None. Other unusable answers (an HTML page, plain text) are not retried:
    they mean a wrong URL or engine, and repeating would only slow detection down."""
    if result.error == "timeout":
        return "timeout"
    if result.status is None:
        return f"connection failed ({result.text or result.error})"
    if is_cloudflare(result):
        return f"Cloudflare challenge (HTTP {result.status})"
    if result.status == 429:
        return "HTTP 429 (rate limited by the panel)"
    if result.status >= 500:
        return f"HTTP {result.status}"
    if 200 <= result.status < 300 and result.data is None and \
            (result.text or "").lstrip()[:1] in ("{", "["):
        return "malformed JSON (cut off or corrupted answer)"
    return None


def transient_cause(result: CallResult) -> str | None:
    """`transient_reason` as a code the screens put into words (PanelError.cause)."""
    if result.error == "timeout":
        return "timeout"
    if result.status is None:
        return "connection"
    if is_cloudflare(result):
        return "cloudflare"
    if result.status == 429:
        return "rate_limited"
    if result.status >= 500:
        return "server_error"
    if 200 <= result.status < 300 and result.data is None:
        return "garbled"
    return None


# ---- priorities and fairness (docs/ARCHITECTURE.md "The panel budget") --------------------------
PANEL_PRIORITIES = ("chat", "background")
_priority: contextvars.ContextVar[str] = contextvars.ContextVar("relaydesk_panel_priority",
                                                              default="chat")
# the chat a chat-priority call is made for ("<channel id>:<chat id>"): the fair order
_chat: contextvars.ContextVar[str | None] = contextvars.ContextVar("relaydesk_panel_chat",
                                                                   default=None)
# how long this context's chat calls may wait for a slot (None: RATE_LIMIT_MAX_WAIT)
_max_wait: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "relaydesk_panel_max_wait", default=None)
ANY_CHAT = "-"  # a chat-priority call made for no chat in particular (a manager's test)


@contextlib.contextmanager
def panel_priority(level: str):
    """Calls to panels made inside are of priority `level`: "chat" (the default: a customer is
    waiting) or "background" (ticket polling, service refreshes, linking and verification
    jobs): a background call takes a panel slot only while no chat command waits for that
    panel (app/integrations/ratelimit.py FAIR_SCRIPT)."""
    if level not in PANEL_PRIORITIES:
        raise ValueError(f"unknown panel priority {level!r}")
    token = _priority.set(level)
    try:
        yield
    finally:
        _priority.reset(token)


@contextlib.contextmanager
def panel_chat(chat: str | None, max_wait: float | None = None):
    """Chat calls made inside are for `chat` (fair order across chats); `max_wait`: how long
    they may wait for a slot (a command whose customer was told it is queued waits longer)."""
    token, wait_token = _chat.set(chat), _max_wait.set(max_wait)
    try:
        yield
    finally:
        _chat.reset(token)
        _max_wait.reset(wait_token)


def current_priority() -> str:
    return _priority.get()


def current_chat() -> str | None:
    """The chat(s) this context's chat calls are made for (`panel_chat`)."""
    return _chat.get()


def current_max_wait() -> float:
    """How long this context's chat calls may wait for a slot."""
    return _max_wait.get() or RATE_LIMIT_MAX_WAIT


# the next call of this context already has its slot (app/jobs/shared_fetch.py took it)
_slot_paid: contextvars.ContextVar[bool] = contextvars.ContextVar("relaydesk_panel_slot_paid",
                                                                  default=False)


@contextlib.contextmanager
def slot_paid():
    """The first panel call made inside uses a slot its caller already took from the budget
    (its later calls, if any, wait for theirs)."""
    token = _slot_paid.set(True)
    try:
        yield
    finally:
        _slot_paid.reset(token)


def estimated_wait(settings: PanelSettings, calls_before: int = 0) -> float:
    """Seconds a chat call to this panel would wait for its slot now (about): the chats
    already waiting for it and `calls_before` calls of our own go first, one slot each."""
    from flask import current_app

    from app.integrations.ratelimit import RateLimiter

    waiting = RateLimiter(current_app.extensions["relaydesk_redis"]).waiting(
        rate_key(settings))
    return (waiting + calls_before) * panel_rate(settings.requests_per_second).interval


class PanelTransport:
    """Rate-limited, logged, retried HTTP calls to one panel.

    Idempotent calls (every read) are tried up to `1 + len(RETRY_BACKOFF)` times while the
    failure is transient. A non-idempotent call (posting a ticket reply) is repeated only when
    the panel certainly did not act on it (429, Cloudflare challenge): after a timeout or a 5xx it
    may have, and a second reply to a customer is worse than an error. `calls` counts every HTTP
    request made, retries included.
    """

    def __init__(self, settings: PanelSettings, engine: str) -> None:
        self.settings = settings
        self.engine = engine
        self.calls = 0

    def request(self, operation: str, method: str, url: str, *, params: dict | None = None,
                data: dict | None = None, json: Any = None, headers: dict | None = None,
                idempotent: bool = True,
                extra_transient: Callable[[CallResult], str | None] | None = None) -> CallResult:
        """One logical call. Returns the last answer that is not transient.

        :raise PanelError("unreachable"): the failure stayed transient after the retries, or
            the local rate limit would need more than RATE_LIMIT_MAX_WAIT seconds.
        :raise PanelError("refused"): the outbound URL policy refused the panel URL or the
            address it resolves to (nothing was sent; not retried).
        """
        attempts = 1 + len(RETRY_BACKOFF)
        for attempt in range(attempts):
            self._wait_for_slot()
            result = call(f"panel:{self.engine}", operation, method, url,
                          workspace_id=self.settings.workspace_id, params=params, data=data,
                          json=json, headers=headers, timeout=self.settings.timeout,
                          secrets=(self.settings.api_key,))
            self.calls += 1
            if result.refused:  # the outbound URL policy: nothing was sent, nothing to repeat
                raise PanelError("refused", result.text, transient=False)
            reason = transient_reason(result) or (extra_transient and extra_transient(result))
            if not reason:
                return result
            safe_to_repeat = idempotent or result.status == 429 or is_cloudflare(result)
            if not safe_to_repeat:
                raise PanelError("unreachable", f"{operation}: {reason}; not repeated (the "
                                                f"panel may have acted on it)",
                                 cause=transient_cause(result), status=result.status)
            if attempt + 1 < attempts:
                pause = RETRY_BACKOFF[attempt]
                retry_after = result.retry_after()
                if retry_after is not None:
                    pause = max(pause, min(retry_after, RETRY_AFTER_CAP))
                log.info("panel %s %s: %s, retrying in %.1fs", self.engine, operation, reason,
                         pause)
                time.sleep(pause)
        raise PanelError("unreachable", f"{operation}: {reason} (after {attempts} attempts)",
                         cause=transient_cause(result), status=result.status)

    def _wait_for_slot(self) -> None:
        from flask import current_app
        from redis.exceptions import RedisError

        from app.integrations.ratelimit import RateLimited, RateLimiter

        if _slot_paid.get():
            _slot_paid.set(False)
            return
        key = rate_key(self.settings)
        background = _priority.get() == "background"
        who = "" if background else (_chat.get() or ANY_CHAT)
        max_wait = BACKGROUND_MAX_WAIT if background else (_max_wait.get() or
                                                           RATE_LIMIT_MAX_WAIT)
        try:
            RateLimiter(current_app.extensions["relaydesk_redis"]).acquire_fair(
                key, panel_rate(self.settings.requests_per_second), who, max_wait=max_wait)
        except RateLimited as limited:
            raise PanelError("unreachable", f"panel rate limit: next slot in "
                                            f"{limited.wait:.1f}s", cause="paced") from None
        except RedisError:
            # Without Redis the queue is down too; a lone call still goes out unpaced.
            log.warning("panel rate limiter unavailable; calling %s unpaced", self.engine,
                        exc_info=True)


def describe(result: CallResult) -> str:
    """A short technical description of an unusable answer, for PanelError.detail."""
    snippet = " ".join((result.text or "").split())[:120]
    return f"HTTP {result.status}: {snippet!r}" if snippet else f"HTTP {result.status} (empty)"


# ---- total parsing helpers ---------------------------------------------------------------------
def ci(value: Any) -> dict:
    """A dict's keys lower-cased (panels capitalise keys: "Status", "Order_status"); {} for
    anything that is not a dict."""
    if not isinstance(value, dict):
        return {}
    return {str(k).strip().lower(): v for k, v in value.items()}


def pick(mapping: dict, *names: str) -> Any:
    """The first of `names` present with a value other than None / "" (keys already ci())."""
    for name in names:
        value = mapping.get(name)
        if value is not None and value != "":
            return value
    return None


def as_text(value: Any) -> str | None:
    """Strings trimmed, numbers as text ("2274209", "0.27819"); None for anything else/empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value.strip() or None
    return None


def as_int(value: Any) -> int | None:
    """3572, "3572", "3572.0", " 15 " → int; anything else → None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    text = as_text(value)
    if text is None:
        return None
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", text):
        return None
    number = float(text)
    if not number.is_integer() or abs(number) > 2**62:
        return None
    return int(number)


def as_bool(value: Any) -> bool | None:
    """true/false, 1/0, "1"/"0", "true"/"yes"/"no"… → bool; anything else → None."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0 if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("1", "true", "yes", "on", "enabled"):
            return True
        if word in ("0", "false", "no", "off", "disabled", ""):
            return False if word else None
    return None


def as_money(value: Any) -> str | None:
    """"0.27819", 0.27819 or {"value": "0.27819"} → "0.27819"."""
    if isinstance(value, dict):
        return as_money(pick(ci(value), "value", "amount"))
    return as_text(value)


def as_name(value: Any) -> str | None:
    """A provider or user given as a string or an object such as {"name": ...}."""
    if isinstance(value, dict):
        inner = ci(value)
        return as_text(pick(inner, "name", "domain", "username", "login", "url"))
    return as_text(value)


def parse_panel_time(value: Any) -> datetime | None:
    """A panel timestamp as naive UTC: "2025-05-15 04:36:03" (read as UTC), ISO 8601 with or
    without an offset (converted), unix seconds (int, float or digits; milliseconds too).
    "0000-00-00 00:00:00", garbage and out-of-range values give None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_unix(float(value))
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or text.startswith("0000"):
        return None
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_unix(float(text))
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
        for pattern in ("%Y/%m/%d %H:%M:%S", "%d.%m.%Y %H:%M:%S", "%Y-%m-%d %H:%M"):
            try:
                moment = datetime.strptime(text, pattern)  # noqa: DTZ007 - read as UTC
                break
            except ValueError:
                continue
        if moment is None:
            return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.replace(microsecond=0)


def _from_unix(seconds: float) -> datetime | None:
    if seconds != seconds or seconds <= 0:
        return None
    if seconds > 1e11:  # milliseconds
        seconds /= 1000
    try:
        return datetime.fromtimestamp(int(seconds), UTC).replace(tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None


def clean_ids(ids: Iterable[Any]) -> tuple[list[str], list[str]]:
    """Order ids as given (trimmed, de-duplicated, order kept) split into ones a panel can look
    up (digits) and ones that cannot exist (anything else: reported missing without a call)."""
    valid: list[str] = []
    invalid: list[str] = []
    for raw in ids or ():
        text = as_text(raw) if not isinstance(raw, str) else raw.strip()
        if not text:
            continue
        target = valid if text.isascii() and text.isdigit() and len(text) <= 20 else invalid
        if text not in valid and text not in invalid:
            target.append(text)
    return valid, invalid


def as_items(value: Any) -> list:
    """A list answer, or the values of an object keyed by id ({"1": {...}, "2": {...}})."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return []


def parse_actions(value: Any) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for key, flag in ci(value).items():
        parsed = as_bool(flag)
        if parsed is not None:
            out[key] = parsed
    return out


def parse_v2_order(item: Any, fallback_id: str | None = None) -> PanelOrder | None:
    """A Perfect Panel admin API v2 order object (every variant of docs/external-apis.md 1.2), or
    None when it is not an order at all (not an object, or no id)."""
    data = ci(item)
    if not data:
        return None
    order_id = as_text(data.get("id")) or fallback_id
    if order_id is None:
        return None
    status_value = data.get("status")
    status_name = as_text(pick(data, "status_name", "statusname"))
    if isinstance(status_value, dict):  # {"id": 2, "name": "Completed"} seen in some builds
        inner = ci(status_value)
        status_name = status_name or as_text(pick(inner, "name", "title"))
        status_value = pick(inner, "id", "code")
    raw_status = status_name or as_text(status_value)
    service = ci(data.get("service"))  # an object in some builds; v2 itself sends service_id
    actions = parse_actions(data.get("actions"))
    actions.update(parse_actions(data.get("access")))
    return PanelOrder(
        id=order_id,
        status=normalise_status(as_text(status_value), status_name).value,
        raw_status=raw_status,
        username=as_name(pick(data, "user", "username", "login")),
        service_id=as_text(data.get("service_id")) or as_text(service.get("id")),
        service_name=as_text(data.get("service_name")) or as_text(service.get("name")),
        provider=as_name(data.get("provider")),
        external_id=as_text(pick(data, "external_id", "externalid", "provider_order_id")),
        created_at=parse_panel_time(pick(data, "created", "created_at", "date")),
        start_count=as_int(data.get("start_count")),
        remains=as_int(data.get("remains")),
        quantity=as_int(pick(data, "quantity", "count")),
        charge=as_money(data.get("charge")),
        link=as_text(data.get("link")),
        actions=actions,
    )


def parse_service(item: Any) -> PanelService | None:
    """A reseller API v2 `services` entry (docs/external-apis.md 1.1); None when it has no id."""
    data = ci(item)
    service_id = as_text(pick(data, "service", "id", "service_id"))
    if service_id is None:
        return None
    return PanelService(id=service_id, name=as_text(data.get("name")) or "",
                        category=as_text(data.get("category")),
                        refill=as_bool(data.get("refill")), cancel=as_bool(data.get("cancel")),
                        rate=as_money(data.get("rate")))
