"""Automatic chat detection (Telegram my_chat_member) and group → supergroup migration.

Updates are posted to the real webhook with the channel's secret token and processed with
`process_event`; managers act through the real screens (signed in with AuthActions).
"""
from __future__ import annotations

import json

import pytest
from markupsafe import escape

from app.extensions import db
from app.jobs.events import migrate_chat, process_event
from app.models import (AdminIdentity, ChatIdentity, DetectedChat, InboundEvent, ProviderRoute)
from app.tenancy import workspace_scope
from tests.fakes import telegram as tg

OLD = str(tg.GROUP_CHAT_ID)  # -987654321
NEW = str(tg.SUPERGROUP_CHAT_ID)  # -1001234567890: beyond 32 bits


@pytest.fixture
def acme(factory, redis_conn):
    workspace = factory.workspace("acme")
    channel = factory.channel(workspace, kind="telegram", name="Support bot")
    return workspace, channel


def post_update(client, channel, update) -> list[str]:
    response = client.post(f"/webhooks/telegram/{channel.bot_id}", data=json.dumps(update),
                           headers=tg.webhook_headers(channel.secret_token))
    assert response.status_code == 200, response.data
    ids = [i for (i,) in db.session.query(InboundEvent.id)
           .filter(InboundEvent.state == "pending").order_by(InboundEvent.id)]
    outcomes = [process_event(i) for i in ids]
    db.session.expire_all()
    return outcomes


def detected(channel, chat_id) -> DetectedChat | None:
    db.session.expire_all()
    return (db.session.query(DetectedChat)
            .filter_by(channel_id=channel.id, chat_id=chat_id).one_or_none())


def chat_ids(model, channel) -> list[str]:
    db.session.expire_all()
    return sorted(r.chat_id for r in db.session.query(model).filter_by(channel_id=channel.id))


# --- detection -----------------------------------------------------------------------------------

