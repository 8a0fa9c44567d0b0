"""Perfect Panel admin API v2 (docs/external-apis.md 1.2): orders with owner and provider, tickets.

Base `{panel}/adminapi/v2`, on some installs `{panel}/admin/adminapi/v2`: when the connection has
no stored `api_path` the adapter tries both, in that order, and remembers the one that answered
with the API's JSON envelope (`self.api_path`; `test_connection` returns it for storing). A
path that is not the API answers the panel's HTML page (404), which is what tells them apart.

Every answer is the envelope `{"data", "error_code", "error_message"}`; failures may come as
HTTP 200 with a non-zero `error_code`. Codes 401/403 (or an HTTP 401/403 with JSON) are a bad
key → `PanelError("auth")`, never retried; codes 429/5xx are retried like an HTTP 5xx.

Orders with as few calls as the API allows: with the customer's username and two or more ids,
one `GET /orders?user=…&sort=date-desc` page of LIST_PAGE_SIZE (more pages, up to
LIST_MAX_PAGES, only while asked-for ids remain and pages come back full), then `GET /orders/{id}`
for each id not found there (an order of another customer, or an old one). An id answered with a
non-zero `error_code` (404 "Order not found") is missing.
"""
from __future__ import annotations

import logging
from typing import Any

from app.integrations.calls import CallResult
from app.integrations.panels import (PanelSettings, PanelTransport, as_int, as_items, as_name,
                                     as_text, ci, clean_ids, describe, parse_panel_time,
                                     parse_v2_order, pick)
from app.status_words import panel_problem
from app.integrations.panels.base import (ConnectionCheck, OrdersResult, PanelError, PanelOrder,
                                          PanelTicket)
from app.integrations.panels.smmapi import UserApiServices

log = logging.getLogger(__name__)

ENGINE = "perfectpanel_v2"
BASE_PATHS = ("/adminapi/v2", "/admin/adminapi/v2")
LIST_PAGE_SIZE = 100
LIST_MAX_PAGES = 3
LIST_MIN_IDS = 2  # one id: a single GET /orders/{id} is already the cheapest
TICKET_LIST_MAX = 1000  # the API's own `limit` ceiling
AUTH_CODES = (401, 403)


