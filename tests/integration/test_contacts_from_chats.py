"""Contacts made by chats (app/contacts.py): every inbound customer message creates or updates
its contact in the worker's batch, the plan's limit stops new contacts (not the chat), and a
chat identity absorbs the chat's contact (the username taken or the contact merged)."""
from __future__ import annotations

import pytest

from app.contacts import BadPhone, normalise_phone, phone_from_chat
from app.extensions import db
from app.jobs.events import process_event
from app.models import ChatIdentity, ContactGroup, Conversation, LinkedUser
from tests.integration.pipeline_support import (CUSTOMER_CHAT, GROUP_CHAT, STRANGER_CHAT,
                                                build_desk, post_green, send)
from tests.integration import test_linking as linking_tests


OTHER = "79006660000@c.us"


@pytest.fixture
def desk(factory, fake_perfectpanel, redis_conn):
    return build_desk(factory, fake_perfectpanel.url)


def contact_of(chat: str) -> LinkedUser | None:
    db.session.expire_all()
    conv = db.session.query(Conversation).filter_by(chat_id=chat).one()
    return db.session.get(LinkedUser, conv.linked_user_id) if conv.linked_user_id else None


def handle(client, desk, text, chat):
    for event_id in post_green(client, desk.channel, text, chat):
        process_event(event_id)
    db.session.expire_all()


def test_phone_numbers_are_digits_and_chat_ids_give_them_where_they_are_numbers():
    assert normalise_phone(" +7 (900) 123-45-67 ") == "79001234567"
    assert normalise_phone("") is None
    for bad in ("79001234567x", "call me", "12345", "1" * 16):
        with pytest.raises(BadPhone):
            normalise_phone(bad)
    assert phone_from_chat("greenapi", "79001234568@c.us") == "79001234568"
    assert phone_from_chat("greenapi", GROUP_CHAT) is None
    assert phone_from_chat("meta", "79001234568") == "79001234568"
    assert phone_from_chat("telegram", "123456789") is None
    assert phone_from_chat("webchat", "w-abc") is None


def test_a_strangers_message_makes_a_contact_and_the_next_one_updates_it(client, desk):
    handle(client, desk, "hello", STRANGER_CHAT)
    contact = contact_of(STRANGER_CHAT)
    assert contact is not None and contact.username is None and contact.source == "chat"
    assert contact.phone == "79005550000" and contact.workspace_id == desk.workspace.id
    assert contact.first_seen_at is not None and contact.first_seen_at == contact.last_seen_at
    first = contact.first_seen_at

    handle(client, desk, "hello again", STRANGER_CHAT)
    again = contact_of(STRANGER_CHAT)
    assert again.id == contact.id and again.first_seen_at == first
    assert again.last_seen_at >= first
    assert db.session.query(LinkedUser).filter_by(source="chat").count() == 1


def test_a_linked_chat_updates_its_linked_user_and_makes_no_contact(client, desk):
    send(client, desk.channel, "hello", chat=CUSTOMER_CHAT)
    contact = contact_of(CUSTOMER_CHAT)
    assert contact.id == desk.user.id and contact.last_seen_at is not None
    assert db.session.query(LinkedUser).count() == 1


def test_groups_make_no_contact(client, desk):
    handle(client, desk, "hi all", GROUP_CHAT)
    assert db.session.query(LinkedUser).filter_by(source="chat").count() == 0


def test_beyond_the_plans_limit_the_chat_works_without_a_contact(client, desk, factory):
    desk.workspace.plan = factory.plan(max_linked_users=2)
    db.session.commit()
    handle(client, desk, "hello", STRANGER_CHAT)  # alice + this one = 2
    handle(client, desk, "hello", OTHER)
    assert contact_of(STRANGER_CHAT) is not None
    assert contact_of(OTHER) is None
    conv = db.session.query(Conversation).filter_by(chat_id=OTHER).one()
    assert conv.inbound_count == 1


def test_an_identity_for_an_existing_username_merges_the_chats_contact(client, desk):
    handle(client, desk, "hello", STRANGER_CHAT)
    contact = contact_of(STRANGER_CHAT)
    group = ContactGroup(workspace_id=desk.workspace.id, name="Leads")
    contact.tags, contact.custom_fields = "lead, es", {"city": "Madrid", "plan": "x"}
    contact.groups.append(group)
    contact.opted_out = True
    desk.user.tags, desk.user.custom_fields = "vip", {"plan": "gold"}
    db.session.commit()
    contact_id = contact.id

    db.session.add(ChatIdentity(workspace_id=desk.workspace.id, linked_user_id=desk.user.id,
                                channel_id=desk.channel.id, chat_id=STRANGER_CHAT))
    db.session.commit()
    db.session.expire_all()

    assert db.session.get(LinkedUser, contact_id) is None
    alice = db.session.get(LinkedUser, desk.user.id)
    assert alice.username == "alice" and alice.tags == "vip, lead, es"
    assert alice.custom_fields == {"city": "Madrid", "plan": "gold"}
    assert [g.name for g in alice.groups] == ["Leads"] and alice.opted_out is True
    assert alice.phone == "79005550000"
    assert contact_of(STRANGER_CHAT).id == alice.id
    handle(client, desk, "hello", STRANGER_CHAT)  # the identity names it: no new contact
    assert contact_of(STRANGER_CHAT).id == alice.id
    assert db.session.query(LinkedUser).count() == 1


def test_removing_the_identity_unlinks_the_chat_at_its_next_message(client, desk):
    db.session.query(ChatIdentity).delete()
    db.session.commit()
    handle(client, desk, "hello", CUSTOMER_CHAT)
    contact = contact_of(CUSTOMER_CHAT)
    assert contact is not None and contact.id != desk.user.id and contact.username is None


def test_self_service_linking_gives_the_username_to_the_chats_contact(client, desk,
                                                                      fake_perfectpanel):
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    contact_id = contact_of(STRANGER_CHAT).id
    code = linking_tests.ticket_code(fake_perfectpanel, "carol")
    send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)
    db.session.expire_all()
    carol = db.session.query(LinkedUser).filter_by(username="carol").one()
    assert carol.id == contact_id and carol.phone == "79005550000"
    assert contact_of(STRANGER_CHAT).id == contact_id


def test_broadcasts_reach_contacts_without_a_username_through_their_chat_and_skip_opted_out(
        client, desk, fake_greenapi):
    from app.jobs import workspace_config
    from app.jobs import broadcasts as runner
    from app.models import Broadcast, BroadcastRecipient

    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    db.session.commit()
    workspace_config.forget()
    handle(client, desk, "hello", STRANGER_CHAT)
    handle(client, desk, "hello", OTHER)
    stranger, other = contact_of(STRANGER_CHAT), contact_of(OTHER)
    stranger.name, other.opted_out = "Stranger", True
    db.session.commit()
    fake_greenapi.sent.clear()
    broadcast = Broadcast(workspace_id=desk.workspace.id, name="News",
                          text="Hello {username}, news!")
    db.session.add(broadcast)
    db.session.commit()
    runner.start(broadcast)
    runner.run_workspace(desk.workspace.id)
    db.session.expire_all()
    recipients = {r.chat_id: (r.username, r.state) for r in
                  db.session.query(BroadcastRecipient).filter_by(broadcast_id=broadcast.id)}
    assert recipients[STRANGER_CHAT] == ("Stranger", "sent")
    assert recipients[OTHER][1] == "skipped"
    assert recipients[CUSTOMER_CHAT] == ("alice", "sent")
    assert sorted(m["message"] for m in fake_greenapi.sent) == \
        ["Hello Stranger, news!", "Hello alice, news!"]
