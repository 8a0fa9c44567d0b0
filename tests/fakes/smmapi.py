"""Fake standard reseller API "v2" of an SMM panel (docs/external-apis.md §1.1).

Server: `FakeSmmApi(api_key="user-api-key", capitalize_keys=False, latency=0.0)`; requests are
`POST {fake.url}/api/v2` (`fake.api_url`), form-encoded, always `key` and `action`:
- `services` → list with `service`, `name`, `type`, `category`, `rate`/`min`/`max` as strings,
  `refill`, `cancel` (left out where a service has `cancel=None`), optional `dripfeed`, `desc`.
- `status` `order=ID` → `{"charge","start_count","status","remains","currency"}` (strings);
  `orders=1,2,3` (≤ 100) → object keyed by id, bad ids `{"error":"Incorrect order ID"}`.
- `refill` `order=ID` → `{"refill":"1"}`; `orders=…` → `[{"order":1,"refill":1},
  {"order":3,"refill":{"error":"Incorrect order ID"}}]`.
- `refill_status` `refill=ID` → `{"status":"Pending"|"Completed"|"Rejected"}`
  (`fake.set_refill_status`); `cancel` `orders=…` → `[{"order":2,"cancel":1},
  {"order":9,"cancel":{"error":"..."}}]`; `balance` → `{"balance":"100.84","currency":"USD"}`.
- Errors: `{"error":"..."}` (HTTP 200). `capitalize_keys=True` capitalises every object key
  (`"Status"`, `"Charge"`…), as some panels do. Status values are stored as given, so seed
  `"Cancelled"` or `"completed"` to exercise normalisation.
Store: `add_service(…)`, `add_order(…)`, `seed_orders(n, …)`; `fake.refills`, `fake.cancels`.

Invented (not in docs/external-apis.md): error texts other than "Incorrect order ID" ("Invalid API
key", "Incorrect request", "Incorrect refill ID", "Too many orders", "Refill is disabled for this
service", "Cancel is disabled for this service", "Order is already completed"); HTTP 200 for
errors; `{"error":"Incorrect request"}` for a JSON body or a GET (PHP reads `$_POST` only);
refill ids counting up from 1; a cancel "id" of 1; numbers inside list answers (`order`, refill id)
as JSON numbers, exactly as the documented examples show.
"""
from __future__ import annotations

import itertools
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, SeedsOrders, fake_fixture

API_PATH = "/api/v2"
MAX_IDS = 100

DEFAULT_SERVICES = [
    {"service": 1, "name": "Instagram Followers [30 Days Refill]", "type": "Default",
     "category": "Instagram Followers", "rate": "0.90", "min": "50", "max": "10000",
     "refill": True, "cancel": True},
    {"service": 2, "name": "Instagram Likes [No Refill] Instant", "type": "Default",
     "category": "Instagram Likes", "rate": "0.12", "min": "10", "max": "50000",
     "refill": False, "cancel": None, "dripfeed": True},
]


def capitalize(value: Any) -> Any:
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: capitalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [capitalize(v) for v in value]
    return value


