"""The panel adapters' shared parsing helpers: total, case-insensitive, both date formats."""
from __future__ import annotations

import datetime as dt
from datetime import datetime

import pytest

from app.integrations.calls import CallResult
from app.integrations.panels.base import PanelError
from app.integrations.panels.demo import DEMO_USERNAME, SAMPLE_ORDER_IDS
from app.integrations.panels.demo_adapter import DemoPanelAdapter
from app.integrations.panels.registry import adapter_for, detect
from app.integrations.panels import (as_bool, as_int, as_money, as_name, as_text, ci, clean_ids,
                                     is_cloudflare, panel_rate, parse_panel_time, parse_service,
                                     parse_v2_order, split_api_url, transient_reason)

MAY_15 = datetime(2025, 5, 15, 4, 36, 3)


@pytest.mark.parametrize("value", [
    "2025-05-15 04:36:03", " 2025-05-15 04:36:03 ", "2025-05-15T04:36:03",
    "2025-05-15T04:36:03Z", "2025-05-15T07:36:03+03:00", "2025-05-15 04:36:03.123456",
    1747283763, "1747283763", 1747283763.9, 1747283763000, "1747283763000",
])
def test_panel_times_in_every_format_are_naive_utc(value):
    assert parse_panel_time(value) == MAY_15


@pytest.mark.parametrize("value", [
    None, "", "   ", "0000-00-00 00:00:00", "yesterday", "2025-13-45 99:99:99", 0, -5, True,
    [], {}, 1e30, "12abc", float("nan"),
])
def test_unreadable_times_are_none(value):
    assert parse_panel_time(value) is None


@pytest.mark.parametrize(("value", "expected"), [
    (3572, 3572), ("3572", 3572), (" 3572 ", 3572), ("3572.0", 3572), (3572.0, 3572),
    ("-3", -3), ("1.5", None), ("", None), ("lots", None), (None, None), (True, None),
    ([1], None), ({"value": 1}, None), (float("inf"), None),
])
def test_as_int(value, expected):
    assert as_int(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False),
    ("true", True), ("False", False), ("yes", True), ("no", False), ("", None), (None, None),
    ("maybe", None), (2, None), ([], None),
])
def test_as_bool(value, expected):
    assert as_bool(value) is expected


def test_text_money_and_names_accept_strings_numbers_and_objects():
    assert as_text(2274209) == "2274209"
    assert as_text(" x ") == "x"
    assert as_text(0.5) == "0.5"
    assert as_text(12.0) == "12"
    assert as_text({"a": 1}) is None
    assert as_money("0.27819") == as_money({"value": "0.27819"}) == as_money({"Value": "0.27819"})
    assert as_money(0.27819) == "0.27819"
    assert as_name("smmrush.com") == as_name({"name": "smmrush.com"}) == "smmrush.com"
    assert as_name({"Name": "smmrush.com"}) == "smmrush.com"
    assert as_name({"other": 1}) is None
    assert ci({"Status": 1, "ERROR_CODE": 0}) == {"status": 1, "error_code": 0}
    assert ci(["not", "a", "dict"]) == {}


def test_clean_ids_keeps_order_drops_duplicates_and_separates_impossible_ids():
    assert clean_ids([" 12 ", "12", 13, "abc", "", None, "1e5", "١٢"]) == (
        ["12", "13"], ["abc", "1e5", "١٢"])


def test_split_api_url_recognises_pasted_api_paths():
    assert split_api_url("https://p.example/") == ("https://p.example", None)
    assert split_api_url("https://p.example/admin/adminapi/v2/") == (
        "https://p.example", "/admin/adminapi/v2")
    assert split_api_url("https://p.example/adminapi/v2") == ("https://p.example", "/adminapi/v2")
    assert split_api_url("https://p.example/api/v2") == ("https://p.example", "/api/v2")


