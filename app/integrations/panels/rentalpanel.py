"""Rental Panel admin API v1 (docs/external-apis.md 1.3): many orders per call, the panel's clock.

`GET {panel}/adminapi/v1?key=KEY&action=getOrders-by-id&orders=1,2,3&provider=1` answers
`{"status":"success","orders":[{"id","username","order_status","service","provider",
"external_id","date","current_date"}]}`: one call per CHUNK_SIZE ids. `current_date` (the panel's
clock, in the same zone as `date`) becomes `PanelOrder.panel_now`, so refill windows are measured
on the panel's clock. Ids the panel leaves out are missing. Errors: `{"error":"bad_auth"}` →
`PanelError("auth")` (never retried), `{"status":"error"|"fail","error":…}` → `rejected`.
The API has no tickets, services or balances; `service` is the service's name (no id).
"""
from __future__ import annotations

from typing import Any

from app.domain.eligibility import normalise_status
from app.integrations.calls import CallResult
from app.integrations.panels import (PanelSettings, PanelTransport, as_int, as_items, as_money,
                                     as_name, as_text, ci, clean_ids, describe, parse_panel_time,
                                     pick)
from app.status_words import panel_problem
from app.integrations.panels.base import (ConnectionCheck, OrdersResult, PanelError, PanelOrder,
                                          NoTickets)
from app.integrations.panels.smmapi import UserApiServices

ENGINE = "rentalpanel_v1"
API_PATH = "/adminapi/v1"
CHUNK_SIZE = 100


class RentalPanelAdapter(NoTickets, UserApiServices):
    no_tickets_reason = "the Rental Panel admin API v1 has no tickets"

    engine = ENGINE
    coalesce_scope = "panel"  # getOrders-by-id: one call for many customers' orders

    def __init__(self, settings: PanelSettings) -> None:
        self.settings = settings
        self.api_url = settings.base_url + API_PATH
        self.http = PanelTransport(settings, ENGINE)

    def capabilities(self) -> set[str]:
        extra = {"services"} if self.settings.user_api_key else set()
        return {"orders", "ownership", "dispatch", "panel_clock"} | extra

    def get_orders(self, ids: list[str], username: str | None = None) -> OrdersResult:
        """The orders with these ids, one `getOrders-by-id` call per CHUNK_SIZE ids (`username`
        is not needed: every order carries its owner).

        :raise PanelError: auth / rejected / unreachable / bad_response.
        """
        calls_before = self.http.calls
        wanted, missing = clean_ids(ids)
        found: dict[str, PanelOrder] = {}
        for start in range(0, len(wanted), CHUNK_SIZE):
            chunk = wanted[start:start + CHUNK_SIZE]
            body = self._action("getOrders-by-id", orders=",".join(chunk), provider=1)
            panel_now = parse_panel_time(body.get("current_date"))
            rows = body.get("orders")
            if rows is not None and not isinstance(rows, list | dict):
                raise PanelError("bad_response", f"getOrders-by-id: orders is {type(rows)}")
            for row in as_items(rows):
                order = _order(row, panel_now)
                if order is not None:
                    found[order.id] = order
        orders = {i: found[i] for i in wanted if i in found}
        missing += [i for i in wanted if i not in found]
        return OrdersResult(orders=orders, missing=missing, calls=self.http.calls - calls_before)

    def test_connection(self) -> ConnectionCheck:
        try:
            self._action("getOrders-by-id", orders="1", provider=1)
        except PanelError as exc:
            return ConnectionCheck(False, f"{exc.kind}: {exc.detail}", ENGINE, API_PATH,
                                   said=panel_problem(exc))
        return ConnectionCheck(True, "Rental Panel admin API v1 answered", ENGINE, API_PATH)

    # ---- not offered by this API -----------------------------------------------------------
    def user_balance(self, username: str) -> str | None:
        raise PanelError("unsupported", "the Rental Panel admin API v1 has no user balance")

    # ---- plumbing --------------------------------------------------------------------------
    def _action(self, action: str, **params: Any) -> dict:
        """The answer of one action, keys lower-cased.

        :raise PanelError: auth (`bad_auth`, HTTP 401/403), rejected (`status` error/fail),
            bad_response (not a JSON object), unreachable.
        """
        result = self.http.request(action, "GET", self.api_url,
                                   params={"key": self.settings.api_key, "action": action,
                                           **params})
        return check_answer(result, action)


def check_answer(result: CallResult, action: str) -> dict:
    """A v1 answer as a dict with lower-cased keys, or the PanelError it amounts to."""
    if not isinstance(result.data, dict):
        raise PanelError("bad_response", f"{action}: {describe(result)}")
    body = ci(result.data)
    error = as_text(body.get("error")) or as_text(body.get("message"))
    status = (as_text(body.get("status")) or "").lower()
    if is_auth_error(error) or result.status in (401, 403):
        raise PanelError("auth", f"{action}: {error or result.status}")
    if status in ("error", "fail", "failed") or (error and status != "success") or \
            (result.status is not None and result.status >= 400):
        raise PanelError("rejected", f"{action}: {error or status or result.status}")
    return body


def is_auth_error(error: str | None) -> bool:
    text = (error or "").lower()
    return "auth" in text or "api key" in text or "invalid key" in text


def _order(row: Any, panel_now) -> PanelOrder | None:
    data = ci(row)
    order_id = as_text(data.get("id"))
    if order_id is None:
        return None
    raw_status = as_text(pick(data, "order_status", "status"))
    service = data.get("service")
    return PanelOrder(
        id=order_id,
        status=normalise_status(raw_status, as_text(data.get("status_name"))).value,
        raw_status=raw_status,
        username=as_name(pick(data, "username", "user", "login")),
        service_id=as_text(pick(data, "service_id")) or as_text(ci(service).get("id")),
        service_name=as_name(service) if service is not None else
        as_text(data.get("service_name")),
        provider=as_name(data.get("provider")),
        external_id=as_text(data.get("external_id")),
        created_at=parse_panel_time(pick(data, "date", "created", "created_at")),
        panel_now=parse_panel_time(data.get("current_date")) or panel_now,
        start_count=as_int(data.get("start_count")),
        remains=as_int(data.get("remains")),
        quantity=as_int(pick(data, "quantity", "count")),
        charge=as_money(data.get("charge")),
        link=as_text(data.get("link")),
    )