class FakeSmmApi(SeedsOrders, FakeServer):
    name = "smmapi"

    def __init__(self, api_key: str = "user-api-key", *, capitalize_keys: bool = False,
                 balance: str = "100.84", currency: str = "USD",
                 services: list[dict] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key, self.capitalize_keys = api_key, capitalize_keys
        self.balance, self.currency = balance, currency
        self.services: list[dict] = [dict(s) for s in (services or DEFAULT_SERVICES)]
        self.orders: dict[int, dict[str, Any]] = {}
        self.refills: dict[int, dict[str, Any]] = {}
        self.cancels: list[int] = []
        self._refill_ids = itertools.count(1)
        self.route("*", API_PATH, self._call)

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    # ---- stores ------------------------------------------------------------------------------
    def add_service(self, service: int, name: str, **fields: Any) -> dict:
        item = {"service": service, "name": name, "type": "Default", "category": "Other",
                "rate": "1.00", "min": "10", "max": "10000", "refill": False, "cancel": False,
                **fields}
        with self.lock:
            self.services.append(item)
        return item

    def add_order(self, id: int, *, status: str = "Completed", charge: str = "0.27819",
                  start_count: str = "3572", remains: str = "0", service: int = 1) -> dict:
        order = {"id": int(id), "status": status, "charge": str(charge),
                 "start_count": str(start_count), "remains": str(remains), "service": service}
        with self.lock:
            self.orders[order["id"]] = order
        return order

    def set_refill_status(self, refill_id: int, status: str) -> None:
        with self.lock:
            self.refills[int(refill_id)]["status"] = status

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        reply = super().error_reply(status, retry_after)
        if status == 429:
            reply.body = {"error": "Too many requests"}
        return reply

    # ---- handler -----------------------------------------------------------------------------
    def _call(self, req: RecordedRequest) -> Reply:
        params = req.form if req.method == "POST" else {}
        if params.get("key") != self.api_key:
            body: Any = {"error": "Invalid API key" if params else "Incorrect request"}
        else:
            action = {"services": self._services, "status": self._status,
                      "refill": self._refill, "refill_status": self._refill_status,
                      "cancel": self._cancel, "balance": self._balance}.get(params.get("action"))
            body = action(params) if action else {"error": "Incorrect request"}
        return Reply(200, capitalize(body) if self.capitalize_keys else body)

    def _services(self, _params: dict) -> list[dict]:
        return [{k: v for k, v in s.items() if v is not None} for s in self.services]

    def _order_status(self, order_id: int) -> dict:
        order = self.orders.get(order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        return {"charge": order["charge"], "start_count": order["start_count"],
                "status": order["status"], "remains": order["remains"],
                "currency": self.currency}

    def _status(self, params: dict) -> Any:
        if "orders" in params:
            parts = _parts(params["orders"])
            if not parts:
                return {"error": "Incorrect order ID"}
            if len(parts) > MAX_IDS:
                return {"error": "Too many orders"}
            return {p: self._order_status(int(p)) if p.isdigit() else
                    {"error": "Incorrect order ID"} for p in parts}
        order_id = _one_id(params.get("order"))
        return self._order_status(order_id) if order_id else {"error": "Incorrect order ID"}

    def _service_of(self, order: dict) -> dict:
        return next((s for s in self.services if s["service"] == order["service"]), {})

    def _refill_one(self, order_id: int | None) -> int | dict:
        order = self.orders.get(order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        if not self._service_of(order).get("refill"):
            return {"error": "Refill is disabled for this service"}
        refill_id = next(self._refill_ids)
        self.refills[refill_id] = {"order": order_id, "status": "Pending"}
        return refill_id

    def _refill(self, params: dict) -> Any:
        if "orders" in params:
            parts = _parts(params["orders"])
            if not parts or len(parts) > MAX_IDS:
                return {"error": "Incorrect order ID"}
            return [{"order": _as_id(p), "refill": self._refill_one(_one_id(p))} for p in parts]
        order_id = _one_id(params.get("order"))
        result = self._refill_one(order_id) if order_id else {"error": "Incorrect order ID"}
        return result if isinstance(result, dict) else {"refill": str(result)}

    def _refill_status(self, params: dict) -> dict:
        refill = self.refills.get(_one_id(params.get("refill")) or 0)
        return {"status": refill["status"]} if refill else {"error": "Incorrect refill ID"}

    def _cancel_one(self, order_id: int | None) -> int | dict:
        order = self.orders.get(order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        if self._service_of(order).get("cancel") is not True:
            return {"error": "Cancel is disabled for this service"}
        if order["status"].lower() in ("completed", "partial", "canceled", "cancelled"):
            return {"error": "Order is already completed"}
        self.cancels.append(order_id)
        return 1

    def _cancel(self, params: dict) -> Any:
        parts = _parts(params.get("orders", ""))
        if not parts or len(parts) > MAX_IDS:
            return {"error": "Incorrect order ID"}
        return [{"order": _as_id(p), "cancel": self._cancel_one(_one_id(p))} for p in parts]

    def _balance(self, _params: dict) -> dict:
        return {"balance": self.balance, "currency": self.currency}


def _one_id(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else None


def _parts(raw: str) -> list[str]:
    return list(dict.fromkeys(p.strip() for p in raw.split(",") if p.strip()))


def _as_id(part: str) -> int | str:
    return int(part) if part.isdigit() else part


fake_smmapi = fake_fixture(FakeSmmApi, "fake_smmapi")
