"""FakeSmmApi answers the docs/external-apis.md §1.1 shapes."""
from __future__ import annotations

import pytest
import requests

from tests.fakes.smmapi import FakeSmmApi

T = 2


def call(fake, action, key="user-api-key", **params):
    return requests.post(fake.api_url, data={"key": key, "action": action, **params}, timeout=T)


@pytest.fixture
def api():
    with FakeSmmApi() as fake:
        fake.add_order(1, status="Partial", remains="157")
        fake.add_order(2, status="In progress", service=1)
        fake.add_order(3, status="Completed", service=2)
        yield fake


def test_services_use_strings_for_numbers_and_may_omit_cancel(api):
    services = call(api, "services").json()
    assert services[0] == {"service": 1, "name": "Instagram Followers [30 Days Refill]",
                           "type": "Default", "category": "Instagram Followers", "rate": "0.90",
                           "min": "50", "max": "10000", "refill": True, "cancel": True}
    assert "cancel" not in services[1] and services[1]["dripfeed"] is True
    assert api.requests.last.form == {"key": "user-api-key", "action": "services"}


def test_status_single_and_multi(api):
    assert call(api, "status", order="1").json() == {
        "charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": "157",
        "currency": "USD"}
    assert call(api, "status", order="99").json() == {"error": "Incorrect order ID"}
    multi = call(api, "status", orders="1,99,abc").json()
    assert set(multi) == {"1", "99", "abc"}
    assert multi["1"]["status"] == "Partial"
    assert multi["99"] == multi["abc"] == {"error": "Incorrect order ID"}
    too_many = ",".join(str(i) for i in range(1, 102))
    assert "error" in call(api, "status", orders=too_many).json()


def test_refill_single_multi_and_status(api):
    assert call(api, "refill", order="1").json() == {"refill": "1"}
    assert call(api, "refill", orders="1,99").json() == [
        {"order": 1, "refill": 2}, {"order": 99, "refill": {"error": "Incorrect order ID"}}]
    assert "error" in call(api, "refill", order="3").json()        # service 2: no refill
    assert call(api, "refill_status", refill="1").json() == {"status": "Pending"}
    api.set_refill_status(1, "Completed")
    api.set_refill_status(2, "Rejected")
    assert call(api, "refill_status", refill="1").json() == {"status": "Completed"}
    assert call(api, "refill_status", refill="2").json() == {"status": "Rejected"}
    assert "error" in call(api, "refill_status", refill="77").json()


def test_cancel_and_balance(api):
    answer = call(api, "cancel", orders="2,9").json()
    assert answer[0] == {"order": 2, "cancel": 1}
    assert answer[1]["order"] == 9 and "error" in answer[1]["cancel"]
    assert api.cancels == [2]
    assert call(api, "balance").json() == {"balance": "100.84", "currency": "USD"}


def test_capitalised_keys():
    with FakeSmmApi(capitalize_keys=True) as fake:
        fake.add_order(5, status="completed")
        assert call(fake, "status", order="5").json()["Status"] == "completed"
        assert call(fake, "balance").json() == {"Balance": "100.84", "Currency": "USD"}
        assert set(call(fake, "status", orders="5").json()) == {"5"}


def test_errors(api):
    assert call(api, "balance", key="wrong").json() == {"error": "Invalid API key"}
    assert call(api, "nope").json() == {"error": "Incorrect request"}
    as_json = requests.post(api.api_url, json={"key": "user-api-key", "action": "balance"},
                            timeout=T)
    assert as_json.status_code == 200 and "error" in as_json.json()


def test_429_5xx_timeout_garbage(api):
    api.fail_next(1, 429, retry_after=5)
    answer = call(api, "balance")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "5"
    api.fail_next(1, 500)
    assert call(api, "balance").status_code == 500
    api.delay_next(1, seconds=1)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.post(api.api_url, data={"key": "user-api-key", "action": "balance"},
                      timeout=0.2)
    api.garbage_next(1, "cloudflare")
    with pytest.raises(ValueError):
        call(api, "balance").json()
    assert call(api, "balance").json()["balance"] == "100.84"
