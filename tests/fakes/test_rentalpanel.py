"""FakeRentalPanel answers the docs/external-apis.md §1.3 shapes."""
from __future__ import annotations

import datetime as dt
import time

import pytest
import requests

from tests.fakes.rentalpanel import FakeRentalPanel

T = 2
CLOCK = dt.datetime(2025, 6, 1, 12, 0, 0)


def call(fake, key="rp-admin-key", **params):
    return requests.get(fake.api_url, params={"key": key, **params}, timeout=T)


@pytest.fixture
def panel():
    with FakeRentalPanel(clock=CLOCK) as fake:
        fake.add_order(1, username="alice", status="completed", external_id="EXT-1",
                       date="2025-05-20 10:00:00")
        fake.add_order(3, username="bob", status="partial", service="Likes [No Refill]",
                       provider="other.net")
        yield fake


def test_get_orders_by_id_is_one_call_for_many(panel):
    answer = call(panel, action="getOrders-by-id", orders="1,2,3", provider="1")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success"
    assert body["orders"][0] == {
        "id": "1", "username": "alice", "order_status": "completed",
        "service": "Instagram Followers [30 Days Refill] Start: 0-1 Hour",
        "provider": "smmrush.com", "external_id": "EXT-1", "date": "2025-05-20 10:00:00",
        "current_date": "2025-06-01 12:00:00"}
    assert [o["id"] for o in body["orders"]] == ["1", "3"]          # unknown 2 left out
    assert panel.request_count == 1
    assert panel.requests.last.query == {"key": "rp-admin-key", "action": "getOrders-by-id",
                                         "orders": "1,2,3", "provider": "1"}


def test_provider_fields_need_provider_1(panel):
    order = call(panel, action="getOrders-by-id", orders="1").json()["orders"][0]
    assert "provider" not in order and "external_id" not in order
    assert order["current_date"] == "2025-06-01 12:00:00"


def test_current_date_follows_the_panel_clock(panel):
    panel.clock = dt.datetime(2025, 7, 1, 0, 0, 0)
    order = call(panel, action="getOrders-by-id", orders="1").json()["orders"][0]
    assert order["current_date"] == "2025-07-01 00:00:00"


def test_get_orders_is_keyed_by_id(panel):
    assert call(panel, action="getOrders", orders="1,3").json() == {
        "1": {"status": "completed", "user": "alice"},
        "3": {"status": "partial", "user": "bob"}}
    assert set(call(panel, action="getOrders").json()) == {"1", "3"}


def test_errors(panel):
    assert call(panel, key="wrong", action="getOrders").json() == {"error": "bad_auth"}
    assert requests.get(panel.api_url, timeout=T).json() == {"error": "bad_auth"}
    assert call(panel, action="nope").json()["status"] == "fail"
    assert call(panel, action="getOrders-by-id").json()["status"] == "error"
    panel.error_next("maintenance", status_word="fail")
    assert call(panel, action="getOrders").json() == {"status": "fail", "error": "maintenance"}
    assert requests.get(panel.url + "/adminapi/v2/orders/1", timeout=T).status_code == 404


def test_post_form_is_accepted_like_get(panel):
    answer = requests.post(panel.api_url, data={"key": "rp-admin-key", "action": "getOrders",
                                                "orders": "1"}, timeout=T)
    assert answer.json() == {"1": {"status": "completed", "user": "alice"}}


def test_429_5xx_timeout_garbage(panel):
    panel.fail_next(1, 429, retry_after=2)
    answer = call(panel, action="getOrders")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    panel.fail_next(1, 503)
    assert call(panel, action="getOrders").status_code == 503
    panel.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(panel.api_url, params={"key": "rp-admin-key", "action": "getOrders"},
                     timeout=0.2)
    panel.garbage_next(1, "html")
    with pytest.raises(ValueError):
        call(panel, action="getOrders").json()


def test_seed_latency_and_counter():
    with FakeRentalPanel(latency=0.02) as fake:
        ids = fake.seed_orders(100, username="alice")
        started = time.monotonic()
        body = call(fake, action="getOrders-by-id", orders=",".join(map(str, ids)),
                    provider="1").json()
        assert len(body["orders"]) == 100 and fake.request_count == 1
        assert time.monotonic() - started >= 0.02