class PerfectPanelAdapter(UserApiServices):
    engine = ENGINE

    def __init__(self, settings: PanelSettings) -> None:
        self.settings = settings
        self.base_url = settings.base_url
        self.api_path = settings.api_path or settings.pasted_api_path
        self.http = PanelTransport(settings, ENGINE)

    def capabilities(self) -> set[str]:
        extra = {"services"} if self.settings.user_api_key else set()
        return {"orders", "ownership", "dispatch", "tickets"} | extra

    # ---- orders ----------------------------------------------------------------------------
    def get_orders(self, ids: list[str], username: str | None = None) -> OrdersResult:
        """The orders with these ids (keyed by id as given); ids the panel does not know (or
        that are not numbers) in `missing`.

        :raise PanelError: auth / unreachable / bad_response for the panel as a whole.
        """
        calls_before = self.http.calls
        wanted, invalid = clean_ids(ids)
        found: dict[str, PanelOrder] = {}
        user = (username or "").strip()
        if user and len(wanted) >= LIST_MIN_IDS:
            found.update(self._from_user_list(user, wanted))
        missing = list(invalid)
        for order_id in wanted:
            if order_id in found:
                continue
            order = self._get_one(order_id)
            if order is None:
                missing.append(order_id)
            else:
                found[order_id] = order
        orders = {i: found[i] for i in wanted if i in found}
        return OrdersResult(orders=orders, missing=missing, calls=self.http.calls - calls_before)

    def _from_user_list(self, user: str, wanted: list[str]) -> dict[str, PanelOrder]:
        remaining = set(wanted)
        found: dict[str, PanelOrder] = {}
        for page in range(LIST_MAX_PAGES):
            offset = page * LIST_PAGE_SIZE
            params = {"user": user, "limit": LIST_PAGE_SIZE, "offset": offset,
                      "sort": "date-desc"}
            try:
                data, envelope = self._data("list_orders", "GET", "/orders", params=params)
            except PanelError as exc:
                if exc.kind != "rejected":
                    raise
                log.warning("panel list_orders refused (%s); fetching orders one by one",
                            exc.detail)
                return found
            items = as_items(ci(data).get("list") if isinstance(data, dict) else data)
            for item in items:
                order = parse_v2_order(item)
                if order is not None and order.id in remaining:
                    found[order.id] = order
                    remaining.discard(order.id)
            total = as_int(pick(ci(pick(envelope, "pagination") or
                                   ci(data).get("pagination")), "total"))
            if not remaining or len(items) < LIST_PAGE_SIZE or \
                    (total is not None and offset + len(items) >= total):
                break
        return found

    def _get_one(self, order_id: str) -> PanelOrder | None:
        result = self._request("get_order", "GET", f"/orders/{order_id}")
        code, message, data = self._envelope(result)
        if code in AUTH_CODES or result.status in AUTH_CODES:
            raise PanelError("auth", f"get_order: {code} {message}".strip())
        if code != 0 or data is None:
            return None  # 404 "Order not found" and any other refusal of this one id
        order = parse_v2_order(data, fallback_id=order_id)  # None unless data is an object
        if order is None:
            raise PanelError("bad_response", f"get_order {order_id}: {describe(result)}")
        return order

    # ---- tickets ---------------------------------------------------------------------------
    def list_tickets(self, status: str = "pending", limit: int = 100,
                     offset: int = 0) -> list[PanelTicket]:
        """One page of tickets (`id`, `subject`, `user`; no messages)."""
        return self.ticket_page(status, limit, offset)[0]

    def ticket_page(self, status: str = "pending", limit: int = 100,
                    offset: int = 0) -> tuple[list[PanelTicket], int | None]:
        """One page of tickets and `pagination.total` when the panel gives it.

        :raise PanelError: auth / rejected / bad_response (the answer has no list at all) /
            unreachable (network, 5xx, Cloudflare).
        """
        params: dict[str, Any] = {"limit": max(1, min(int(limit), TICKET_LIST_MAX)),
                                  "offset": max(0, int(offset))}
        if status:
            params["status"] = status
        data, envelope = self._data("list_tickets", "GET", "/tickets", params=params)
        listed = ci(data).get("list") if isinstance(data, dict) else data
        if not isinstance(listed, list | dict):
            raise PanelError("bad_response", f"list_tickets: no ticket list in the answer "
                                             f"({type(listed).__name__})")
        tickets = [ticket for ticket in map(_ticket, as_items(listed)) if ticket is not None]
        total = as_int(pick(ci(pick(envelope, "pagination") or ci(data).get("pagination")),
                            "total"))
        return tickets, total

    def pending_tickets(self, page_size: int = 100, max_pages: int = 5) -> list[PanelTicket]:
        """The pending tickets, page after page (at most `max_pages`), each once."""
        found: dict[str, PanelTicket] = {}
        for page in range(max_pages):
            tickets, total = self.ticket_page("pending", page_size, page * page_size)
            for ticket in tickets:
                found.setdefault(ticket.id, ticket)
            offset = page * page_size + len(tickets)
            if len(tickets) < page_size or (total is not None and offset >= total):
                break
        return list(found.values())

    def get_ticket(self, ticket_id: str) -> PanelTicket:
        data, _ = self._data("get_ticket", "GET", f"/tickets/{_digits(ticket_id)}")
        ticket = _ticket(data, fallback_id=str(ticket_id)) if isinstance(data, dict) else None
        if ticket is None:
            raise PanelError("bad_response", f"get_ticket {ticket_id}: no ticket in the answer")
        return ticket

    def reply_ticket(self, ticket_id: str, message: str) -> None:
        self._data("reply_ticket", "POST", f"/tickets/{_digits(ticket_id)}/reply",
                   json={"message": message}, idempotent=False)

    def create_ticket(self, username: str, subject: str, message: str) -> str | None:
        data, _ = self._data("create_ticket", "POST", "/tickets/add",
                             json={"username": username, "subject": subject, "message": message},
                             idempotent=False)
        return as_text(ci(data).get("id")) if isinstance(data, dict) else as_text(data)

    # ---- not offered by this API -----------------------------------------------------------
    def user_balance(self, username: str) -> str | None:
        raise PanelError("unsupported", "the Perfect Panel admin API v2 has no user balance")

    # ---- connection ------------------------------------------------------------------------
    def ping(self, candidates: tuple[str, ...] | None = None) -> int | None:
        """One cheap call (`GET /orders?limit=1`), finding and remembering the API path on the
        way; returns the panel's order count when it gives one.

        :raise PanelError: as `get_orders`; bad_response when no candidate path is the API.
        """
        data, envelope = self._data("ping", "GET", "/orders", params={"limit": 1},
                                    candidates=candidates)
        return as_int(pick(ci(pick(envelope, "pagination") or ci(data).get("pagination")),
                           "total"))

    def test_connection(self) -> ConnectionCheck:
        """`ping` trying the stored path first, then the others."""
        candidates = tuple(dict.fromkeys(p for p in (self.api_path, *BASE_PATHS) if p))
        try:
            total = self.ping(candidates)
        except PanelError as exc:
            return ConnectionCheck(False, f"{exc.kind}: {exc.detail}", ENGINE, self.api_path,
                                   said=panel_problem(exc))
        orders = f", {total} orders" if total is not None else ""
        return ConnectionCheck(True, f"Perfect Panel admin API v2 at {self.api_path}{orders}",
                               ENGINE, self.api_path)

    # ---- plumbing --------------------------------------------------------------------------
    def _request(self, operation: str, method: str, path: str, *, params: dict | None = None,
                 json: Any = None, idempotent: bool = True,
                 candidates: tuple[str, ...] | None = None) -> CallResult:
        """Call `path` under the API root, finding the root first when it is not known."""
        if candidates is None:
            candidates = (self.api_path,) if self.api_path else BASE_PATHS
        last: CallResult | None = None
        for root in candidates:
            last = self.http.request(
                operation, method, f"{self.base_url}{root}{path}", params=params, json=json,
                headers={"X-Api-Key": self.settings.api_key, "Accept": "application/json"},
                idempotent=idempotent, extra_transient=_envelope_transient)
            if _is_envelope(last.data):
                self.api_path = root
                return last
        assert last is not None
        if len(candidates) > 1:
            raise PanelError("bad_response", f"no admin API v2 under {', '.join(candidates)} "
                                             f"({describe(last)})")
        return last

    @staticmethod
    def _envelope(result: CallResult) -> tuple[int, str, Any]:
        """(error_code, error_message, data) of an envelope answer.

        :raise PanelError("bad_response"): the answer is not the API's JSON envelope.
        """
        if not _is_envelope(result.data):
            raise PanelError("bad_response", describe(result))
        envelope = ci(result.data)
        code = _error_code(envelope.get("error_code"))
        if code == 0 and result.status is not None and result.status >= 400:
            code = result.status
        return code, as_text(envelope.get("error_message")) or "", envelope.get("data")

    def _data(self, operation: str, method: str, path: str, **kwargs) -> tuple[Any, dict]:
        """The `data` of a successful answer, and the whole envelope (for `pagination`).

        :raise PanelError: auth (401/403), rejected (any other non-zero error_code),
            bad_response, unreachable.
        """
        result = self._request(operation, method, path, **kwargs)
        code, message, data = self._envelope(result)
        if code in AUTH_CODES or result.status in AUTH_CODES:
            raise PanelError("auth", f"{operation}: {code} {message}".strip())
        if code != 0:
            raise PanelError("rejected", f"{operation}: {code} {message}".strip())
        return data, ci(result.data)


