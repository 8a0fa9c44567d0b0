"""`GET /api/v1/onboarding` (issue 15, point 3): the checklist of the reader's workspace, each
item ticked from real state: a channel that answered or received a webhook, a panel call that
succeeded, an enabled route, a linked customer, a command that ran, service rules in use."""
from __future__ import annotations

from app.extensions import db
from app.models import Channel, ExternalCall, PanelConnection, ProviderRoute
from app.models.base import utcnow
from tests.integration.test_home import ran_a_command

API = "/api/v1/onboarding"
KEYS = ["channel", "panel", "routes", "linked_user", "test_command", "service_rules"]


def ticked(answer) -> set[str]:
    return {item["key"] for item in answer.json["items"] if item["done"]}


def test_a_new_workspace_has_nothing_ticked_and_a_link_for_each(factory, client):
    ws = factory.workspace("fresh")
    key = factory.api_key(factory.member(ws, "fresh-manager", "manager"))
    answer = client.get(API, headers={"X-API-Key": key})
    assert answer.status_code == 200
    assert [item["key"] for item in answer.json["items"]] == KEYS
    assert (answer.json["done"], answer.json["total"]) == (0, 6)
    assert all(item["link"].startswith("/") for item in answer.json["items"])


def test_each_item_follows_real_state(factory, client):
    ws = factory.workspace("acme")
    key = {"X-API-Key": factory.api_key(factory.member(ws, "acme-manager", "manager"))}
    channel = factory.channel(ws, name="WhatsApp", status="unknown")
    panel = factory.panel(ws, panel_type="perfectpanel_v2", status="unknown")
    provider = factory.provider(ws, name="prov", domains="prov.example")
    route = factory.route(provider, channel)
    route.enabled = False
    db.session.commit()
    assert ticked(client.get(API, headers=key)) == set()

    channel.status = "ok"  # its connection test passed
    route.enabled = True
    factory.linked_user(ws, username="cust")
    db.session.add(ExternalCall(workspace_id=ws.id, service="panel:perfectpanel_v2",
                                operation="orders", method="GET", url="https://p.example",
                                outcome="ok", at=utcnow()))
    db.session.commit()
    assert ticked(client.get(API, headers=key)) == {"channel", "panel", "routes",
                                                    "linked_user"}
    ran_a_command(db, channel)
    panel.service_rules_mode = "cached"
    db.session.commit()
    answer = client.get(API, headers=key)
    assert ticked(answer) == set(KEYS) and answer.json["done"] == 6


def test_a_failed_panel_call_or_a_disabled_channel_does_not_count(factory, client):
    ws = factory.workspace("acme")
    key = {"X-API-Key": factory.api_key(factory.member(ws, "acme-manager", "manager"))}
    factory.channel(ws, name="Off", status="ok", enabled=False)
    factory.panel(ws, panel_type="perfectpanel_v2", status="error")
    db.session.add(ExternalCall(workspace_id=ws.id, service="panel:perfectpanel_v2",
                                operation="orders", method="GET", url="https://p.example",
                                outcome="permanent", at=utcnow()))
    db.session.add(ExternalCall(workspace_id=ws.id, service="greenapi", operation="send",
                                method="POST", url="https://g.example", outcome="ok",
                                at=utcnow()))
    db.session.commit()
    assert ticked(client.get(API, headers=key)) == set()


def test_another_workspaces_state_never_counts(factory, client):
    factory.populated_workspace("other")
    other_channel = db.session.query(Channel).first()
    other_channel.status = "ok"
    ran_a_command(db, other_channel)
    ws = factory.workspace("mine")
    key = {"X-API-Key": factory.api_key(factory.member(ws, "mine-manager", "manager"))}
    assert ticked(client.get(API, headers=key)) == set()
    # naming the other workspace tells nothing about it: the same answer as a made-up name
    answer = client.get(f"{API}?workspace=other", headers=key)
    made_up = client.get(f"{API}?workspace=zzz", headers=key)
    assert answer.status_code == made_up.status_code == 404
    assert answer.json["message"].replace("other", "zzz") == made_up.json["message"]


def test_the_master_admin_names_the_workspace(factory, client):
    ws, _manager = factory.populated_workspace("acme")
    key = {"X-API-Key": factory.api_key(factory.admin("root"))}
    assert client.get(API, headers=key).status_code == 400
    assert client.get(f"{API}?workspace=nope", headers=key).status_code == 404
    answer = client.get(f"{API}?workspace=acme", headers=key)
    assert answer.status_code == 200 and "linked_user" in ticked(answer)
    assert client.get(f"{API}?workspace=" + "x" * 5000, headers=key).status_code == 400


def test_an_agent_reads_it_and_strangers_do_not(factory, client, auth):
    ws = factory.workspace("acme")
    agent = factory.member(ws, "acme-agent", "agent")
    assert client.get(API).status_code == 401
    assert client.get(API, headers={"X-API-Key": "not-a-key"}).status_code == 401
    auth.login(agent.username)  # the browser session works too
    assert client.get(API).status_code == 200


def test_the_demo_panel_counts_once_connected(factory, client):
    ws = factory.workspace("demo-like")
    key = {"X-API-Key": factory.api_key(factory.member(ws, "d-manager", "manager"))}
    db.session.add(PanelConnection(workspace_id=ws.id, panel_type="demo", url=""))
    db.session.commit()
    assert ticked(client.get(API, headers=key)) == {"panel"}
    assert db.session.query(ProviderRoute).count() == 0
