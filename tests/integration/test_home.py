"""The home page's "Getting started" checklist: each step links to the screen that completes it,
done steps are ticked, the next step is the first step not done (the Playground once all are)."""
from __future__ import annotations

import re

from app.models import Channel, CommandLog, InboundEvent
from app.models.base import utcnow


def steps(html: str) -> dict[str, dict]:
    found = {}
    for key, _css, body in re.findall(
            r'<li data-step="(\w+)" class="([^"]*)">(.*?)</li>', html, re.S):
        link = re.search(r'<a href="([^"]+)">', body)
        found[key] = {"done": "fa-check-square-o" in body, "url": link[1] if link else None}
    return found


def next_step(html: str) -> tuple[str, str] | None:
    match = re.search(r'id="next-step" data-step="(\w+)">.*?href="([^"]+)"', html, re.S)
    return (match[1], match[2]) if match else None


def ran_a_command(db, channel) -> None:
    event = InboundEvent(workspace_id=channel.workspace_id, channel_id=channel.id,
                         platform="greenapi", kind="message", type="incomingMessageReceived",
                         dedupe_key=f"test-{channel.id}", chat_id="1@c.us", text="123456 refill",
                         payload={}, state="done")
    db.session.add(event)
    db.session.flush()
    db.session.add(CommandLog(workspace_id=channel.workspace_id, inbound_event_id=event.id,
                              channel_id=channel.id, chat_id="1@c.us", text="123456 refill",
                              state="done"))
    db.session.commit()


def test_new_workspace_links_every_step_and_suggests_the_first(factory, auth, client):
    ws = factory.workspace("fresh")
    manager = factory.member(ws, "fresh-manager", "manager")
    auth.login(manager.username)
    html = client.get("/").get_data(as_text=True)
    found = steps(html)
    assert list(found) == ["channel", "panel", "routes", "linked_user", "test_command",
                           "service_rules"]
    assert not any(step["done"] for step in found.values())
    assert {key: step["url"] for key, step in found.items()} == {
        "channel": "/channelview/list/", "panel": "/panelconnectionview/list/",
        "routes": "/providerrouteview/list/", "linked_user": "/linkeduserview/list/",
        "test_command": "/playground/", "service_rules": "/serviceruleview/list/"}
    for step in found.values():  # every link opens
        assert client.get(step["url"]).status_code == 200, step
    assert next_step(html) == ("channel", "/channelview/list/")
    assert re.search(r'id="setup-progress">\s*0 of 6 done', html)


def test_done_steps_are_ticked_and_the_next_one_suggested(factory, auth, client, db):
    ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    found = steps(client.get("/").get_data(as_text=True))
    # the factory's channel never answered nor received anything; no command ran yet
    assert {k for k, s in found.items() if s["done"]} == {
        "panel", "routes", "linked_user", "service_rules"}
    html = client.get("/").get_data(as_text=True)
    assert next_step(html) == ("channel", "/channelview/list/")

    channel = db.session.query(Channel).filter_by(workspace_id=ws.id).first()
    channel.last_webhook_at = utcnow()
    ran_a_command(db, channel)
    html = client.get("/").get_data(as_text=True)
    assert all(step["done"] for step in steps(html).values())
    assert next_step(html) == ("playground", "/playground/")


def test_demo_workspace_suggests_its_first_unticked_step(app, client, auth):
    from app.demo import DEMO_MANAGER, ensure_demo_workspace
    from tests.factories import password_for

    with app.app_context():
        result = ensure_demo_workspace()
        app.appbuilder.sm.reset_password(
            app.appbuilder.sm.find_user(username=DEMO_MANAGER).id, password_for(DEMO_MANAGER))
    assert result.manager_username == DEMO_MANAGER
    auth.login(DEMO_MANAGER)
    html = client.get("/").get_data(as_text=True)
    found = steps(html)
    assert not found["test_command"]["done"]
    first_open = next(key for key, step in found.items() if not step["done"])
    assert next_step(html) == (first_open, found[first_open]["url"])
    assert next_step(html)[0] != "playground"


def test_step_texts_are_clean_link_texts_with_a_hint(factory, auth, client):
    ws = factory.workspace("fresh")
    manager = factory.member(ws, "fresh-manager", "manager")
    auth.login(manager.username)
    html = client.get("/").get_data(as_text=True)
    body = re.search(r'<li data-step="channel"[^>]*>(.*?)</li>', html, re.S)[1]
    link = re.search(r"<a [^>]*>(.*?)</a>", body, re.S)[1]
    assert link == "Connect a WhatsApp or Telegram channel"
    assert "its first webhook arrives" in re.sub(r"<[^>]+>", "", body)


def test_an_agent_sees_the_steps_without_links_to_forms_they_cannot_use(factory, auth, client):
    ws = factory.workspace("acme")
    agent = factory.member(ws, "acme-agent", "agent")
    auth.login(agent.username)
    found = steps(client.get("/").get_data(as_text=True))
    assert found["panel"]["url"] is None  # the panel connection is the manager's only
    for step in found.values():
        if step["url"]:
            assert client.get(step["url"]).status_code == 200, step


def test_master_admin_gets_no_workspace_checklist(factory, auth, client):
    factory.populated_workspace("acme")
    auth.login(factory.admin("root").username)
    html = client.get("/").get_data(as_text=True)
    assert 'id="setup-checklist"' not in html and 'id="next-step"' not in html
