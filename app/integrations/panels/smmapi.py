"""The standard reseller API "v2" of any SMM panel, with a user key (docs/external-apis.md 1.1).

`POST {panel}/api/v2`, form-encoded `key` and `action`. It never returns an order's customer,
provider or provider order id, so Relaydesk can neither check ownership nor forward commands with
it: the adapter offers the services list only (`get_orders` raises `PanelError("unsupported")`).
`balance` is the balance of the key's own account (not a customer's): `account_balance()` reads
it and `test_connection` uses it as a cheap key check.
Errors are `{"error": "..."}` with HTTP 200; a key error → `auth`, others → `rejected`.
"""
from __future__ import annotations

import dataclasses

from typing import Any

from app.integrations.panels import (PanelSettings, PanelTransport, as_items, as_money, as_text,
                                     ci, describe, parse_service)
from app.status_words import panel_problem
from app.integrations.panels.base import (ConnectionCheck, OrdersResult, PanelError,
                                          PanelService, NoTickets)

ENGINE = "smm_api_v2"
API_PATH = "/api/v2"
_UNSUPPORTED = "the reseller API v2 cannot tell who owns an order or who fulfils it"


def services_via_user_api(settings: PanelSettings) -> list[PanelService]:
    """An admin-API engine's services, read through the same panel's reseller API v2 with
    the workspace's user API key (the admin APIs document no services list)."""
    if not settings.user_api_key:
        raise PanelError("unsupported", "no user API key: the admin API has no services list")
    user_settings = dataclasses.replace(settings, api_key=settings.user_api_key, api_path=None)
    return SmmApiAdapter(user_settings).services()


class SmmApiAdapter(NoTickets):
    no_tickets_reason = "the reseller API v2 has no tickets"

    engine = ENGINE

    def __init__(self, settings: PanelSettings) -> None:
        self.settings = settings
        self.api_url = settings.base_url + API_PATH
        self.http = PanelTransport(settings, ENGINE)

    def capabilities(self) -> set[str]:
        return {"services"}

    def services(self) -> list[PanelService]:
        """The panel's services with their refill/cancel flags (`cancel` None when missing).

        :raise PanelError: auth / rejected / unreachable / bad_response.
        """
        body = self._action("services")
        if isinstance(body, dict) and not _looks_like_services(body):
            raise PanelError("bad_response", "services: an object without services")
        services = [parse_service(item) for item in as_items(body)]
        return [service for service in services if service is not None]

    def account_balance(self) -> tuple[str | None, str | None]:
        """(balance, currency) of the account the key belongs to."""
        body = ci(self._action("balance"))
        if "balance" not in body:
            raise PanelError("bad_response", "balance: no balance in the answer")
        return as_money(body.get("balance")), as_text(body.get("currency"))

    def test_connection(self) -> ConnectionCheck:
        try:
            balance, currency = self.account_balance()
        except PanelError as exc:
            return ConnectionCheck(False, f"{exc.kind}: {exc.detail}", ENGINE, API_PATH,
                                   said=panel_problem(exc))
        return ConnectionCheck(True, f"Reseller API v2 answered (account balance {balance} "
                                     f"{currency or ''})".replace(" )", ")"), ENGINE, API_PATH)

    # ---- not offered by this API -----------------------------------------------------------
    def get_orders(self, ids: list[str], username: str | None = None) -> OrdersResult:
        raise PanelError("unsupported", _UNSUPPORTED)

    def user_balance(self, username: str) -> str | None:
        raise PanelError("unsupported", "the reseller API v2 only knows its own account")

    # ---- plumbing --------------------------------------------------------------------------
    def _action(self, action: str, **params: Any) -> Any:
        """The JSON answer of one action.

        :raise PanelError: auth (key errors), rejected (`{"error": ...}`), bad_response.
        """
        result = self.http.request(action, "POST", self.api_url,
                                   data={"key": self.settings.api_key, "action": action,
                                         **params})
        if not isinstance(result.data, dict | list):
            raise PanelError("bad_response", f"{action}: {describe(result)}")
        body = result.data
        error = as_text(ci(body).get("error")) if isinstance(body, dict) else None
        if error or result.status in (401, 403):
            if result.status in (401, 403) or "key" in (error or "").lower() or \
                    "auth" in (error or "").lower():
                raise PanelError("auth", f"{action}: {error or result.status}")
            raise PanelError("rejected", f"{action}: {error}")
        if result.status is not None and result.status >= 400:
            raise PanelError("rejected", f"{action}: {describe(result)}")
        return body


def _looks_like_services(body: dict) -> bool:
    """Some panels answer services as an object keyed by id."""
    return bool(body) and all(isinstance(value, dict) for value in body.values())


class UserApiServices:
    """For admin-API engines: the services list comes through the same panel's reseller API
    when the workspace set a user API key (the admin APIs document none)."""

    def services(self) -> list[PanelService]:
        return services_via_user_api(self.settings)