def test_v2_order_with_every_variant_and_capitalised_keys():
    order = parse_v2_order({
        "ID": 7, "User": "Alice", "Service_ID": "3", "Service_Name": "Likes [R30]",
        "Count": "500", "Start_Count": "10", "Remains": "0", "Charge": {"Value": "1.5"},
        "Status": 2, "Status_Name": "Completed", "Provider": {"Name": "smmrush.com"},
        "External_ID": 991, "Created": 1747283763, "Actions": {"Refill": 1, "cancel": "0"},
    })
    assert order is not None
    assert (order.id, order.username, order.service_id, order.service_name) == (
        "7", "Alice", "3", "Likes [R30]")
    assert (order.quantity, order.start_count, order.remains, order.charge) == (500, 10, 0, "1.5")
    assert (order.status, order.raw_status) == ("completed", "Completed")
    assert (order.provider, order.external_id, order.created_at) == ("smmrush.com", "991", MAY_15)
    assert order.actions == {"refill": True, "cancel": False}


@pytest.mark.parametrize("item", [
    None, [], "order", 5, {}, {"status": "completed"},
])
def test_v2_order_that_is_not_an_order_is_none(item):
    assert parse_v2_order(item) is None


def test_v2_order_with_garbage_fields_parses_what_it_can():
    order = parse_v2_order({"id": "9", "status": ["?"], "user": 5, "created": "soon",
                            "quantity": "lots", "charge": [], "provider": 3.5,
                            "actions": "all"})
    assert order is not None
    assert order.status == "unknown" and order.quantity is None and order.created_at is None
    assert order.username == "5" and order.charge is None and order.actions == {}


def test_service_entry_with_missing_cancel_and_string_numbers():
    service = parse_service({"Service": "12", "Name": "Views", "Rate": 0.9, "Refill": "1"})
    assert service is not None
    assert (service.id, service.name, service.rate, service.refill, service.cancel) == (
        "12", "Views", "0.9", True, None)
    assert parse_service({"name": "no id"}) is None
    assert parse_service("garbage") is None


def test_transient_reasons():
    def result(status, text="", headers=None, error=None, data=None):
        return CallResult(status=status, text=text, headers=headers or {}, error=error, data=data)

    assert transient_reason(result(None, error="timeout")) == "timeout"
    assert transient_reason(result(None, error="connection")).startswith("connection")
    assert transient_reason(result(503)) == "HTTP 503"
    assert transient_reason(result(429)).startswith("HTTP 429")
    challenge = result(403, "<html><title>Just a moment...</title></html>",
                       {"Server": "cloudflare", "cf-mitigated": "challenge"})
    assert is_cloudflare(challenge)
    assert transient_reason(challenge).startswith("Cloudflare")
    assert transient_reason(result(404, "<html>not found</html>")) is None
    assert transient_reason(result(200, data={"ok": 1})) is None


def test_panel_rate_paces_without_burst():
    """One call per (1 + RATE_GUARD) / rps seconds: `rps` consecutive calls span 1.1 s, so a
    call leaving up to 0.1 s late cannot put rps + 1 calls into one second at the panel."""
    rate = panel_rate(5)
    assert rate.interval == pytest.approx(0.22) and rate.tolerance == 0
    assert panel_rate(0.5).interval == pytest.approx(2.2)
    assert panel_rate(None).interval == pytest.approx(0.22)


# ---- without the database: the demo adapter, the registry's refusals -----------------------
def test_demo_orders_parse_like_perfect_panel():
    now = dt.datetime(2025, 6, 1, 12, 0, 0)
    adapter = DemoPanelAdapter(now=now)
    result = adapter.get_orders([*SAMPLE_ORDER_IDS, "1", "x"], username=DEMO_USERNAME)
    assert list(result.orders) == list(SAMPLE_ORDER_IDS)
    assert result.missing == ["x", "1"] and result.calls == 0
    first = result.orders["2274209"]
    assert (first.status, first.username, first.provider, first.service_id) == (
        "completed", DEMO_USERNAME, "demoprovider.example", "101")
    assert first.created_at == now - dt.timedelta(days=5) and first.panel_now is None
    assert (first.start_count, first.remains, first.quantity) == (3572, 0, 1000)
    assert {o.status for o in result.orders.values()} == {
        "completed", "partial", "in_progress", "pending", "canceled"}


def test_adapter_for_unknown_type():
    class Connection:
        panel_type = "wordpress"

    with pytest.raises(PanelError) as caught:
        adapter_for(Connection())
    assert caught.value.kind == "unsupported"


def test_detect_needs_an_http_url():
    assert not detect("panel.example", "key-1234").ok
