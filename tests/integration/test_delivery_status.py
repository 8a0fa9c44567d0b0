"""Delivery statuses and channel state, end to end: the platform's webhook is posted (signed or
with its token), the stored event is processed with `process_event`, and the outbound row or the
channel shows the result.

Statuses only move forward (sent → delivered → read; failed only after sent): Meta does not
guarantee their order and both platforms resend, so a late "delivered" never overwrites "read".
"""
from __future__ import annotations

import json

import pytest

from app.extensions import db
from app.jobs.events import process_event
from app.jobs.outbound import queue_message, send_outbound
from app.models import Channel, InboundEvent, OutboundMessage
from app.webhooks.intake import from_epoch
from tests.fakes import greenapi as green_hooks
from tests.fakes import meta as meta_hooks

APP_SECRET = "meta-app-secret-for-tests"
CUSTOMER = "79001234567"
GREEN_CHAT = "79001234567@c.us"


@pytest.fixture
def workspace(factory, redis_conn):
    return factory.workspace("acme")


@pytest.fixture
def meta_channel(app, factory, workspace, fake_meta, monkeypatch):
    monkeypatch.setitem(app.config, "META_GRAPH_URL", fake_meta.url)
    return factory.channel(workspace, kind="meta", phone_number_id=fake_meta.phone_number_id,
                           access_token=fake_meta.access_token, app_secret=APP_SECRET,
                           waba_id=meta_hooks.DEFAULT_WABA_ID)


@pytest.fixture
def green_channel(factory, workspace, fake_greenapi):
    return factory.channel(workspace, kind="greenapi", api_url=fake_greenapi.url,
                           id_instance=fake_greenapi.id_instance,
                           api_token=fake_greenapi.api_token, webhook_token="green-hook-token-1")


def sent_message(channel, text="Your refill is on its way", chat_id=CUSTOMER) -> OutboundMessage:
    outbound_id = queue_message(channel, chat_id, text, f"status-test-{text}", enqueue=False)
    assert send_outbound(outbound_id) == "sent"
    return message(outbound_id)


def message(outbound_id: int) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, outbound_id)


def process_new_events() -> list[str]:
    ids = [i for (i,) in db.session.query(InboundEvent.id)
           .filter(InboundEvent.state == "pending").order_by(InboundEvent.id)]
    outcomes = [process_event(i) for i in ids]
    db.session.expire_all()
    return outcomes


def post_meta(client, payload) -> list[str]:
    raw, headers = meta_hooks.signed_body(payload, APP_SECRET)
    response = client.post("/webhooks/meta", data=raw, headers=headers)
    assert response.status_code == 200, response.data
    return process_new_events()


def meta_status(client, wamid, status, *, timestamp, errors=None) -> list[str]:
    return post_meta(client, meta_hooks.status_notification(
        wamid, status, CUSTOMER, timestamp=timestamp, errors=errors))


def post_green(client, channel, payload) -> list[str]:
    response = client.post("/webhooks/greenapi", data=json.dumps(payload),
                           headers=green_hooks.webhook_headers(channel.webhook_token))
    assert response.status_code == 200, response.data
    return process_new_events()


# --- Meta --------------------------------------------------------------------------------------

def test_meta_statuses_move_sent_delivered_read(client, meta_channel):
    msg = sent_message(meta_channel)
    wamid = msg.platform_message_id
    assert wamid.startswith("wamid.")
    assert meta_status(client, wamid, "sent", timestamp=1750000000) == ["status"]
    assert message(msg.id).delivery_status == "sent"
    assert meta_status(client, wamid, "delivered", timestamp=1750000005) == ["status"]
    row = message(msg.id)
    assert row.delivery_status == "delivered"
    assert row.delivery_status_at == from_epoch(1750000005)  # the platform's time, not ours
    assert meta_status(client, wamid, "read", timestamp=1750000030) == ["status"]
    row = message(msg.id)
    assert row.delivery_status == "read" and row.delivery_status_at == from_epoch(1750000030)
    assert row.state == "sent" and row.error_code is None


def test_late_delivered_never_overwrites_read(client, meta_channel):
    msg = sent_message(meta_channel)
    wamid = msg.platform_message_id
    meta_status(client, wamid, "read", timestamp=1750000030)
    assert message(msg.id).delivery_status == "read"
    meta_status(client, wamid, "delivered", timestamp=1750000005)  # arrives late
    meta_status(client, wamid, "sent", timestamp=1750000000)  # later still
    row = message(msg.id)
    assert row.delivery_status == "read"
    assert row.delivery_status_at == from_epoch(1750000030)


def test_duplicate_status_notifications_change_nothing(client, meta_channel):
    msg = sent_message(meta_channel)
    wamid = msg.platform_message_id
    meta_status(client, wamid, "delivered", timestamp=1750000005)
    assert meta_status(client, wamid, "delivered", timestamp=1750000005) == []  # deduped
    assert db.session.query(InboundEvent).filter_by(kind="status").count() == 1


