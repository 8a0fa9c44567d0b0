"""The demo panel behind the adapter interface: no network, no log rows, no rate limit.

`DemoPanel` (demo.py) answers Perfect-Panel-v2-shaped order objects and reseller-API services;
they go through the same parsers as the real engines (`parse_v2_order`, `parse_service`), so the
demo exercises the parsing the pipeline relies on. Customers' balances are invented
(DEMO_BALANCES). No tickets; no panel clock (`panel_now` stays None).
"""
from __future__ import annotations

from datetime import datetime

from app.integrations.panels import clean_ids, parse_service, parse_v2_order
from app.integrations.panels.base import (ConnectionCheck, OrdersResult, PanelError,
                                          PanelService, PanelTicket)
from app.integrations.panels.demo import DEMO_USERNAME, OTHER_USERNAME, SAMPLE_ORDERS, DemoPanel

ENGINE = "demo"
DEMO_BALANCES = {DEMO_USERNAME: "25.00", OTHER_USERNAME: "3.20"}
_NO_TICKETS = "the demo panel has no tickets"


class DemoPanelAdapter:
    engine = ENGINE

    def __init__(self, panel: DemoPanel | None = None, *, now: datetime | None = None) -> None:
        self.panel = panel or DemoPanel(now=now)

    def capabilities(self) -> set[str]:
        return {"orders", "ownership", "dispatch", "services", "user_balance"}

    def get_orders(self, ids: list[str], username: str | None = None) -> OrdersResult:
        wanted, missing = clean_ids(ids)
        answers = self.panel.get_orders(wanted)
        orders = {}
        for order_id in wanted:
            order = parse_v2_order(answers[order_id], fallback_id=order_id) \
                if order_id in answers else None
            if order is None:
                missing.append(order_id)
            else:
                orders[order_id] = order
        return OrdersResult(orders=orders, missing=missing, calls=0)

    def services(self) -> list[PanelService]:
        parsed = (parse_service(item) for item in self.panel.services())
        return [service for service in parsed if service is not None]

    def user_balance(self, username: str) -> str | None:
        """An invented balance for the two demo customers; None for anyone else."""
        wanted = (username or "").strip().casefold()
        return next((balance for name, balance in DEMO_BALANCES.items()
                     if name.casefold() == wanted), None)

    def test_connection(self) -> ConnectionCheck:
        return ConnectionCheck(True, f"Demo panel: {len(SAMPLE_ORDERS)} sample orders, "
                                     f"{len(self.panel.services())} services (offline)", ENGINE)

    def list_tickets(self, status: str = "pending", limit: int = 100,
                     offset: int = 0) -> list[PanelTicket]:
        raise PanelError("unsupported", _NO_TICKETS)

    def pending_tickets(self, page_size: int = 100, max_pages: int = 5) -> list[PanelTicket]:
        raise PanelError("unsupported", _NO_TICKETS)

    def get_ticket(self, ticket_id: str) -> PanelTicket:
        raise PanelError("unsupported", _NO_TICKETS)

    def reply_ticket(self, ticket_id: str, message: str) -> None:
        raise PanelError("unsupported", _NO_TICKETS)

    def create_ticket(self, username: str, subject: str, message: str) -> str | None:
        raise PanelError("unsupported", _NO_TICKETS)
