"""Fake Perfect Panel admin API v2 (docs/external-apis.md §1.2).

Server: `FakePerfectPanel(api_key="pp-admin-key", base_path="/adminapi/v2", latency=0.02, …)`;
the panel URL is `fake.url`, the API root `fake.api_url`. Each install answers under one base path
(`/adminapi/v2` or `/admin/adminapi/v2`); other paths get the panel's HTML 404 page. Auth: header
`X-Api-Key`. Every JSON answer is the envelope `{"data", "error_code", "error_message"}`.
- `GET /orders/{id}`; `GET /orders?user=&order_status=&service_ids=&provider=&limit=(≤1000)&offset=
  &sort=date-desc|date-asc` → `data.list` + `pagination.total` (also `limit`, `offset`).
- `GET /tickets?status=&limit=&offset=`, `GET /tickets/{id}` (`messages[]` with `message`,
  `sender_name`; staff = "support"), `POST /tickets/{id}/reply {"message"}`,
  `POST /tickets/add {"username","subject","message"}`. No close endpoint.
Stores: `add_order(…)`, `seed_orders(n, …)`, `add_ticket(…)`; `fake.orders`, `fake.tickets`.
Variants (constructor keywords, also plain attributes): `status_style` "string" (lower-case,
`"completed"`) | "numeric" (`2` + `status_name` `"Completed"`); `provider_style` "string" |
"object" (`{"name": …}`); `charge_style` "string" | "object" (`{"value": …}`); `created_style`
"datetime" (`"2025-05-15 04:36:03"`) | "unix"; `quantity_key` "quantity" | "count";
`pagination_in` "envelope" | "data"; `error_http_status` (HTTP status of envelope failures,
default 200: "failures may come as HTTP 200 with a non-zero error_code"); `cloudflare=True`
(every request gets the Cloudflare challenge page). Faults: `error_next(code, message, n=1)`
(HTTP 200 + non-zero error_code), `cloudflare_next(n)`, plus the base ones. Latency and the request
counter come from the base (`latency=`, `request_count`).

Invented (not in docs/external-apis.md): the error codes/messages (401 "Invalid API key", 404 "Order
not found"/"Ticket not found", 400 for bad parameters, including limit > 1000) and `data: null`
on failure; the numeric status table beyond 2 = Completed (0 pending, 1 in_progress, 3 partial,
4 canceled, 5 processing, 6 fail, 7 error) and the lower-case spelling `in_progress`; where
`pagination` sits (top level by default); counters as JSON numbers and `external_id` as a string;
`created`/`last_update` of ticket messages; ticket status "answered" after a staff reply or a
staff-created ticket; reply/add answering `data: {"id": ticket_id}`; username matching
case-insensitively (MySQL collation); POST bodies accepted as JSON or form.
"""
from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from tests.fakes.server import FakeServer, RecordedRequest, Reply, cloudflare_page, fake_fixture

BASE_PATHS = ("/adminapi/v2", "/admin/adminapi/v2")

STATUSES = {  # key → (numeric code, status_name)
    "pending": (0, "Pending"), "in_progress": (1, "In progress"), "completed": (2, "Completed"),
    "partial": (3, "Partial"), "canceled": (4, "Canceled"), "processing": (5, "Processing"),
    "fail": (6, "Fail"), "error": (7, "Error"),
}
_STATUS_ALIASES = {"in progress": "in_progress", "inprogress": "in_progress",
                   "cancelled": "canceled"}

PANEL_404_HTML = ("<!DOCTYPE html><html><head><title>Page not found</title></head><body>"
                  "<div class=\"container\"><h1>404</h1><p>Page not found</p></div></body></html>")


def status_key(status: str | int) -> str:
    if isinstance(status, int):
        return next(k for k, (code, _) in STATUSES.items() if code == status)
    key = status.strip().lower()
    key = _STATUS_ALIASES.get(key, key.replace(" ", "_"))
    if key not in STATUSES:
        raise ValueError(f"unknown status {status!r}")
    return key


def _as_datetime(value: dt.datetime | str | int | None) -> dt.datetime:
    if value is None:
        return dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None)
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0, tzinfo=None)
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value, dt.UTC).replace(tzinfo=None)
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")