def test_failed_status_records_the_error(client, meta_channel):
    msg = sent_message(meta_channel)
    wamid = msg.platform_message_id
    meta_status(client, wamid, "sent", timestamp=1750000000)
    meta_status(client, wamid, "failed", timestamp=1750000002,
                errors=[meta_hooks.status_error(131026)])
    row = message(msg.id)
    assert row.delivery_status == "failed"
    assert row.error_code == "131026"
    assert row.last_error == "Message Undeliverable"
    # nothing moves a failed message on to delivered
    meta_status(client, wamid, "delivered", timestamp=1750000009)
    assert message(msg.id).delivery_status == "failed"


def test_failed_never_overwrites_read(client, meta_channel):
    msg = sent_message(meta_channel)
    wamid = msg.platform_message_id
    meta_status(client, wamid, "read", timestamp=1750000030)
    meta_status(client, wamid, "failed", timestamp=1750000031,
                errors=[meta_hooks.status_error(131047)])
    row = message(msg.id)
    assert row.delivery_status == "read" and row.error_code is None


def test_status_of_a_message_we_did_not_send_is_ignored(client, meta_channel):
    assert meta_status(client, meta_hooks.new_wamid(), "delivered",
                       timestamp=1750000005) == ["ignored"]
    event = db.session.query(InboundEvent).one()
    assert event.state == "ignored"


def test_status_refers_to_the_last_part_of_a_long_message(client, meta_channel, fake_meta):
    text = " ".join(f"word{i}" for i in range(1200))  # about 10 000 characters: 3 parts
    msg = sent_message(meta_channel, text=text)
    assert msg.parts_total == 3
    first, last = msg.platform_message_ids[0], msg.platform_message_ids[-1]
    meta_status(client, first, "read", timestamp=1750000010)
    assert message(msg.id).delivery_status == "sent"
    meta_status(client, last, "delivered", timestamp=1750000011)
    assert message(msg.id).delivery_status == "delivered"


# --- Green API ---------------------------------------------------------------------------------

def test_green_statuses_move_forward_only(client, green_channel):
    msg = sent_message(green_channel, chat_id=GREEN_CHAT)
    id_message = msg.platform_message_id

    def post(status):
        return post_green(client, green_channel, green_hooks.outgoing_message_status(
            GREEN_CHAT, id_message, status, id_instance=green_channel.id_instance))

    assert post("sent") == ["status"]
    assert message(msg.id).delivery_status == "sent"
    assert post("read") == ["status"]
    assert message(msg.id).delivery_status == "read"
    assert post("delivered") == ["status"]  # late
    assert message(msg.id).delivery_status == "read"
    assert post("delivered") == []  # Green resends: the duplicate is not even stored again


@pytest.mark.parametrize("status", ["noAccount", "notInGroup", "failed"])
def test_green_undelivered_statuses_mark_the_message_failed(client, green_channel, status):
    msg = sent_message(green_channel, chat_id=GREEN_CHAT)
    post_green(client, green_channel, green_hooks.outgoing_message_status(
        GREEN_CHAT, msg.platform_message_id, status, id_instance=green_channel.id_instance))
    row = message(msg.id)
    assert row.delivery_status == "failed"
    assert row.error_code == status


def _state(client, channel, state, timestamp) -> list[str]:
    return post_green(client, channel, green_hooks.state_instance_changed(
        state, timestamp=timestamp, id_instance=channel.id_instance))


def channel_row(channel_id) -> Channel:
    db.session.expire_all()
    return db.session.get(Channel, channel_id)


def test_green_state_changes_update_the_channel_status(client, green_channel):
    assert green_channel.status == "unknown" and green_channel.last_webhook_at is None
    assert _state(client, green_channel, "notAuthorized", 1750000000) == ["state"]
    channel = channel_row(green_channel.id)  # sending pauses (test_channel_edges.py)
    assert channel.status == "paused" and "QR" in channel.status_detail
    assert channel.last_webhook_at is not None  # the last webhook received is shown too
    _state(client, green_channel, "authorized", 1750000100)
    channel = channel_row(green_channel.id)
    assert channel.status == "ok" and channel.status_detail is None
    _state(client, green_channel, "yellowCard", 1750000200)
    assert channel_row(green_channel.id).status == "error"
    _state(client, green_channel, "starting", 1750000300)
    assert channel_row(green_channel.id).status == "unknown"
    _state(client, green_channel, "blocked", 1750000400)
    channel = channel_row(green_channel.id)
    assert channel.status == "paused" and "blocked" in channel.status_detail


def test_an_older_state_arriving_late_does_not_win(client, green_channel):
    _state(client, green_channel, "authorized", 1750000100)
    assert _state(client, green_channel, "notAuthorized", 1750000000) == ["ignored"]
    assert channel_row(green_channel.id).status == "ok"
    _state(client, green_channel, "sleepMode", 1750000200)
    assert channel_row(green_channel.id).status == "paused"
