"""The REST resources `workspace` and `subscription` (app/views/saas_api.py) over HTTP.

The master admin lists, shows, adds and edits both, suspends and resumes a workspace with its
`status`; a member's key reads only its own workspace (and a manager its own subscriptions) and
may write neither; bad input (unknown status, unknown plan or workspace, another workspace's
ids) answers 400/404/422 with a message naming what is wrong, never 500; payment ids never leave.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Subscription, Workspace

PAYMENT_ID = "sub_runtime_SECRET_9f8e7d"


@pytest.fixture
def world(factory, redis_conn):
    plan = factory.plan("pro", name="Pro")
    acme = factory.workspace("acme", plan_id=plan.id)
    other = factory.workspace("other", plan_id=plan.id)
    third = factory.workspace("third")  # no subscription yet
    manager = factory.member(acme, "acme-manager")
    agent = factory.member(acme, "acme-agent", "agent")
    admin = factory.admin("root")
    acme_sub = factory.commit(Subscription(workspace_id=acme.id, plan_id=plan.id,
                                           status="active", stripe_subscription_id=PAYMENT_ID))
    other_sub = factory.commit(Subscription(workspace_id=other.id, plan_id=plan.id,
                                            status="trialing"))
    return {"plan": plan.id, "acme": acme.id, "other": other.id, "third": third.id,
            "acme_sub": acme_sub.id,
            "other_sub": other_sub.id, "admin": factory.api_key(admin),
            "manager": factory.api_key(manager), "agent": factory.api_key(agent)}


def call(client, method, url, key, **kwargs):
    return client.open(url, method=method, headers={"X-API-Key": key}, **kwargs)


def stored(model, pk):
    db.session.remove()
    return db.session.get(model, pk)


# --- workspace ---------------------------------------------------------------------------------

def test_the_master_admin_lists_adds_edits_suspends_and_resumes(client, world):
    key = world["admin"]
    listed = call(client, "GET", "/api/v1/workspace/", key).json
    assert {row["slug"] for row in listed["result"]} == {"acme", "other", "third"}
    assert listed["count"] == 3
    row = next(r for r in listed["result"] if r["slug"] == "acme")
    assert row["plan"] == {"id": world["plan"], "label": "Pro"} and row["status"] == "active"
    assert "config_version" not in row

    added = call(client, "POST", "/api/v1/workspace/", key,
                 json={"slug": "zeta", "name": "Zeta SMM", "plan": world["plan"],
                       "language": "tr", "timezone": "Europe/Istanbul"})
    assert added.status_code == 201, added.json
    zeta = added.json["id"]
    assert stored(Workspace, zeta).status == "active"

    suspended = call(client, "PUT", f"/api/v1/workspace/{zeta}", key,
                     json={"status": "suspended", "suspended_reason": "Invoice 12 unpaid"})
    assert suspended.status_code == 200, suspended.json
    row = stored(Workspace, zeta)
    assert (row.status, row.suspended_reason, row.name) == ("suspended", "Invoice 12 unpaid",
                                                            "Zeta SMM")
    shown = call(client, "GET", f"/api/v1/workspace/{zeta}", key).json["result"]
    assert shown["status"] == "suspended" and shown["suspended_reason"] == "Invoice 12 unpaid"

    resumed = call(client, "PUT", f"/api/v1/workspace/{zeta}", key, json={"status": "active"})
    assert resumed.status_code == 200, resumed.json
    row = stored(Workspace, zeta)
    assert (row.status, row.suspended_reason, row.language) == ("active", None, "tr")

    filtered = call(client, "GET", "/api/v1/workspace/?q=(filters:!((col:status,opr:eq,"
                                   "value:active)))", key).json
    assert filtered["count"] == 4
    assert call(client, "DELETE", f"/api/v1/workspace/{zeta}", key).status_code in (403, 405)
    assert stored(Workspace, zeta) is not None


@pytest.mark.parametrize("body, field, words", [
    ({"status": "closed"}, "status", "Must be one of"),
    ({"plan": 987654}, "plan", ""),
    ({"slug": "Not A Slug!"}, "slug", ""),
    ({"language": "xx-yy-zz"}, "language", ""),
    ({"timezone": "Mars/Olympus"}, "timezone", ""),
    ({"name": ""}, "name", ""),
])
def test_bad_workspace_input_is_refused_naming_the_field(client, world, body, field, words):
    key = world["admin"]
    before = stored(Workspace, world["acme"])
    snapshot = (before.slug, before.name, before.status, before.plan_id, before.language,
                before.timezone)
    answer = call(client, "PUT", f"/api/v1/workspace/{world['acme']}", key, json=body)
    assert answer.status_code in (400, 422), (answer.status_code, answer.json)
    message = answer.json["message"]
    assert isinstance(message, dict) and field in message, message
    assert words in str(message[field])
    after = stored(Workspace, world["acme"])
    assert (after.slug, after.name, after.status, after.plan_id, after.language,
            after.timezone) == snapshot

    new = {"slug": "fresh", "name": "Fresh", **body}
    answer = call(client, "POST", "/api/v1/workspace/", key, json=new)
    assert answer.status_code in (400, 422) and field in answer.json["message"], answer.json
    assert db.session.query(Workspace).filter_by(name="Fresh").count() == 0


def test_a_duplicate_slug_and_a_missing_workspace(client, world):
    key = world["admin"]
    answer = call(client, "POST", "/api/v1/workspace/", key, json={"slug": "acme", "name": "X"})
    assert answer.status_code == 422 and "slug" in answer.json["message"], answer.json
    assert call(client, "GET", "/api/v1/workspace/987654", key).status_code == 404
    assert call(client, "PUT", "/api/v1/workspace/987654", key,
                json={"status": "active"}).status_code == 404
    answer = call(client, "POST", "/api/v1/workspace/", key, data="{not json",
                  content_type="application/json")
    assert answer.status_code == 400


@pytest.mark.parametrize("who", ["manager", "agent"])
def test_a_member_reads_only_their_own_workspace(client, world, who):
    key = world[who]
    listed = call(client, "GET", "/api/v1/workspace/", key).json
    assert [row["slug"] for row in listed["result"]] == ["acme"] and listed["count"] == 1
    assert call(client, "GET", f"/api/v1/workspace/{world['acme']}", key).status_code == 200
    assert call(client, "GET", f"/api/v1/workspace/{world['other']}", key).status_code == 404
    for method, url, body in (
            ("PUT", f"/api/v1/workspace/{world['acme']}", {"status": "active"}),
            ("PUT", f"/api/v1/workspace/{world['other']}", {"status": "suspended"}),
            ("POST", "/api/v1/workspace/", {"slug": "mine", "name": "Mine"})):
        assert call(client, method, url, key, json=body).status_code == 403
    assert stored(Workspace, world["other"]).status == "active"
    assert db.session.query(Workspace).filter_by(slug="mine").count() == 0
    assert call(client, "GET", "/api/v1/workspace/", "rdk_wrong").status_code == 401


# --- subscription ------------------------------------------------------------------------------

def test_the_master_admin_adds_and_edits_subscriptions(client, world):
    key = world["admin"]
    listed = call(client, "GET", "/api/v1/subscription/", key).json
    assert {row["workspace"]["label"] for row in listed["result"]} == {"Acme", "Other"}
    added = call(client, "POST", "/api/v1/subscription/", key,
                 json={"workspace": world["third"], "plan": world["plan"],
                       "status": "pending_payment", "interval": "year",
                       "amount_cents": 19000, "currency": "EUR",
                       "current_period_end": "2027-01-31T00:00:00",
                       "stripe_customer_id": "cus_SECRET_123456"})
    assert added.status_code == 201, added.json
    assert "cus_SECRET_123456" not in added.get_data(as_text=True)
    row = stored(Subscription, added.json["id"])
    assert (row.workspace_id, row.status, row.stripe_customer_id) == (
        world["third"], "pending_payment", "cus_SECRET_123456")
    assert (row.interval, row.amount_cents, row.currency) == ("year", 19000, "EUR")
    second = call(client, "POST", "/api/v1/subscription/", key,
                  json={"workspace": world["third"], "plan": world["plan"]})
    assert second.status_code == 422 and "workspace" in second.json["message"], second.json

    edited = call(client, "PUT", f"/api/v1/subscription/{row.id}", key,
                  json={"status": "active"})
    assert edited.status_code == 200, edited.json
    assert stored(Subscription, row.id).status == "active"
    assert stored(Subscription, row.id).stripe_customer_id == "cus_SECRET_123456"

    shown = call(client, "GET", f"/api/v1/subscription/{world['acme_sub']}", key)
    assert shown.status_code == 200
    assert PAYMENT_ID not in shown.get_data(as_text=True)
    assert shown.json["result"]["stripe_subscription_id_masked"].endswith(PAYMENT_ID[-4:])


@pytest.mark.parametrize("body, field", [
    ({"status": "paid_forever"}, "status"),
    ({"plan": 987654}, "plan"),
    ({"workspace": 987654}, "workspace"),
    ({"current_period_end": "next tuesday"}, "current_period_end"),
    ({"interval": "weekly"}, "interval"),
    ({"amount_cents": -5}, "amount_cents"),
    ({"currency": "usd"}, "currency"),
])
def test_bad_subscription_input_is_refused(client, world, body, field):
    key = world["admin"]
    new = {"workspace": world["third"], "plan": world["plan"], "status": "active", **body}
    answer = call(client, "POST", "/api/v1/subscription/", key, json=new)
    assert answer.status_code in (400, 422), (answer.status_code, answer.json)
    assert list(answer.json["message"]) == [field], answer.json
    assert db.session.query(Subscription).count() == 2
    edit = {k: v for k, v in body.items() if k != "workspace"}
    if edit:
        answer = call(client, "PUT", f"/api/v1/subscription/{world['acme_sub']}", key, json=edit)
        assert answer.status_code in (400, 422) and field in answer.json["message"]
        assert stored(Subscription, world["acme_sub"]).status == "active"


def test_a_manager_reads_only_their_own_subscription(client, world):
    key = world["manager"]
    listed = call(client, "GET", "/api/v1/subscription/", key)
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json["result"]] == [world["acme_sub"]]
    assert PAYMENT_ID not in listed.get_data(as_text=True)
    assert call(client, "GET", f"/api/v1/subscription/{world['other_sub']}",
                key).status_code == 404
    for method, url, body in (
            ("POST", "/api/v1/subscription/", {"workspace": world["acme"],
                                                "plan": world["plan"], "status": "active"}),
            ("PUT", f"/api/v1/subscription/{world['acme_sub']}", {"status": "canceled"}),
            ("PUT", f"/api/v1/subscription/{world['other_sub']}", {"status": "canceled"})):
        assert call(client, method, url, key, json=body).status_code == 403
    assert stored(Subscription, world["acme_sub"]).status == "active"
    assert call(client, "GET", "/api/v1/subscription/", world["agent"]).status_code == 403
