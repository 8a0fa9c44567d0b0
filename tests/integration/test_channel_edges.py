"""Channel edge cases seen in real webhook bodies (tests/data/payloads/, see SOURCES.md there).

Each body is posted through the real webhook endpoint (test client, signed or with its token),
the stored events are processed with `process_event` as the worker would, and what was sent is
read from the platform fakes:

* edited messages, one policy for Telegram, Meta and Green API (app/jobs/edits.py): an edit is
  stored and traced; acted on only if no earlier version of the message was a command;
* Meta messages without `from` (business-scoped user ids): accepted message by message;
* Green API `stateInstanceChanged` notAuthorized / blocked / sleepMode: the channel pauses, its
  messages are held, and go out when the instance is authorized again;
* Meta `system` `user_changed_number`: the chat's link follows the new number.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from app.extensions import db
from app.jobs.events import process_event
from app.jobs.outbound import queue_message, send_outbound
from app.models import (Channel, ChatIdentity, CommandLog, InboundEvent, OutboundMessage)
from tests.fakes import greenapi as green_hooks
from tests.fakes import meta as meta_hooks
from tests.fakes import telegram as tg_hooks
from tests.integration.pipeline_support import seed_refill_order

PAYLOADS = Path(__file__).resolve().parents[1] / "data" / "payloads"
APP_SECRET = "edge-meta-app-secret"
TG_SECRET = "edge-telegram-secret"
GREEN_HOOK_TOKEN = "edge-green-hook-token"
ORDER = "2274209"
TG_GROUP = -1001234567890


def payload(platform: str, name: str) -> dict:
    return json.loads((PAYLOADS / platform / f"{name}.json").read_text())


def process_new_events() -> dict[int, str]:
    db.session.expire_all()
    ids = [i for (i,) in db.session.query(InboundEvent.id)
           .filter(InboundEvent.state == "pending").order_by(InboundEvent.id)]
    outcomes = {i: process_event(i) for i in ids}
    db.session.expire_all()
    return outcomes


def log_of(event_id: int) -> CommandLog | None:
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one_or_none()


def last_event() -> InboundEvent:
    db.session.expire_all()
    return db.session.query(InboundEvent).order_by(InboundEvent.id.desc()).first()


def outbound_rows() -> list[OutboundMessage]:
    db.session.expire_all()
    return db.session.query(OutboundMessage).order_by(OutboundMessage.id).all()


@pytest.fixture
def workspace(factory, redis_conn):
    return factory.workspace("edges")


# --- Telegram ---------------------------------------------------------------------------------

@pytest.fixture
def tg_desk(factory, workspace, fake_telegram, fake_perfectpanel):
    seed_refill_order(fake_perfectpanel, ORDER, "EXT-77001")
    channel = factory.channel(workspace, name="Bot", kind="telegram",
                              bot_token=fake_telegram.token, api_base=fake_telegram.url,
                              secret_token=TG_SECRET)
    factory.panel(workspace, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                  api_key="pp-admin-key", requests_per_second=200.0)
    provider = factory.provider(workspace, name="SMMRush", domains="smmrush.com")
    factory.route(provider, channel, chat_id=str(TG_GROUP))
    user = factory.linked_user(workspace, username="alice")
    # the chat of Telegram's documented examples (tgdocs_*.json)
    factory.identity(user, channel, chat_id="1111111")
    return channel


def post_telegram(client, channel: Channel, update: dict):
    response = client.post(f"/webhooks/telegram/{channel.bot_id}", data=json.dumps(update),
                           headers=tg_hooks.webhook_headers(TG_SECRET))
    assert response.status_code == 200, response.data
    return last_event()


def tg_message(text: str) -> dict:
    update = payload("telegram", "tgdocs_message_text")
    update["message"]["text"] = text
    return update


def tg_edit(text: str, update_id: int = 10001) -> dict:
    update = payload("telegram", "tgdocs_edited_message")
    update["update_id"] = update_id  # the docs' two examples share update_id 10000
    update["edited_message"]["text"] = text
    return update


def test_telegram_edit_of_a_handled_command_sends_nothing_new(client, tg_desk, fake_telegram):
    original = post_telegram(client, tg_desk, tg_message(f"{ORDER} refill"))
    process_new_events()
    assert log_of(original.id).outcome == "dispatched"
    sent_before = list(fake_telegram.sent)
    assert {m["chat_id"] for m in sent_before} == {TG_GROUP, 1111111}  # dispatch + reply
    rows_before = len(outbound_rows())

    edit = post_telegram(client, tg_desk, tg_edit(f"{ORDER} refill"))
    assert (edit.kind, edit.type, edit.message_id) == ("message", "edited_message", "1365")
    process_new_events()

    assert fake_telegram.sent == sent_before  # nothing new to the provider or the customer
    assert len(outbound_rows()) == rows_before
    log = log_of(edit.id)
    assert log.outcome == "edit_not_acted"
    (step,) = [s for s in log.trace if s["step"] == "edit"]
    assert step["decision"] == "original_was_command" and step["earlier_event"] == original.id


def test_telegram_edit_of_conversation_is_acted_on(client, tg_desk, fake_telegram):
    original = post_telegram(client, tg_desk, tg_message("hi there"))
    process_new_events()
    assert log_of(original.id).outcome in ("ignored", "fallback")

    edit = post_telegram(client, tg_desk, tg_edit(f"{ORDER} refill"))
    process_new_events()
    log = log_of(edit.id)
    assert log.outcome == "dispatched"
    assert [s["decision"] for s in log.trace if s["step"] == "edit"] == ["acted_on"]
    assert any(m["chat_id"] == TG_GROUP for m in fake_telegram.sent)

    # a second edit of the same message: the first edit was a command → not again
    again = post_telegram(client, tg_desk, tg_edit(f"{ORDER} refill", update_id=10002))
    dispatched = [m for m in fake_telegram.sent if m["chat_id"] == TG_GROUP]
    process_new_events()
    assert log_of(again.id).outcome == "edit_not_acted"
    assert [m for m in fake_telegram.sent if m["chat_id"] == TG_GROUP] == dispatched


def test_telegram_edit_in_the_same_batch_waits_for_its_original(client, tg_desk, app,
                                                               fake_telegram):
    """Original and edit claimed by one job: the edit runs in a later wave and sees that the
    original was a command."""
    original = post_telegram(client, tg_desk, tg_message(f"{ORDER} refill"))
    edit = post_telegram(client, tg_desk, tg_edit(f"{ORDER} refill"))
    process_event(original.id)  # takes the edit too where batches exist (PostgreSQL)
    process_new_events()
    assert log_of(original.id).outcome == "dispatched"
    assert log_of(edit.id).outcome == "edit_not_acted"
    assert len([m for m in fake_telegram.sent if m["chat_id"] == TG_GROUP]) == 1


# --- Green API --------------------------------------------------------------------------------

@pytest.fixture
def green(factory, workspace, fake_greenapi):
    return factory.channel(workspace, name="WhatsApp", kind="greenapi", api_url=fake_greenapi.url,
                           id_instance=fake_greenapi.id_instance,
                           api_token=fake_greenapi.api_token, webhook_token=GREEN_HOOK_TOKEN)


def post_green(client, channel: Channel, body: dict) -> InboundEvent:
    body = copy.deepcopy(body)
    body["instanceData"]["idInstance"] = int(channel.id_instance)
    response = client.post("/webhooks/greenapi", data=json.dumps(body),
                           headers=green_hooks.webhook_headers(GREEN_HOOK_TOKEN))
    assert response.status_code == 200, response.data
    return last_event()


def green_original(text: str) -> dict:
    """apidog_text.json as the message the edit of apidog_edited_incoming.json edits."""
    body = payload("greenapi", "apidog_text")
    edited = payload("greenapi", "apidog_edited_incoming")
    body["idMessage"] = edited["messageData"]["editedMessageData"]["stanzaId"]
    body["messageData"]["textMessageData"]["textMessage"] = text
    return body


def green_edit(text: str) -> dict:
    body = payload("greenapi", "apidog_edited_incoming")
    body["messageData"]["editedMessageData"]["textMessage"] = text
    return body


def test_green_edit_is_stored_with_its_original_and_new_text(client, green):
    event = post_green(client, green, payload("greenapi", "apidog_edited_incoming"))
    assert (event.kind, event.type, event.text) == ("message", "incomingMessageReceived",
                                                     "New message")
    assert event.message_id == "BAE5AFC355030F7A"  # the edited message (stanzaId)
    assert event.dedupe_key == "71234567890@c.us:BAE597DC5CB134F7"  # its own id
    mine = post_green(client, green, payload("greenapi", "apidog_outgoing_edited_from_phone"))
    assert mine.from_me is True and mine.text == "Отредактироанное сообщение"
    process_new_events()
    assert db.session.get(InboundEvent, mine.id).state == "ignored"  # the phone's: never a command
    assert log_of(mine.id) is None


def test_green_edit_of_a_handled_command_sends_nothing_new(client, green, fake_greenapi):
    original = post_green(client, green, green_original("help"))
    process_new_events()
    assert log_of(original.id).outcome == "answered"
    assert len(fake_greenapi.sent) == 1

    edit = post_green(client, green, green_edit("help"))
    process_new_events()
    assert len(fake_greenapi.sent) == 1
    assert log_of(edit.id).outcome == "edit_not_acted"


def test_green_edit_of_conversation_is_acted_on(client, green, fake_greenapi):
    original = post_green(client, green, green_original("Hello! This is a text message."))
    process_new_events()
    assert log_of(original.id).outcome in ("ignored", "fallback")
    before = len(fake_greenapi.sent)

    edit = post_green(client, green, green_edit("help"))
    process_new_events()
    assert log_of(edit.id).outcome == "answered"
    assert len(fake_greenapi.sent) == before + 1
    assert fake_greenapi.sent[-1]["chatId"] == "71234567890@c.us"


def green_state(state: str, timestamp: int) -> dict:
    body = payload("greenapi", "docs_state_not_authorized")
    body["stateInstance"], body["timestamp"] = state, timestamp
    return body


def channel_row(channel_id: int) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel_id)


@pytest.mark.parametrize("state", ["notAuthorized", "blocked", "sleepMode"])
def test_green_unauthorised_instance_holds_messages_until_authorized(client, green,
                                                                    fake_greenapi, state):
    body = payload("greenapi", "docs_state_not_authorized")
    body["stateInstance"] = state
    post_green(client, green, body)
    process_new_events()
    channel = channel_row(green.id)
    assert channel.status == "paused"
    assert channel.status_detail.startswith("Sending paused")

    outbound_id = queue_message(channel, "79001234567@c.us", "Your refill is on its way",
                                "edge-held-1", enqueue=False)
    assert send_outbound(outbound_id) == "held"
    row = db.session.get(OutboundMessage, outbound_id, populate_existing=True)
    assert (row.state, row.attempts, row.error_code) == ("held", 0, "channel_paused")
    assert row.last_error == channel.status_detail
    assert fake_greenapi.sent == []
    # held rows are not the sweep's: they wait for the channel
    from app.jobs.maintenance import stale_outbound_ids
    assert outbound_id not in stale_outbound_ids()

    # a later state that is not `authorized` keeps it paused
    post_green(client, green, green_state("starting", body["timestamp"] + 10))
    process_new_events()
    assert channel_row(green.id).status == "paused"
    assert db.session.get(OutboundMessage, outbound_id, populate_existing=True).state == "held"

    post_green(client, green, green_state("authorized", body["timestamp"] + 20))
    process_new_events()  # releases the held message and sends it after the commit
    assert channel_row(green.id).status == "ok"
    row = db.session.get(OutboundMessage, outbound_id, populate_existing=True)
    assert (row.state, row.error_code, row.last_error) == ("sent", None, None)
    assert [m["message"] for m in fake_greenapi.sent] == ["Your refill is on its way"]


def test_a_reply_made_while_paused_is_held_then_sent(client, green, fake_greenapi):
    post_green(client, green, payload("greenapi", "docs_state_not_authorized"))
    process_new_events()
    command = post_green(client, green, green_original("help"))
    process_new_events()
    assert log_of(command.id).outcome == "answered"
    (reply,) = outbound_rows()
    assert reply.state == "held" and fake_greenapi.sent == []

    post_green(client, green, green_state("authorized", 1586700800))
    process_new_events()
    assert outbound_rows()[0].state == "sent" and len(fake_greenapi.sent) == 1


def test_paused_status_reads_as_words_on_the_channels_screen(app, green):
    from flask_babel import force_locale

    from app.models.channels import PAUSING_STATES
    from app.labels import code_label
    from app.views.workspace import _status_detail_words

    with app.test_request_context("/"), force_locale("ru"):
        assert str(code_label("channel_status", "paused")) != "Paused: messages are held"
        assert str(code_label("outbound_state", "held")) != "Held until the channel works again"
        detail = PAUSING_STATES["notAuthorized"]
        assert _status_detail_words(detail) != detail  # translated


# --- Meta -------------------------------------------------------------------------------------

@pytest.fixture
def meta_channel(app, factory, workspace, fake_meta, monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    return factory.channel(workspace, name="Cloud", kind="meta",
                           phone_number_id=fake_meta.phone_number_id,
                           access_token=fake_meta.access_token, app_secret=APP_SECRET,
                           waba_id=meta_hooks.DEFAULT_WABA_ID)


def post_meta(client, body: dict):
    raw, headers = meta_hooks.signed_body(body, APP_SECRET)
    return client.post("/webhooks/meta", data=raw, headers=headers)


def value_of(body: dict) -> dict:
    return body["entry"][0]["changes"][0]["value"]


def fromless_button(text: str = "help") -> dict:
    body = payload("meta", "pywa_template_button_bsuid")
    message = value_of(body)["messages"][0]
    del message["from"]  # a user with a username: Meta may withhold the number
    message["button"]["text"] = text
    return body


def test_meta_message_without_from_is_stored_on_its_business_scoped_id(client, meta_channel,
                                                                     fake_meta):
    response = post_meta(client, fromless_button())
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    event = last_event()
    assert (event.kind, event.type) == ("message", "message:button")
    assert event.chat_id == event.sender == "US.13491208655302741918"
    assert event.sender_name == "Test Name" and event.text == "help"

    process_new_events()
    assert log_of(event.id).outcome == "answered"
    (sent,) = fake_meta.sent  # answered through the business-scoped id
    assert sent["recipient"] == "US.13491208655302741918" and "to" not in sent


def test_meta_delivery_mixing_a_message_with_and_without_from_keeps_both(client,
                                                                         meta_channel):
    body = fromless_button("2274209 status")
    normal = value_of(payload("meta", "pywa_text"))["messages"][0]
    value_of(body)["messages"].append(normal)
    # and one Meta could not attribute at all: kept, never a 400 for the whole delivery
    anonymous = copy.deepcopy(value_of(body)["messages"][0])
    anonymous.pop("from_user_id")
    anonymous["id"] = "wamid.anonymous"
    value_of(body)["contacts"].append({"profile": {"name": "Someone"}})
    value_of(body)["messages"].append(anonymous)
    assert post_meta(client, body).status_code == 200
    db.session.expire_all()
    events = db.session.query(InboundEvent).order_by(InboundEvent.id).all()
    assert [(e.kind, e.chat_id, e.message_id) for e in events] == [
        ("message", "US.13491208655302741918", "wamid.xsidjx"),
        ("message", "972987654321", "wamid.xyzxyz"),
        ("other", None, None),
    ]
    assert events[2].type == "message:unidentified"
    process_new_events()
    assert db.session.get(InboundEvent, events[2].id).state == "ignored"


def test_meta_identity_keyed_on_a_business_scoped_id(client, factory, workspace, meta_channel):
    user = factory.linked_user(workspace, username="alice")
    factory.identity(user, meta_channel, chat_id="US.13491208655302741918")
    post_meta(client, fromless_button("help"))
    event = last_event()
    process_new_events()
    assert log_of(event.id).linked_user_id == user.id


def meta_original(text: str) -> dict:
    """pywa_text.json as the message pywa_edit_image_caption.json edits."""
    body = payload("meta", "pywa_text")
    edit = value_of(payload("meta", "pywa_edit_image_caption"))["messages"][0]
    message = value_of(body)["messages"][0]
    message["id"] = edit["edit"]["original_message_id"]
    message["from"] = edit["from"]
    message["text"]["body"] = text
    return body


def meta_edit(caption: str | None = None) -> dict:
    body = payload("meta", "pywa_edit_image_caption")
    if caption is not None:
        value_of(body)["messages"][0]["edit"]["message"]["image"]["caption"] = caption
    return body


def test_meta_edit_is_stored_with_its_original_and_new_text(client, meta_channel):
    assert post_meta(client, meta_edit()).status_code == 200
    event = last_event()
    assert (event.kind, event.type, event.text) == ("message", "message:edit",
                                                     "Updated image caption")
    assert event.message_id == ("wamid.HBgLMTQxMjU1NTA4MjkVAgASGBQzQUNCNjk5RDUwNUZGMUZEM0VBRAA=")
    assert event.chat_id == "16505551234"


def test_meta_edit_of_a_handled_command_sends_nothing_new(client, meta_channel, fake_meta):
    original_body = meta_original("help")
    post_meta(client, original_body)
    original = last_event()
    process_new_events()
    assert log_of(original.id).outcome == "answered" and len(fake_meta.sent) == 1

    post_meta(client, meta_edit("help"))
    edit = last_event()
    process_new_events()
    assert log_of(edit.id).outcome == "edit_not_acted"
    assert len(fake_meta.sent) == 1


def test_meta_edit_of_conversation_is_acted_on(client, meta_channel, fake_meta):
    post_meta(client, meta_original("Body Text"))
    original = last_event()
    process_new_events()
    assert log_of(original.id).outcome in ("ignored", "fallback")
    before = len(fake_meta.sent)

    post_meta(client, meta_edit("help"))
    edit = last_event()
    process_new_events()
    assert log_of(edit.id).outcome == "answered"
    assert len(fake_meta.sent) == before + 1 and fake_meta.sent[-1]["to"] == "16505551234"


def test_meta_user_changed_number_moves_the_link(client, factory, workspace, meta_channel):
    user = factory.linked_user(workspace, username="alice")
    factory.identity(user, meta_channel, chat_id="972987654321")
    body = payload("meta", "pywa_system_user_changed_number")
    assert post_meta(client, body).status_code == 200
    event = last_event()
    assert (event.kind, event.type, event.chat_id) == ("membership", "user_changed_number",
                                                       "972987654321")
    process_new_events()
    assert db.session.get(InboundEvent, event.id).state == "done"

    (identity,) = db.session.query(ChatIdentity).filter_by(channel_id=meta_channel.id).all()
    assert (identity.chat_id, identity.linked_user_id) == ("972912345678", user.id)
    log = log_of(event.id)  # the change is on record, with the customer it concerns
    assert (log.outcome, log.chat_id, log.linked_user_id) == ("number_changed",
                                                              "972912345678", user.id)
    (step,) = log.trace
    assert (step["step"], step["old"], step["new"], step["linked_user"]) == (
        "number_changed", "972987654321", "972912345678", "alice")

    # the customer writes from the new number: still alice
    text = payload("meta", "pywa_text")
    message = value_of(text)["messages"][0]
    message["from"], message["text"]["body"] = "972912345678", "help"
    post_meta(client, text)
    later = last_event()
    process_new_events()
    assert log_of(later.id).linked_user_id == user.id


def test_test_connection_reading_authorized_releases_held_messages(client, green, fake_greenapi):
    """A missed `authorized` webhook: "Test connection" reads the state and resumes too."""
    from app.integrations.channels import ActionResult
    from app.views.channels import _instance_state

    post_green(client, green, payload("greenapi", "docs_state_not_authorized"))
    process_new_events()
    outbound_id = queue_message(channel_row(green.id), "79001234567@c.us", "Held text",
                                "edge-held-2", enqueue=False)
    assert send_outbound(outbound_id) == "held"

    channel = channel_row(green.id)
    released = _instance_state(channel, "test_connection",
                               ActionResult(True, "Instance state: authorized",
                                            {"stateInstance": "authorized"}))
    db.session.commit()
    assert released == [outbound_id] and channel_row(green.id).status == "ok"
    assert db.session.get(OutboundMessage, outbound_id, populate_existing=True).state == \
        "pending"
    assert send_outbound(outbound_id) == "sent"
    assert [m["message"] for m in fake_greenapi.sent] == ["Held text"]


LONGEST_BSUID = "US.ENT." + "A1" * 64  # a parent business-scoped id: 135 characters


def test_the_longest_business_scoped_id_is_stored_whole_and_linked(client, factory, workspace,
                                                                  meta_channel, fake_meta):
    from app.models.base import CHAT_ID_LENGTH
    from app.validation import chat_id_problem

    assert len(LONGEST_BSUID) == 135 <= CHAT_ID_LENGTH
    assert chat_id_problem(LONGEST_BSUID, "meta") is None  # what the forms accept fits
    user = factory.linked_user(workspace, username="alice")
    factory.identity(user, meta_channel, chat_id=LONGEST_BSUID)
    body = fromless_button("help")
    value_of(body)["messages"][0]["from_user_id"] = LONGEST_BSUID
    assert post_meta(client, body).status_code == 200
    event = last_event()
    assert event.chat_id == event.sender == LONGEST_BSUID
    process_new_events()
    log = log_of(event.id)
    assert log.linked_user_id == user.id and log.chat_id == LONGEST_BSUID
    (sent,) = fake_meta.sent
    assert sent["recipient"] == LONGEST_BSUID
    outbound = db.session.query(OutboundMessage).one()
    assert outbound.chat_id == LONGEST_BSUID and outbound.state == "sent"