def _as_int(value: Any, default: int) -> int | None:
    if value in (None, ""):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class FakePerfectPanel(FakeServer):
    name = "perfectpanel"

    def __init__(self, api_key: str = "pp-admin-key", *, base_path: str = "/adminapi/v2",
                 status_style: str = "string", provider_style: str = "string",
                 charge_style: str = "string", created_style: str = "datetime",
                 quantity_key: str = "quantity", pagination_in: str = "envelope",
                 error_http_status: int = 200, cloudflare: bool = False,
                 orders: list[dict] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if base_path not in BASE_PATHS:
            raise ValueError(f"base_path must be one of {BASE_PATHS}")
        self.api_key, self.base_path = api_key, base_path
        self.status_style, self.provider_style = status_style, provider_style
        self.charge_style, self.created_style = charge_style, created_style
        self.quantity_key, self.pagination_in = quantity_key, pagination_in
        self.error_http_status, self.cloudflare = error_http_status, cloudflare
        self.orders: dict[int, dict[str, Any]] = {}
        self.tickets: dict[int, dict[str, Any]] = {}
        self._ticket_ids = itertools.count(1)
        for order in orders or ():
            self.add_order(**order)
        root = base_path.replace("/", r"\/")
        self.route("GET", rf"{root}/orders/(?P<order_id>\d+)", self._get_order)
        self.route("GET", rf"{root}/orders", self._list_orders)
        self.route("GET", rf"{root}/tickets", self._list_tickets)
        self.route("GET", rf"{root}/tickets/(?P<ticket_id>\d+)", self._get_ticket)
        self.route("POST", rf"{root}/tickets/(?P<ticket_id>\d+)/reply", self._reply_ticket)
        self.route("POST", rf"{root}/tickets/add", self._add_ticket)

    @property
    def api_url(self) -> str:
        return self.url + self.base_path

    # ---- stores ------------------------------------------------------------------------------
    def add_order(self, id: int, *, user: str = "alice", service_id: int = 1,
                  service_name: str = "Instagram Followers [30 Days Refill] Start: 0-1 Hour",
                  link: str = "https://instagram.com/alice", quantity: int = 1000,
                  start_count: int = 3572, remains: int = 0, charge: str = "0.27819",
                  status: str | int = "completed", provider: str = "smmrush.com",
                  external_id: str | None = None, created: Any = None, last_update: Any = None,
                  actions: dict | None = None) -> dict:
        created_at = _as_datetime(created)
        order = {"id": int(id), "user": user, "service_id": service_id,
                 "service_name": service_name, "link": link, "quantity": quantity,
                 "start_count": start_count, "remains": remains, "charge": str(charge),
                 "status": status_key(status), "provider": provider,
                 "external_id": str(external_id if external_id is not None else int(id) + 880000),
                 "created": created_at,
                 "last_update": _as_datetime(last_update) if last_update else created_at,
                 "actions": actions}
        with self.lock:
            self.orders[order["id"]] = order
        return order

    def seed_orders(self, count: int, start_id: int = 2274209, **fields: Any) -> list[int]:
        """`count` orders with consecutive ids, created a minute apart (the last one newest)."""
        ids = list(range(start_id, start_id + count))
        first = _as_datetime(fields.pop("created", None)) - dt.timedelta(minutes=count)
        for offset, order_id in enumerate(ids):
            self.add_order(order_id, created=first + dt.timedelta(minutes=offset + 1), **fields)
        return ids

    def add_ticket(self, id: int | None = None, *, user: str = "alice",
                   subject: str = "Order", status: str = "pending",
                   messages: list[tuple[str, str]] | None = None) -> int:
        """`messages`: (sender_name, text) pairs; default one message from the user."""
        with self.lock:
            ticket_id = int(id) if id is not None else next(self._ticket_ids)
            now = _as_datetime(None)
            self.tickets[ticket_id] = {
                "id": ticket_id, "user": user, "subject": subject, "status": status,
                "messages": [{"message": text, "sender_name": sender, "created": now}
                             for sender, text in (messages or [(user, "2274209 refill")])]}
        return ticket_id

    # ---- faults ------------------------------------------------------------------------------
    def error_next(self, code: int = 500, message: str = "Internal error", *, n: int = 1,
                   http_status: int = 200, **match: Any) -> None:
        self.fail_next(n, http_status, body=self._envelope(None, code, message), **match)

    def cloudflare_next(self, n: int = 1, **match: Any) -> None:
        self.garbage_next(n, "cloudflare", **match)

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        reply = Reply(status, self._envelope(None, status, "Too many requests" if status == 429
                                             else "Internal server error"))
        if retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after)
        return reply

    def not_found(self, req: RecordedRequest) -> Reply:
        return Reply(404, PANEL_404_HTML, content_type="text/html; charset=UTF-8")

    # ---- rendering ---------------------------------------------------------------------------
    @staticmethod
    def _envelope(data: Any, code: int = 0, message: str = "") -> dict:
        return {"data": data, "error_code": code, "error_message": message}

    def _fail(self, code: int, message: str) -> Reply:
        return Reply(self.error_http_status, self._envelope(None, code, message))

    def _stamp(self, value: dt.datetime) -> str | int:
        if self.created_style == "unix":
            return int(value.replace(tzinfo=dt.UTC).timestamp())
        return value.strftime("%Y-%m-%d %H:%M:%S")

    def render_order(self, order: dict) -> dict:
        code, name = STATUSES[order["status"]]
        out: dict[str, Any] = {
            "id": order["id"], "user": order["user"], "service_id": order["service_id"],
            "service_name": order["service_name"], "link": order["link"],
            self.quantity_key: order["quantity"], "start_count": order["start_count"],
            "remains": order["remains"],
            "charge": {"value": order["charge"]} if self.charge_style == "object"
            else order["charge"]}
        if self.status_style == "numeric":
            out["status"], out["status_name"] = code, name
        else:
            out["status"] = order["status"]
        out["provider"] = ({"name": order["provider"]} if self.provider_style == "object"
                           else order["provider"])
        out["external_id"] = order["external_id"]
        out["created"] = self._stamp(order["created"])
        out["last_update"] = self._stamp(order["last_update"])
        if order["actions"] is not None:
            out["actions"] = dict(order["actions"])
        return out

    def _page(self, items: list[dict], total: int, limit: int, offset: int) -> Reply:
        pagination = {"total": total, "limit": limit, "offset": offset}
        if self.pagination_in == "data":
            return Reply(200, self._envelope({"list": items, "pagination": pagination}))
        body = self._envelope({"list": items})
        body["pagination"] = pagination
        return Reply(200, body)

    # ---- handlers ----------------------------------------------------------------------------
    def _dispatch(self, req: RecordedRequest) -> Reply:
        if self.cloudflare:
            req.fault = "cloudflare"
            return cloudflare_page()
        if req.path.startswith(self.base_path + "/") and \
                req.headers.get("X-Api-Key") != self.api_key:
            return self._fail(401, "Invalid API key")
        return super()._dispatch(req)

    def _limits(self, req: RecordedRequest) -> tuple[int, int] | Reply:
        limit, offset = _as_int(req.query.get("limit"), 100), _as_int(req.query.get("offset"), 0)
        if limit is None or offset is None or limit < 0 or offset < 0:
            return self._fail(400, "Invalid limit or offset")
        if limit > 1000:
            return self._fail(400, "limit must not exceed 1000")
        return (limit or 100), offset

    def _get_order(self, req: RecordedRequest, order_id: str) -> Reply:
        order = self.orders.get(int(order_id))
        if order is None:
            return self._fail(404, "Order not found")
        return Reply(200, self._envelope(self.render_order(order)))

    def _list_orders(self, req: RecordedRequest) -> Reply:
        bounds = self._limits(req)
        if isinstance(bounds, Reply):
            return bounds
        limit, offset = bounds
        q = req.query
        items = list(self.orders.values())
        if q.get("user"):
            items = [o for o in items if o["user"].lower() == q["user"].strip().lower()]
        if q.get("order_status"):
            try:
                wanted = status_key(q["order_status"])
            except ValueError:
                return self._fail(400, "Invalid order_status")
            items = [o for o in items if o["status"] == wanted]
        if q.get("service_ids"):
            ids = {s.strip() for s in q["service_ids"].split(",") if s.strip()}
            items = [o for o in items if str(o["service_id"]) in ids]
        if q.get("provider"):
            items = [o for o in items if o["provider"] == q["provider"]]
        items.sort(key=lambda o: (o["created"], o["id"]), reverse=q.get("sort") != "date-asc")
        page = [self.render_order(o) for o in items[offset:offset + limit]]
        return self._page(page, len(items), limit, offset)

    def _list_tickets(self, req: RecordedRequest) -> Reply:
        bounds = self._limits(req)
        if isinstance(bounds, Reply):
            return bounds
        limit, offset = bounds
        items = sorted(self.tickets.values(), key=lambda t: t["id"], reverse=True)
        if req.query.get("status"):
            items = [t for t in items if t["status"] == req.query["status"]]
        page = [{"id": t["id"], "subject": t["subject"], "user": t["user"], "status": t["status"]}
                for t in items[offset:offset + limit]]
        return self._page(page, len(items), limit, offset)

    def _render_ticket(self, ticket: dict) -> dict:
        return {"id": ticket["id"], "subject": ticket["subject"], "user": ticket["user"],
                "status": ticket["status"],
                "messages": [{"message": m["message"], "sender_name": m["sender_name"],
                              "created": self._stamp(m["created"])} for m in ticket["messages"]]}

    def _get_ticket(self, req: RecordedRequest, ticket_id: str) -> Reply:
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            return self._fail(404, "Ticket not found")
        return Reply(200, self._envelope(self._render_ticket(ticket)))

    def _reply_ticket(self, req: RecordedRequest, ticket_id: str) -> Reply:
        ticket = self.tickets.get(int(ticket_id))
        if ticket is None:
            return self._fail(404, "Ticket not found")
        message = req.params.get("message")
        if not isinstance(message, str) or not message.strip():
            return self._fail(400, "message is required")
        ticket["messages"].append({"message": message, "sender_name": "support",
                                   "created": _as_datetime(None)})
        ticket["status"] = "answered"
        return Reply(200, self._envelope({"id": ticket["id"]}))

    def _add_ticket(self, req: RecordedRequest) -> Reply:
        params = req.params
        for key in ("username", "subject", "message"):
            if not isinstance(params.get(key), str) or not params[key].strip():
                return self._fail(400, f"{key} is required")
        ticket_id = self.add_ticket(user=params["username"], subject=params["subject"],
                                    status="answered",
                                    messages=[("support", params["message"])])
        return Reply(200, self._envelope({"id": ticket_id}))


fake_perfectpanel = fake_fixture(FakePerfectPanel, "fake_perfectpanel")