def _is_envelope(body: Any) -> bool:
    keys = ci(body)
    return bool(keys) and ("error_code" in keys or "data" in keys)


def _error_code(value: Any) -> int:
    if value is None or value is False or value == "":
        return 0
    code = as_int(value)
    if code is None:  # a word such as "INVALID_KEY": a failure without a number
        return -1
    return code


def _envelope_transient(result: CallResult) -> str | None:
    """HTTP 200 envelopes that say "server error" / "too many requests"."""
    if not _is_envelope(result.data):
        return None
    code = _error_code(ci(result.data).get("error_code"))
    if code == 429 or 500 <= code < 600:
        return f"error_code {code} {as_text(ci(result.data).get('error_message')) or ''}".strip()
    return None


def _digits(value: Any) -> str:
    text = as_text(value) or ""
    if not (text.isascii() and text.isdigit()):
        raise PanelError("rejected", f"not a ticket id: {value!r}")
    return text


def _ticket(item: Any, fallback_id: str | None = None) -> PanelTicket | None:
    data = ci(item)
    ticket_id = as_text(data.get("id")) or (fallback_id if data else None)
    if ticket_id is None:
        return None
    messages = []
    for raw in as_items(data.get("messages")):
        message = ci(raw)
        text = as_text(message.get("message"))
        if text is None:
            continue
        entry = {"message": text,
                 "sender_name": as_name(pick(message, "sender_name", "sender", "user"))}
        created = parse_panel_time(pick(message, "created", "created_at", "date"))
        if created is not None:
            entry["created_at"] = created
        messages.append(entry)
    return PanelTicket(id=ticket_id, subject=as_text(data.get("subject")),
                       username=as_name(pick(data, "user", "username")),
                       status=as_text(data.get("status")), messages=messages)
