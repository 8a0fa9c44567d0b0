"""The public API's contract over real HTTP, as an integration calls it: a gunicorn server
(`live_server`), a real `flask worker` process sending through the fake Green API, a personal
API key in `X-API-Key`. One walk through contacts and messages, then hostile requests."""
from __future__ import annotations

import time

import pytest
import requests

from tests.browser.test_onboarding_journey import worker

pytestmark = pytest.mark.browser

CHAT = "79001234568@c.us"


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] is True and body["code"] == code and body["message"], body
    return body


def test_contacts_and_messages_over_http(live_server, factory, fake_greenapi, artifacts_dir,
                                         tmp_path):
    plan = factory.plan(api_requests_per_minute=100)
    workspace = factory.workspace("apiland", plan_id=plan.id)
    factory.channel(workspace, kind="greenapi", name="Main", api_url=fake_greenapi.url,
                    id_instance=fake_greenapi.id_instance, api_token=fake_greenapi.api_token)
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "apiland-manager"))}
    api = requests.Session()
    base = f"{live_server}/api/v1"

    created = api.post(f"{base}/contacts", headers=key, json={
        "name": "Ana", "phone": "+7 900 123-45-68", "tags": ["vip"],
        "customFields": {"panel_user": "ana2026"}}, timeout=10)
    assert created.status_code == 201, created.text
    contact = created.json()
    assert (contact["phone"], contact["tags"], contact["optedOut"]) == (
        "79001234568", ["vip"], False)
    assert int(created.headers["X-RateLimit-Remaining"]) < int(created.headers["X-RateLimit-Limit"])

    listed = api.get(f"{base}/contacts", headers=key, params={"tag": "vip", "perPage": 5},
                     timeout=10).json()
    assert (listed["total"], listed["perPage"], listed["data"][0]["id"]) == (1, 5, contact["id"])
    renamed = api.put(f"{base}/contacts/{contact['id']}", headers=key, json={"name": "Ana S."},
                      timeout=10).json()
    assert renamed["name"] == "Ana S." and renamed["customFields"] == {"panel_user": "ana2026"}

    sent = api.post(f"{base}/messages/send", headers=key, json={
        "to": contact["phone"], "type": "text", "text": "Your order is on its way"}, timeout=10)
    assert sent.status_code == 201, sent.text
    message = sent.json()
    assert message["status"] == "queued"
    with worker(tmp_path, artifacts_dir / "public-api-worker.log"):
        deadline = time.monotonic() + 30
        while not fake_greenapi.messages_to(CHAT) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert fake_greenapi.messages_to(CHAT) == ["Your order is on its way"]
    thread = api.get(f"{base}/messages/{message['conversationId']}", headers=key,
                     timeout=10).json()
    assert [(m["id"], m["direction"], m["status"]) for m in thread["data"]] == [
        (message["messageId"], "out", "sent")]

    assert api.delete(f"{base}/contacts/{contact['id']}", headers=key,
                      timeout=10).status_code == 204
    error_of(api.get(f"{base}/contacts/{contact['id']}", headers=key, timeout=10), 404,
             "NOT_FOUND")


def test_hostile_requests_get_the_error_shape(live_server, factory):
    workspace = factory.workspace("hostile")
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "hostile-manager"))}
    base = f"{live_server}/api/v1"
    error_of(requests.get(f"{base}/contacts", timeout=10), 401, "UNAUTHORIZED")
    error_of(requests.get(f"{base}/contacts", headers={"X-API-Key": "x" * 5000}, timeout=10),
             401, "UNAUTHORIZED")
    error_of(requests.post(f"{base}/contacts", headers={**key, "Content-Type": "application/json"},
                           data=b"{\"name\": ", timeout=10), 400, "BAD_REQUEST")
    error_of(requests.post(f"{base}/contacts", headers=key,
                           json={"name": "<script>alert(1)</script>", "phone": "' OR 1=1 --"},
                           timeout=10), 400, "VALIDATION_ERROR")
    stored = requests.post(f"{base}/contacts", headers=key,
                           json={"name": "<img src=x onerror=alert(1)>"}, timeout=10)
    assert stored.status_code == 201 and stored.json()["name"] == "<img src=x onerror=alert(1)>"
    assert stored.headers["Content-Type"].startswith("application/json")
    huge = requests.post(f"{base}/messages/send", headers=key,
                         json={"to": "79001234568", "text": "x" * 30_000_000}, timeout=30)
    assert huge.status_code in (400, 413), huge.status_code
    assert huge.json()["error"] is True
    error_of(requests.get(f"{base}/messages/1%00", headers=key, timeout=10), 404, "NOT_FOUND")
    error_of(requests.patch(f"{base}/contacts", headers=key, json={}, timeout=10), 405,
             "METHOD_NOT_ALLOWED")
