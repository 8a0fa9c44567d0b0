"""Fake Rental Panel admin API v1 (docs/external-apis.md §1.3).

Server: `FakeRentalPanel(api_key="rp-admin-key", clock=datetime(…), latency=0.02)`; requests go to
`GET {fake.url}/adminapi/v1?key=KEY&action=ACTION…` (`fake.api_url`).
- `action=getOrders-by-id&orders=1,2,3&provider=1` → `{"status":"success","orders":[{"id",
  "username","order_status","service","provider","external_id","date","current_date"}]}`: one
  call for many orders; `current_date` is the panel clock (`fake.clock`, default: now, UTC).
- `action=getOrders[&orders=…]` → an object keyed by id with `status` and `user`.
- Errors: bad key → `{"error":"bad_auth"}`; others `{"status":"error"|"fail","error":"..."}`;
  `error_next(error, status_word, n=1)` injects one. No ticket actions.
Store: `add_order(…)`, `seed_orders(n, …)`, `fake.orders`.

Invented (not in docs/external-apis.md): HTTP 200 for every JSON answer (including bad_auth);
`provider`/`external_id` only when `provider=1` is sent; unknown ids silently left out of
`orders`; ids and counters rendered as strings (PHP style); the `order_status` spellings
(lower-case: "pending", "in progress", "processing", "completed", "partial", "canceled");
`getOrders` without `orders` returns every order; the error texts ("bad_action",
"orders is empty"); POST with a form body accepted like GET (PHP `$_REQUEST`); other paths get an
HTML 404 page.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, SeedsOrders, fake_fixture

API_PATH = "/adminapi/v1"
ORDER_STATUSES = ("pending", "in progress", "processing", "completed", "partial", "canceled")


def _stamp(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


class FakeRentalPanel(SeedsOrders, FakeServer):
    name = "rentalpanel"

    def __init__(self, api_key: str = "rp-admin-key", *, clock: dt.datetime | None = None,
                 orders: list[dict] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key, self.clock = api_key, clock
        self.orders: dict[int, dict[str, Any]] = {}
        for order in orders or ():
            self.add_order(**order)
        self.route(("GET", "POST"), API_PATH, self._call)

    @property
    def api_url(self) -> str:
        return self.url + API_PATH

    def now(self) -> dt.datetime:
        if self.clock is not None:
            return self.clock.replace(microsecond=0, tzinfo=None)
        return dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)

    def add_order(self, id: int, *, username: str = "alice",
                  status: str = "completed",
                  service: str = "Instagram Followers [30 Days Refill] Start: 0-1 Hour",
                  provider: str = "smmrush.com", external_id: str | None = None,
                  date: dt.datetime | str | None = None) -> dict:
        if status not in ORDER_STATUSES:
            raise ValueError(f"status must be one of {ORDER_STATUSES}")
        if isinstance(date, str):
            date = dt.datetime.strptime(date, "%Y-%m-%d %H:%M:%S")
        order = {"id": int(id), "username": username, "status": status, "service": service,
                 "provider": provider,
                 "external_id": str(external_id if external_id is not None else int(id) + 880000),
                 "date": (date or self.now() - dt.timedelta(days=1)).replace(microsecond=0)}
        with self.lock:
            self.orders[order["id"]] = order
        return order

    def error_next(self, error: str = "Internal error", status_word: str = "error", *,
                   n: int = 1, **match: Any) -> None:
        self.fail_next(n, 200, body={"status": status_word, "error": error}, **match)

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        reply = Reply(status, {"status": "error", "error": "Too many requests" if status == 429
                               else "Internal error"})
        if retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after)
        return reply

    def not_found(self, req: RecordedRequest) -> Reply:
        return Reply(404, "<!DOCTYPE html><html><head><title>404 Not Found</title></head>"
                          "<body><h1>Not Found</h1></body></html>", content_type="text/html")

    # ---- handler -----------------------------------------------------------------------------
    def _call(self, req: RecordedRequest) -> Reply:
        params = {**req.query, **req.form}
        if params.get("key") != self.api_key:
            return Reply(200, {"error": "bad_auth"})
        action = params.get("action")
        if action == "getOrders-by-id":
            ids = _ids(params.get("orders"))
            if not ids:
                return Reply(200, {"status": "error", "error": "orders is empty"})
            with_provider = params.get("provider") == "1"
            current = _stamp(self.now())
            found = [self._row(self.orders[i], with_provider, current)
                     for i in ids if i in self.orders]
            return Reply(200, {"status": "success", "orders": found})
        if action == "getOrders":
            ids = _ids(params.get("orders")) or list(self.orders)
            return Reply(200, {str(i): {"status": self.orders[i]["status"],
                                        "user": self.orders[i]["username"]}
                               for i in ids if i in self.orders})
        return Reply(200, {"status": "fail", "error": "bad_action"})

    @staticmethod
    def _row(order: dict, with_provider: bool, current: str) -> dict:
        row = {"id": str(order["id"]), "username": order["username"],
               "order_status": order["status"], "service": order["service"]}
        if with_provider:
            row["provider"] = order["provider"]
            row["external_id"] = order["external_id"]
        row["date"] = _stamp(order["date"])
        row["current_date"] = current
        return row


def _ids(raw: str | None) -> list[int]:
    ids: list[int] = []
    for part in (raw or "").split(","):
        part = part.strip()
        if part.isdigit() and int(part) not in ids:
            ids.append(int(part))
    return ids


fake_rentalpanel = fake_fixture(FakeRentalPanel, "fake_rentalpanel")
