"""FakePerfectPanel answers the docs/external-apis.md §1.2 shapes and variants."""
from __future__ import annotations

import time

import pytest
import requests

from tests.fakes.perfectpanel import FakePerfectPanel

T = 2
KEY = {"X-Api-Key": "pp-admin-key"}


def get(fake, path, headers=KEY, **params):
    return requests.get(fake.api_url + path, headers=headers, params=params, timeout=T)


def post(fake, path, body, headers=KEY):
    return requests.post(fake.api_url + path, headers=headers, json=body, timeout=T)


@pytest.mark.parametrize("base_path", ["/adminapi/v2", "/admin/adminapi/v2"])
def test_order_by_id_in_the_envelope_on_either_base_path(base_path):
    with FakePerfectPanel(base_path=base_path) as fake:
        fake.add_order(2274209, user="alice", created="2025-05-15 04:36:03",
                       external_id="EXT-88231", actions={"refill": True,
                                                         "cancel_and_refund": True})
        answer = get(fake, "/orders/2274209")
        assert answer.status_code == 200
        assert answer.json() == {"data": {
            "id": 2274209, "user": "alice", "service_id": 1,
            "service_name": "Instagram Followers [30 Days Refill] Start: 0-1 Hour",
            "link": "https://instagram.com/alice", "quantity": 1000, "start_count": 3572,
            "remains": 0, "charge": "0.27819", "status": "completed", "provider": "smmrush.com",
            "external_id": "EXT-88231", "created": "2025-05-15 04:36:03",
            "last_update": "2025-05-15 04:36:03",
            "actions": {"refill": True, "cancel_and_refund": True}},
            "error_code": 0, "error_message": ""}
        other = "/admin/adminapi/v2" if base_path == "/adminapi/v2" else "/adminapi/v2"
        wrong = requests.get(fake.url + other + "/orders/2274209", headers=KEY, timeout=T)
        assert wrong.status_code == 404 and wrong.text.startswith("<!DOCTYPE html>")
        assert fake.requests.last.headers["X-Api-Key"] == "pp-admin-key"


def test_variant_shapes():
    with FakePerfectPanel(status_style="numeric", provider_style="object",
                          charge_style="object", created_style="unix",
                          quantity_key="count") as fake:
        fake.add_order(7, status="Partial", created="2025-05-15 04:36:03")
        data = get(fake, "/orders/7").json()["data"]
    assert (data["status"], data["status_name"]) == (3, "Partial")
    assert data["provider"] == {"name": "smmrush.com"}
    assert data["charge"] == {"value": "0.27819"}
    assert data["created"] == 1747283763 and data["count"] == 1000 and "quantity" not in data


def test_completed_is_2_and_lower_case_strings(fake_perfectpanel):
    fake_perfectpanel.add_order(1, status="Completed")
    fake_perfectpanel.add_order(2, status="In progress")
    assert get(fake_perfectpanel, "/orders/1").json()["data"]["status"] == "completed"
    assert get(fake_perfectpanel, "/orders/2").json()["data"]["status"] == "in_progress"
    fake_perfectpanel.status_style = "numeric"
    data = get(fake_perfectpanel, "/orders/1").json()["data"]
    assert (data["status"], data["status_name"]) == (2, "Completed")


def test_failures_come_as_http_200_with_error_code(fake_perfectpanel):
    missing = get(fake_perfectpanel, "/orders/999")
    assert missing.status_code == 200 and missing.json()["error_code"] != 0
    assert missing.json()["data"] is None and missing.json()["error_message"]
    bad_key = get(fake_perfectpanel, "/orders/999", headers={"X-Api-Key": "nope"})
    assert bad_key.status_code == 200 and bad_key.json()["error_code"] == 401
    assert get(fake_perfectpanel, "/orders/1", headers={}).json()["error_code"] == 401


def test_error_http_status_can_be_4xx():
    with FakePerfectPanel(error_http_status=401) as fake:
        assert get(fake, "/orders/1", headers={"X-Api-Key": "x"}).status_code == 401


def test_orders_list_filters_and_pagination(fake_perfectpanel):
    ids = fake_perfectpanel.seed_orders(5, start_id=100, user="alice")
    fake_perfectpanel.add_order(200, user="bob", status="partial", service_id=9,
                                provider="other.net")
    page = get(fake_perfectpanel, "/orders", user="ALICE", limit=2, offset=1,
               sort="date-desc").json()
    assert page["error_code"] == 0 and page["pagination"]["total"] == 5
    assert [o["id"] for o in page["data"]["list"]] == [ids[3], ids[2]]
    assert all(o["user"] == "alice" for o in page["data"]["list"])
    assert [o["id"] for o in get(fake_perfectpanel, "/orders", order_status="partial").json()
            ["data"]["list"]] == [200]
    assert get(fake_perfectpanel, "/orders", service_ids="9,10").json()["pagination"]["total"] == 1
    assert get(fake_perfectpanel, "/orders", provider="other.net").json()["pagination"][
        "total"] == 1
    ascending = get(fake_perfectpanel, "/orders", user="alice", sort="date-asc").json()
    assert [o["id"] for o in ascending["data"]["list"]] == ids
    too_many = get(fake_perfectpanel, "/orders", limit=1001)
    assert too_many.status_code == 200 and too_many.json()["error_code"] == 400
    assert get(fake_perfectpanel, "/orders", limit=1000).json()["error_code"] == 0