def test_bot_added_to_a_group_appears_in_detected_chats(client, auth, factory, acme):
    workspace, channel = acme
    outcomes = post_update(client, channel, tg.my_chat_member_update(
        tg.SUPERGROUP_CHAT_ID, title="SMMRush providers", new_status="administrator"))
    assert outcomes == ["membership"]
    chat = detected(channel, NEW)
    assert chat is not None and chat.workspace_id == workspace.id
    assert chat.title == "SMMRush providers" and chat.chat_type == "supergroup"
    assert chat.member_status == "administrator"

    factory.member(workspace, "acme-manager")
    auth.login("acme-manager")
    page = client.get("/detectedchatview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "SMMRush providers" in html and NEW in html


def test_bot_removed_updates_the_detected_chat(client, acme):
    _, channel = acme
    post_update(client, channel, tg.my_chat_member_update(tg.GROUP_CHAT_ID, title="Group"))
    first_seen = detected(channel, OLD).last_seen_at
    post_update(client, channel, tg.my_chat_member_update(
        tg.GROUP_CHAT_ID, title="Group renamed", old_status="member", new_status="kicked"))
    chat = detected(channel, OLD)
    assert chat.member_status == "kicked" and chat.title == "Group renamed"
    assert chat.last_seen_at >= first_seen
    assert db.session.query(DetectedChat).count() == 1


def test_private_chats_are_detected_with_their_type(client, acme):
    _, channel = acme
    post_update(client, channel, tg.my_chat_member_update(tg.PRIVATE_CHAT_ID))
    assert detected(channel, str(tg.PRIVATE_CHAT_ID)).chat_type == "private"


# --- assigning -----------------------------------------------------------------------------------

@pytest.fixture
def managed(client, auth, factory, acme):
    workspace, channel = acme
    post_update(client, channel, tg.my_chat_member_update(
        tg.SUPERGROUP_CHAT_ID, title="SMMRush providers"))
    factory.member(workspace, "acme-manager")
    auth.login("acme-manager")
    return workspace, channel, detected(channel, NEW)


def test_assign_page_lists_this_workspace_choices_only(client, factory, managed):
    workspace, channel, chat = managed
    factory.provider(workspace, name="smmrush")
    factory.linked_user(workspace, username="alice")
    other = factory.workspace("other")
    factory.provider(other, name="foreign-provider")
    factory.linked_user(other, username="foreign-user")
    page = client.get(f"/detectedchatview/assign/{chat.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "smmrush" in html and "alice" in html
    assert "foreign-provider" not in html and "foreign-user" not in html


def test_assign_as_provider_route(client, factory, managed):
    workspace, channel, chat = managed
    provider = factory.provider(workspace, name="smmrush")
    response = client.post(f"/detectedchatview/assign/{chat.id}", data={
        "target": "provider", "provider_id": provider.id, "actions": ["refill", "cancel"],
        "template": "{external_id} {action} please"})
    assert response.status_code == 302
    assert "/providerrouteview/list" in response.headers["Location"]
    db.session.expire_all()
    route = db.session.query(ProviderRoute).one()
    assert route.workspace_id == workspace.id and route.provider_id == provider.id
    assert route.channel_id == channel.id and route.chat_id == NEW
    assert route.action_list == ["refill", "cancel"]
    assert route.template == "{external_id} {action} please"
    page = client.get(response.headers["Location"])
    assert escape(f"{chat.title} now receives smmrush commands.") in page.get_data(as_text=True)


def test_assign_as_linked_user(client, factory, managed):
    workspace, channel, chat = managed
    user = factory.linked_user(workspace, username="alice")
    response = client.post(f"/detectedchatview/assign/{chat.id}",
                           data={"target": "user", "linked_user_id": user.id})
    assert response.status_code == 302
    assert "/chatidentityview/list" in response.headers["Location"]
    db.session.expire_all()
    identity = db.session.query(ChatIdentity).one()
    assert identity.linked_user_id == user.id and identity.channel_id == channel.id
    assert identity.chat_id == NEW and identity.workspace_id == workspace.id


def test_assigning_twice_is_refused_politely(client, factory, managed):
    workspace, channel, chat = managed
    provider = factory.provider(workspace, name="smmrush")
    user = factory.linked_user(workspace, username="alice")
    route_form = {"target": "provider", "provider_id": provider.id, "actions": ["refill"]}
    assert client.post(f"/detectedchatview/assign/{chat.id}", data=route_form).status_code == 302
    again = client.post(f"/detectedchatview/assign/{chat.id}", data=route_form)
    assert again.status_code == 200
    assert "already" in again.get_data(as_text=True)
    user_form = {"target": "user", "linked_user_id": user.id}
    assert client.post(f"/detectedchatview/assign/{chat.id}", data=user_form).status_code == 302
    again = client.post(f"/detectedchatview/assign/{chat.id}", data=user_form)
    assert again.status_code == 200 and "already" in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(ProviderRoute).count() == 1
    assert db.session.query(ChatIdentity).count() == 1


def test_assign_refuses_missing_choices(client, factory, managed):
    workspace, channel, chat = managed
    provider = factory.provider(workspace, name="smmrush")
    no_action = client.post(f"/detectedchatview/assign/{chat.id}",
                            data={"target": "provider", "provider_id": provider.id})
    assert no_action.status_code == 200
    assert "Choose a provider and at least one action." in no_action.get_data(as_text=True)
    no_user = client.post(f"/detectedchatview/assign/{chat.id}", data={"target": "user"})
    assert "Choose a linked user." in no_user.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(ProviderRoute).count() == 0
    assert db.session.query(ChatIdentity).count() == 0


def test_another_workspace_cannot_assign_or_be_referenced(client, auth, factory, acme):
    """B's manager: 404 on A's assign page; A's provider or user cannot be used on B's chat."""
    workspace_a, channel_a = acme
    post_update(client, channel_a, tg.my_chat_member_update(tg.SUPERGROUP_CHAT_ID))
    chat_a = detected(channel_a, NEW)
    provider_a = factory.provider(workspace_a, name="a-provider")
    user_a = factory.linked_user(workspace_a, username="a-user")

    workspace_b = factory.workspace("bravo")
    channel_b = factory.channel(workspace_b, kind="telegram", name="B bot")
    post_update(client, channel_b, tg.my_chat_member_update(tg.GROUP_CHAT_ID))
    chat_b = detected(channel_b, OLD)
    factory.member(workspace_b, "bravo-manager")
    auth.login("bravo-manager")

    assert client.get(f"/detectedchatview/assign/{chat_a.id}").status_code == 404
    for form in ({"target": "provider", "provider_id": provider_a.id, "actions": ["refill"]},
                 {"target": "user", "linked_user_id": user_a.id}):
        assert client.post(f"/detectedchatview/assign/{chat_a.id}", data=form).status_code == 404
        # B's own chat with A's provider / user: refused as if they did not exist
        response = client.post(f"/detectedchatview/assign/{chat_b.id}", data=form)
        assert response.status_code == 200
    assert client.post("/detectedchatview/action_post",
                       data={"action": "assign_chat", "rowid": [str(chat_a.id)]}
                       ).status_code == 404
    listing = client.get("/detectedchatview/list/").get_data(as_text=True)
    assert OLD in listing and NEW not in listing
    # control: B's own page works
    assert client.get(f"/detectedchatview/assign/{chat_b.id}").status_code == 200
    db.session.expire_all()
    assert db.session.query(ProviderRoute).count() == 0
    assert db.session.query(ChatIdentity).count() == 0


def test_an_agent_cannot_assign(client, auth, factory, acme):
    workspace, channel = acme
    post_update(client, channel, tg.my_chat_member_update(tg.SUPERGROUP_CHAT_ID))
    chat = detected(channel, NEW)
    provider = factory.provider(workspace)
    factory.member(workspace, "acme-agent", role="agent")
    auth.login("acme-agent")
    assert client.get("/detectedchatview/list/").status_code == 200  # agents may look
    response = client.post(f"/detectedchatview/assign/{chat.id}", data={
        "target": "provider", "provider_id": provider.id, "actions": ["refill"]})
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.query(ProviderRoute).count() == 0


# --- migrate_to_chat_id ------------------------------------------------------------------------

def _links_on(factory, workspace, channel, chat_id):
    provider = factory.provider(workspace, name="smmrush")
    other_provider = factory.provider(workspace, name="boostprov")
    factory.route(provider, channel, chat_id=chat_id)
    factory.route(other_provider, channel, chat_id=chat_id)
    user = factory.linked_user(workspace, username="alice")
    factory.identity(user, channel, chat_id=chat_id)
    factory.admin_identity(workspace, channel, chat_id=chat_id, name="Staff group")
    return provider, other_provider, user


def test_migration_moves_links_routes_and_the_detected_chat(client, factory, acme):
    workspace, channel = acme
    post_update(client, channel, tg.my_chat_member_update(tg.GROUP_CHAT_ID, title="Providers"))
    _links_on(factory, workspace, channel, OLD)
    # an unrelated chat on the same channel stays where it is
    bystander = factory.linked_user(workspace, username="bob")
    factory.identity(bystander, channel, chat_id="555")

    outcomes = post_update(client, channel, tg.migrate_to_chat_update(
        tg.GROUP_CHAT_ID, tg.SUPERGROUP_CHAT_ID))
    assert outcomes == ["migrated"]
    assert chat_ids(ProviderRoute, channel) == [NEW, NEW]
    assert chat_ids(ChatIdentity, channel) == sorted(["555", NEW])
    assert chat_ids(AdminIdentity, channel) == [NEW]
    assert chat_ids(DetectedChat, channel) == [NEW]
    chat = detected(channel, NEW)
    assert chat.title == "Providers" and chat.chat_type == "supergroup"


def test_migration_when_the_new_chat_was_already_detected(client, factory, acme):
    """The bot's my_chat_member for the supergroup came first: UNIQUE (channel, chat) must not
    stop the links from moving."""
    workspace, channel = acme
    post_update(client, channel, tg.my_chat_member_update(tg.GROUP_CHAT_ID, title="Providers"))
    _links_on(factory, workspace, channel, OLD)
    post_update(client, channel, tg.my_chat_member_update(
        tg.SUPERGROUP_CHAT_ID, title="Providers", new_status="administrator"))
    assert chat_ids(DetectedChat, channel) == sorted([OLD, NEW])

    outcomes = post_update(client, channel, tg.migrate_to_chat_update(
        tg.GROUP_CHAT_ID, tg.SUPERGROUP_CHAT_ID))
    assert outcomes == ["migrated"]
    event = db.session.query(InboundEvent).filter_by(type="migrate_to_chat_id").one()
    assert event.state == "done" and event.last_error is None
    assert chat_ids(DetectedChat, channel) == [NEW]
    assert detected(channel, NEW).member_status == "administrator"
    assert chat_ids(ProviderRoute, channel) == [NEW, NEW]
    assert chat_ids(ChatIdentity, channel) == [NEW]
    assert chat_ids(AdminIdentity, channel) == [NEW]


def test_migration_keeps_links_the_new_chat_already_has(factory, acme):
    workspace, channel = acme
    provider, _, alice = _links_on(factory, workspace, channel, OLD)
    bob = factory.linked_user(workspace, username="bob")
    factory.identity(bob, channel, chat_id=NEW)  # already linked after the upgrade
    factory.route(provider, channel, chat_id=NEW)  # and already routed
    with workspace_scope(workspace.id):
        assert migrate_chat(channel.id, OLD, NEW) == "migrated"
        db.session.commit()
    db.session.expire_all()
    identities = db.session.query(ChatIdentity).filter_by(channel_id=channel.id).all()
    assert [(i.chat_id, i.linked_user_id) for i in identities] == [(NEW, bob.id)]
    routes = db.session.query(ProviderRoute).filter_by(channel_id=channel.id).all()
    assert sorted((r.provider.name, r.chat_id) for r in routes) == [
        ("boostprov", NEW), ("smmrush", NEW)]


def test_migration_is_per_channel(factory, acme):
    workspace, channel = acme
    other_bot = factory.channel(workspace, kind="telegram", name="Other bot")
    user = factory.linked_user(workspace, username="alice")
    factory.identity(user, other_bot, chat_id=OLD)
    with workspace_scope(workspace.id):
        migrate_chat(channel.id, OLD, NEW)
        db.session.commit()
    assert chat_ids(ChatIdentity, other_bot) == [OLD]
