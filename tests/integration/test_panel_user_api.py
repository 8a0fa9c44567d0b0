"""Admin-API engines read their services through the panel's reseller API (user API key)."""
from __future__ import annotations

import pytest

from app.integrations.panels.base import PanelError
from app.integrations.panels.registry import adapter_for
from app.jobs.services import refresh_services
from app.models import ServiceRule
from tests.fakes.smmapi import FakeSmmApi

USER_KEY = "reseller-user-key-987654321"
SERVICES = [{"service": 7, "name": "Followers [30 Days Refill]", "rate": "0.9", "refill": True,
             "cancel": True},
            {"service": 8, "name": "Views [No Refill]", "rate": "0.1", "refill": False}]


@pytest.fixture
def reseller():
    with FakeSmmApi(api_key=USER_KEY, services=[dict(s) for s in SERVICES]) as fake:
        yield fake


@pytest.mark.parametrize("engine", ["perfectpanel_v2", "rentalpanel_v1"])
def test_services_come_from_the_user_api_when_a_key_is_set(factory, redis_conn, reseller,
                                                           engine):
    ws = factory.workspace("acme")
    connection = factory.panel(ws, panel_type=engine, url=reseller.url, api_key="admin-key-1234",
                               user_api_key=USER_KEY, service_rules_mode="cached")
    adapter = adapter_for(connection)
    assert "services" in adapter.capabilities()
    assert [s.id for s in adapter.services()] == ["7", "8"]
    assert reseller.requests.last.form["key"] == USER_KEY


@pytest.mark.parametrize("engine", ["perfectpanel_v2", "rentalpanel_v1"])
def test_without_a_user_key_there_is_no_services_list(factory, redis_conn, engine):
    ws = factory.workspace("acme")
    adapter = adapter_for(factory.panel(ws, panel_type=engine, url="http://127.0.0.1:9",
                                        api_key="admin-key-1234"))
    assert "services" not in adapter.capabilities()
    with pytest.raises(PanelError) as error:
        adapter.services()
    assert error.value.kind == "unsupported"


def test_cached_mode_refresh_for_a_perfect_panel(factory, db, redis_conn, reseller):
    ws = factory.workspace("acme")
    factory.panel(ws, panel_type="perfectpanel_v2", url=reseller.url, api_key="admin-key-1234",
                  user_api_key=USER_KEY, service_rules_mode="cached")
    result = refresh_services(ws.id)
    assert result["state"] == "ok" and result["fetched"] == 2
    rules = {r.service_id: r for r in db.session.query(ServiceRule).filter_by(workspace_id=ws.id)}
    assert rules["7"].refill_kind == "window" and rules["7"].refill_days == 30
    assert rules["8"].panel_refill is False