def test_pagination_can_sit_inside_data():
    with FakePerfectPanel(pagination_in="data") as fake:
        fake.seed_orders(3)
        body = get(fake, "/orders").json()
    assert "pagination" not in body and body["data"]["pagination"]["total"] == 3


def test_tickets_list_get_reply_add(fake_perfectpanel):
    first = fake_perfectpanel.add_ticket(user="alice", subject="Refill",
                                         messages=[("alice", "2274209 refill")])
    fake_perfectpanel.add_ticket(user="bob", subject="Old", status="closed")
    listing = get(fake_perfectpanel, "/tickets", status="pending", limit=10, offset=0).json()
    assert listing["data"]["list"] == [{"id": first, "subject": "Refill", "user": "alice",
                                        "status": "pending"}]
    assert listing["pagination"]["total"] == 1
    ticket = get(fake_perfectpanel, f"/tickets/{first}").json()["data"]
    assert ticket["subject"] == "Refill" and ticket["user"] == "alice"
    assert [(m["sender_name"], m["message"]) for m in ticket["messages"]] == [
        ("alice", "2274209 refill")]
    reply = post(fake_perfectpanel, f"/tickets/{first}/reply", {"message": "Refill requested."})
    assert reply.json()["error_code"] == 0
    ticket = get(fake_perfectpanel, f"/tickets/{first}").json()["data"]
    assert ticket["messages"][-1] == {**ticket["messages"][-1], "message": "Refill requested.",
                                      "sender_name": "support"}
    assert fake_perfectpanel.requests.filter("POST")[0].json == {"message": "Refill requested."}
    added = post(fake_perfectpanel, "/tickets/add",
                 {"username": "carol", "subject": "Hello", "message": "We refilled it."}).json()
    new_id = added["data"]["id"]
    assert fake_perfectpanel.tickets[new_id]["user"] == "carol"
    assert post(fake_perfectpanel, "/tickets/add", {"username": "x"}).json()["error_code"] == 400
    assert post(fake_perfectpanel, "/tickets/999/reply", {"message": "x"}).json()[
        "error_code"] == 404
    assert requests.post(fake_perfectpanel.api_url + f"/tickets/{first}/close", headers=KEY,
                         timeout=T).status_code == 404


def test_error_next_and_cloudflare(fake_perfectpanel):
    fake_perfectpanel.add_order(1)
    fake_perfectpanel.error_next(105, "Service temporarily unavailable")
    answer = get(fake_perfectpanel, "/orders/1")
    assert answer.status_code == 200
    assert answer.json() == {"data": None, "error_code": 105,
                             "error_message": "Service temporarily unavailable"}
    fake_perfectpanel.cloudflare_next(1)
    challenge = get(fake_perfectpanel, "/orders/1")
    assert challenge.status_code == 403 and "text/html" in challenge.headers["Content-Type"]
    assert "Just a moment..." in challenge.text
    assert get(fake_perfectpanel, "/orders/1").json()["error_code"] == 0


def test_cloudflare_mode_blocks_everything():
    with FakePerfectPanel(cloudflare=True) as fake:
        answer = get(fake, "/orders/1")
        assert answer.status_code == 403 and answer.headers["Server"] == "cloudflare"
        fake.cloudflare = False
        assert get(fake, "/orders/1").headers["Content-Type"] == "application/json"


def test_429_5xx_timeout_garbage(fake_perfectpanel):
    fake_perfectpanel.add_order(1)
    fake_perfectpanel.fail_next(1, 429, retry_after=1)
    answer = get(fake_perfectpanel, "/orders/1")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "1"
    fake_perfectpanel.fail_next(1, 500)
    assert get(fake_perfectpanel, "/orders/1").json()["error_code"] == 500
    fake_perfectpanel.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(fake_perfectpanel.api_url + "/orders/1", headers=KEY, timeout=0.2)
    fake_perfectpanel.garbage_next(1, "truncated")
    with pytest.raises(ValueError):
        get(fake_perfectpanel, "/orders/1").json()


def test_latency_and_request_counter():
    with FakePerfectPanel(latency=0.02) as fake:
        ids = fake.seed_orders(100, user="alice")
        started = time.monotonic()
        for order_id in ids[:5]:
            assert get(fake, f"/orders/{order_id}").json()["data"]["id"] == order_id
        whole = get(fake, "/orders", user="alice", limit=1000).json()
        assert time.monotonic() - started >= 6 * 0.02
        assert len(whole["data"]["list"]) == 100
        assert fake.request_count == 6 and fake.count("GET", "*/orders/*") == 5
