"""The demo panel: fixed sample orders in Perfect Panel v2 shape, times relative to its clock."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from app.integrations.panels.demo import (DEMO_PROVIDER_DOMAIN, DEMO_USERNAME, OTHER_USERNAME,
                                          PANEL_TIME_FORMAT, SAMPLE_ORDER_IDS, DemoPanel)

NOW = datetime(2025, 6, 1, 12, 0, 0)
ORDER_KEYS = {"id", "user", "service_id", "service_name", "link", "quantity", "start_count",
              "remains", "charge", "status", "provider", "external_id", "created", "last_update"}


@pytest.fixture
def panel() -> DemoPanel:
    return DemoPanel(now=NOW)


def created(order: dict) -> datetime:
    return datetime.strptime(order["created"], PANEL_TIME_FORMAT)


def all_orders(panel: DemoPanel) -> dict[str, dict]:
    return panel.get_orders(list(SAMPLE_ORDER_IDS))


def test_a_dozen_orders_in_perfect_panel_v2_shape(panel):
    orders = all_orders(panel)
    assert 10 <= len(orders) <= 14
    for order_id, order in orders.items():
        assert set(order) == ORDER_KEYS
        assert order_id == str(order["id"]) and order_id.startswith("22742")
        assert order["provider"] == DEMO_PROVIDER_DOMAIN
        assert order["external_id"].startswith("EXT-")
        assert order["start_count"].isdigit() and order["remains"].isdigit()  # strings, as sent
    assert "2274209" in orders and orders["2274209"]["external_id"] == "EXT-88231"
    assert len({o["external_id"] for o in orders.values()}) == len(orders)


def test_statuses_and_guarantees_cover_the_real_cases(panel):
    orders = all_orders(panel).values()
    assert {o["status"] for o in orders} == {"Completed", "Partial", "In progress", "Pending",
                                            "Canceled"}
    names = " ".join(o["service_name"] for o in orders)
    for wording in ("30 Days Refill", "Lifetime", "No Refill", "Start: 0-1 Hour"):
        assert wording in names


def test_most_orders_belong_to_the_demo_customer_and_two_to_someone_else(panel):
    users = [o["user"] for o in all_orders(panel).values()]
    assert users.count(OTHER_USERNAME) == 2
    assert users.count(DEMO_USERNAME) == len(users) - 2


def test_times_are_relative_to_the_panel_clock_so_windows_mean_something(panel):
    orders = all_orders(panel)
    assert created(orders["2274209"]) == NOW - timedelta(days=5)  # inside a 30-day window
    assert created(orders["2274215"]) < NOW - timedelta(days=30)  # its 30-day window is over
    assert created(orders["2274217"]) > NOW - timedelta(hours=1)  # placed minutes ago
    assert panel.current_date == "2025-06-01 12:00:00"
    for order in orders.values():
        last_update = datetime.strptime(order["last_update"], PANEL_TIME_FORMAT)
        assert created(order) <= last_update <= NOW


def test_the_default_clock_is_now():
    before = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    order = DemoPanel().get_orders(["2274209"])["2274209"]
    after = datetime.now(UTC).replace(tzinfo=None)
    assert before - timedelta(days=5) <= created(order) <= after - timedelta(days=5)


def test_an_aware_clock_is_read_as_utc():
    aware = datetime(2025, 6, 1, 15, 0, 0, tzinfo=timezone(timedelta(hours=3)))
    assert DemoPanel(now=aware).get_orders(["2274209"]) == DemoPanel(now=NOW).get_orders(
        ["2274209"])


def test_same_clock_same_answers():
    assert all_orders(DemoPanel(now=NOW)) == all_orders(DemoPanel(now=NOW))


def test_get_orders_answers_known_ids_only_keyed_as_asked(panel):
    answer = panel.get_orders([" 2274209 ", "2274219", "999", "abc", "2274209"])
    assert set(answer) == {"2274209", "2274219"}
    assert answer["2274219"]["user"] == OTHER_USERNAME
    assert panel.get_orders([]) == {}


def test_answers_are_copies(panel):
    panel.get_orders(["2274209"])["2274209"]["status"] = "Canceled"
    panel.services()[0]["name"] = "changed"
    assert panel.get_orders(["2274209"])["2274209"]["status"] == "Completed"
    assert panel.services()[0]["name"] != "changed"


def test_services_in_reseller_api_shape_and_matching_the_orders(panel):
    services = panel.services()
    by_id = {s["service"]: s for s in services}
    assert len(by_id) == len(services)
    for service in services:
        assert {"service", "name", "type", "category", "rate", "min", "max", "refill"} <= set(
            service)
        float(service["rate"])
    for order in all_orders(panel).values():
        assert by_id[order["service_id"]]["name"] == order["service_name"]
    no_refill = [s for s in services if "No Refill" in s["name"] or "Non Refill" in s["name"]]
    assert no_refill and not any(s["refill"] for s in no_refill)


def test_charges_follow_what_was_delivered(panel):
    orders = all_orders(panel)
    assert float(orders["2274216"]["charge"]) == 0  # canceled: refunded
    full = float(orders["2274209"]["charge"])  # 1000 × 0.90 / 1000
    assert full == pytest.approx(0.9)
    partial = orders["2274212"]  # 2000 ordered, 157 remain
    assert float(partial["charge"]) == pytest.approx(0.9 * (2000 - 157) / 1000)
