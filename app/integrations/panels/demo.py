"""The demo panel: a fixed, offline set of sample orders and services.

A workspace whose panel connection has type `demo` (the one `flask --app run init --demo` creates)
answers from here, so a newcomer can try commands without an SMM panel. Nothing leaves the
process.

Orders have the shape of Perfect Panel's admin API v2 `GET /orders/{id}` `data` object
(docs/external-apis.md 1.2), numbers partly as strings as real panels send them. Their `created` and
`last_update` times are relative to `now` (default: the current UTC time), so refill windows and
start times mean the same thing whenever the demo is opened: with a fixed `now` the answers are
identical on every call.

The orders cover the cases a support bot meets (ages are before `now`):

    id       user           service                           status       age
    2274209  demo_customer  Followers [30 Days Refill]        Completed    5 days   refill ok
    2274210  demo_customer  Likes [Lifetime]                  Completed    120 days refill ok
    2274211  demo_customer  TikTok Views [No Refill]          Completed    2 days   no refill
    2274212  demo_customer  Followers [30 Days Refill]        Partial      3 days
    2274213  demo_customer  YouTube Views [R30] 0-1H Start    In progress  2 hours  speed-up
    2274214  demo_customer  Telegram Members [Non Refill]     Pending      30 hours slow
    2274215  demo_customer  Followers [30 Days Refill]        Completed    45 days  window over
    2274216  demo_customer  Twitter [Lifetime Refill]         Canceled     10 days
    2274217  demo_customer  Reels Views [No Refill] Instant   Pending      20 min   too early
    2274218  demo_customer  YouTube Subs [60 Days Refill]     In progress  1 day
    2274219  maria_smm      Followers [30 Days Refill]        Completed    7 days   not yours
    2274220  maria_smm      TikTok Likes [Lifetime]           Partial      4 days   not yours
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

DEMO_PANEL_URL = "https://panel.demo.example"
DEMO_PROVIDER_DOMAIN = "demoprovider.example"
DEMO_USERNAME = "demo_customer"
OTHER_USERNAME = "maria_smm"
PANEL_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

# Reseller API `services` shape (docs/external-apis.md 1.1): numbers as strings, `cancel` optional.
SERVICES: tuple[dict, ...] = (
    {"service": 101, "name": "Instagram Followers [30 Days Refill] | Start: 0-1 Hour",
     "type": "Default", "category": "Instagram Followers", "rate": "0.90", "min": "50",
     "max": "10000", "refill": True, "cancel": True},
    {"service": 102, "name": "Instagram Likes [Lifetime] | Instant", "type": "Default",
     "category": "Instagram Likes", "rate": "0.12", "min": "10", "max": "50000",
     "refill": True, "cancel": False},
    {"service": 103, "name": "TikTok Views [No Refill] | Start 0-24 hours", "type": "Default",
     "category": "TikTok Views", "rate": "0.01", "min": "100", "max": "1000000",
     "refill": False},
    {"service": 104, "name": "YouTube Views [R30] | 0-1H Start", "type": "Default",
     "category": "YouTube Views", "rate": "1.80", "min": "500", "max": "100000",
     "refill": True, "cancel": True},
    {"service": 105, "name": "Telegram Members [Non Refill] | Start 0-24 hours",
     "type": "Default", "category": "Telegram", "rate": "0.75", "min": "100", "max": "20000",
     "refill": False, "cancel": True},
    {"service": 106, "name": "Twitter Followers [Lifetime Refill]", "type": "Default",
     "category": "Twitter / X", "rate": "2.40", "min": "100", "max": "5000",
     "refill": True, "cancel": True},
    {"service": 107, "name": "Instagram Reels Views [No Refill] | Instant", "type": "Default",
     "category": "Instagram Views", "rate": "0.02", "min": "100", "max": "2000000",
     "refill": False, "cancel": False},
    {"service": 108, "name": "YouTube Subscribers [60 Days Refill] | Start: 0-24 Hours",
     "type": "Default", "category": "YouTube Subscribers", "rate": "9.50", "min": "50",
     "max": "5000", "refill": True, "cancel": True},
    {"service": 109, "name": "TikTok Likes [Lifetime] | Start: 0-1 Hour", "type": "Default",
     "category": "TikTok Likes", "rate": "0.35", "min": "50", "max": "100000",
     "refill": True, "cancel": True},
)
_SERVICE_NAMES = {s["service"]: s["name"] for s in SERVICES}


@dataclass(frozen=True)
class _SampleOrder:
    id: int
    user: str
    service_id: int
    link: str
    quantity: int
    start_count: int
    remains: int
    status: str
    age: timedelta  # how long before `now` the order was placed
    busy_for: timedelta  # how long after `created` the panel last touched it
    external_id: str


def _sample(order_id, user, service_id, link, quantity, start_count, remains, status, age,
            busy_for, external_id) -> _SampleOrder:
    return _SampleOrder(order_id, user, service_id, link, quantity, start_count, remains, status,
                        age, busy_for, external_id)


_D, _H, _M = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)
SAMPLE_ORDERS: tuple[_SampleOrder, ...] = (
    _sample(2274209, DEMO_USERNAME, 101, "https://instagram.com/demo.brand", 1000, 3572, 0,
            "Completed", 5 * _D, 40 * _M, "EXT-88231"),
    _sample(2274210, DEMO_USERNAME, 102, "https://instagram.com/p/C7demo01", 500, 120, 0,
            "Completed", 120 * _D, 5 * _M, "EXT-88232"),
    _sample(2274211, DEMO_USERNAME, 103, "https://tiktok.com/@demo.brand/video/7301", 20000,
            1840, 0, "Completed", 2 * _D, 9 * _H, "EXT-88233"),
    _sample(2274212, DEMO_USERNAME, 101, "https://instagram.com/demo.brand", 2000, 4575, 157,
            "Partial", 3 * _D, 20 * _H, "EXT-88234"),
    _sample(2274213, DEMO_USERNAME, 104, "https://youtube.com/watch?v=dQw4demo", 5000, 10230,
            3100, "In progress", 2 * _H, 45 * _M, "EXT-88235"),
    _sample(2274214, DEMO_USERNAME, 105, "https://t.me/demo_channel", 1000, 0, 1000,
            "Pending", 30 * _H, 0 * _M, "EXT-88236"),
    _sample(2274215, DEMO_USERNAME, 101, "https://instagram.com/demo.shop", 1000, 880, 0,
            "Completed", 45 * _D, 2 * _H, "EXT-88237"),
    _sample(2274216, DEMO_USERNAME, 106, "https://x.com/demo_brand", 300, 0, 300,
            "Canceled", 10 * _D, 6 * _H, "EXT-88238"),
    _sample(2274217, DEMO_USERNAME, 107, "https://instagram.com/reel/C8demo02", 10000, 0, 10000,
            "Pending", 20 * _M, 0 * _M, "EXT-88239"),
    _sample(2274218, DEMO_USERNAME, 108, "https://youtube.com/@demobrand", 200, 1502, 64,
            "In progress", 1 * _D, 18 * _H, "EXT-88240"),
    _sample(2274219, OTHER_USERNAME, 101, "https://instagram.com/maria.smm", 1500, 912, 0,
            "Completed", 7 * _D, 3 * _H, "EXT-88241"),
    _sample(2274220, OTHER_USERNAME, 109, "https://tiktok.com/@maria.smm/video/7302", 3000, 45,
            420, "Partial", 4 * _D, 1 * _D, "EXT-88242"),
)
SAMPLE_ORDER_IDS: tuple[str, ...] = tuple(str(o.id) for o in SAMPLE_ORDERS)


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _charge(order: _SampleOrder) -> str:
    rate = next(float(s["rate"]) for s in SERVICES if s["service"] == order.service_id)
    # Panels refund what was not delivered: the remains of a partial order, all of a canceled one.
    billed = {"Partial": order.quantity - order.remains, "Canceled": 0}.get(order.status,
                                                                            order.quantity)
    return f"{rate * billed / 1000:.5f}"


class DemoPanel:
    """The demo panel's answers, computed from the sample data and a clock.

    :param now: the panel's clock (naive UTC); defaults to the current time. Order times are
        written as the panel writes them, ``YYYY-MM-DD HH:MM:SS``.
    """

    url = DEMO_PANEL_URL
    provider_domain = DEMO_PROVIDER_DOMAIN

    def __init__(self, now: datetime | None = None) -> None:
        now = now or _utcnow()
        if now.tzinfo is not None:
            now = now.astimezone(UTC).replace(tzinfo=None)
        self.now = now.replace(microsecond=0)
        self._orders = {str(o.id): self._render(o) for o in SAMPLE_ORDERS}

    @property
    def current_date(self) -> str:
        """The panel's clock, as Rental Panel reports it (refill windows are measured on it)."""
        return self.now.strftime(PANEL_TIME_FORMAT)

    def _render(self, order: _SampleOrder) -> dict:
        created = self.now - order.age
        last_update = min(created + order.busy_for, self.now)
        return {
            "id": order.id,
            "user": order.user,
            "service_id": order.service_id,
            "service_name": _SERVICE_NAMES[order.service_id],
            "link": order.link,
            "quantity": order.quantity,
            "start_count": str(order.start_count),
            "remains": str(order.remains),
            "charge": _charge(order),
            "status": order.status,
            "provider": DEMO_PROVIDER_DOMAIN,
            "external_id": order.external_id,
            "created": created.strftime(PANEL_TIME_FORMAT),
            "last_update": last_update.strftime(PANEL_TIME_FORMAT),
        }

    def get_orders(self, ids: Iterable[str]) -> dict[str, dict]:
        """The orders with these ids, keyed by id as given (trimmed); unknown ids are absent.

        One call answers any number of ids, like Rental Panel's `getOrders-by-id`. Every call
        returns fresh copies: callers may change them freely.
        """
        found: dict[str, dict] = {}
        for raw in ids:
            key = str(raw).strip()
            if key in self._orders:
                found[key] = copy.deepcopy(self._orders[key])
        return found

    def services(self) -> list[dict]:
        """The panel's services in the reseller API `services` shape."""
        return copy.deepcopy(list(SERVICES))
