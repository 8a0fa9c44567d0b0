"""Conversations in a real browser: a manager opens Logs › Conversations (customer chats), adds
the "Linked user" filter and types a username, sees only that customer's chat, opens its thread
and reads the messages received, the replies sent and the dispatch note interleaved newest
first, then follows the note's link to the command trace. No page may log a JavaScript error.
Screenshots go to test-artifacts/.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.models import CommandLog, CommandOrder, InboundEvent, OutboundMessage
from app.models.base import utcnow
from app.store import Touch, touch_conversations
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console

pytestmark = pytest.mark.browser


def _command(ws, channel, chat, text, at, *, order=None, provider=None, reply=None):
    event = InboundEvent(workspace_id=ws.id, channel_id=channel.id, platform="greenapi",
                         kind="message", type="incomingMessageReceived",
                         dedupe_key=f"{chat}-{at.isoformat()}", chat_id=chat, text=text,
                         sender_name="Customer", received_at=at, payload={}, state="done")
    db.session.add(event)
    db.session.flush()
    log = CommandLog(workspace_id=ws.id, inbound_event_id=event.id, channel_id=channel.id,
                     chat_id=chat, text=text, order_ids=order, actions="refill",
                     outcome="dispatched" if order else "ignored", state="done",
                     trace=[{"step": "parse", "ms": 1.0, "orders": [order] if order else []}],
                     created_at=at)
    db.session.add(log)
    db.session.flush()
    touches = [Touch(ws.id, channel.id, chat, at, True, text, False, "Customer")]
    if order:
        db.session.add(CommandOrder(workspace_id=ws.id, command_log_id=log.id, order_id=order,
                                    action="refill", ok=True, reason="ok",
                                    provider_id=provider.id, external_id=f"EXT-{order[-5:]}",
                                    created_at=at + timedelta(seconds=1)))
    if reply:
        db.session.add(OutboundMessage(
            workspace_id=ws.id, channel_id=channel.id, chat_id=chat, text=reply,
            idempotency_key=f"reply:{event.id}", purpose="reply", state="sent",
            delivery_status="read", created_at=at + timedelta(seconds=2),
            inbound_event_id=event.id))
        touches.append(Touch(ws.id, channel.id, chat, at + timedelta(seconds=2), False, reply))
    touch_conversations(touches)
    db.session.commit()
    return log


@pytest.fixture
def chats(factory):
    shop = factory.workspace("convshop", name="Conversation Shop")
    factory.member(shop, "conv-manager", "manager")
    channel = factory.channel(shop, name="WhatsApp")
    provider = factory.provider(shop, name="Bulk Provider")
    alice = factory.linked_user(shop, username="alice")
    factory.identity(alice, channel, chat_id="79001234567@c.us")
    bob = factory.linked_user(shop, username="bob")
    factory.identity(bob, channel, chat_id="79007654321@c.us")
    t = utcnow() - timedelta(minutes=30)
    _command(shop, channel, "79001234567@c.us", "hello, is my order fine?", t)
    log = _command(shop, channel, "79001234567@c.us", "2274209 refill", t + timedelta(minutes=5),
                   order="2274209", provider=provider, reply="Refill of 2274209 requested.")
    _command(shop, channel, "79007654321@c.us", "bob writes", t + timedelta(minutes=6))
    return alice.id, log.id


def test_manager_filters_conversations_by_username_and_reads_a_thread(new_page, chats,
                                                                       artifacts_dir):
    alice_id, log_id = chats
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "conv-manager")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Logs").click()
    page.locator(".navbar a[href^='/conversationview/list/']").click()
    page.wait_for_load_state()
    assert "_flt_0_kind=customer" in page.url
    assert page.locator("table.table-hover tr", has_text="@c.us").count() == 2

    page.get_by_text("Search", exact=True).first.click()
    page.locator("#filter_form button.dropdown-toggle").click()
    page.locator("#filter_form a.filter[name=linked_user]").click()
    # typed, not picked from a list of every user (the first operation offered: "equal to")
    page.locator("#filter_form .filter_val[name$=_linked_user]").fill("alice")
    page.locator("#filter_form button[type=submit]").click()
    page.wait_for_load_state()
    assert "_linked_user=alice" in page.url
    rows = page.locator("table.table-hover tr", has_text="@c.us")
    assert rows.count() == 1 and "79001234567@c.us" in rows.first.inner_text()
    page.screenshot(path=str(artifacts_dir / "conversations-filtered.png"), full_page=True)

    rows.first.locator("a[href*='/conversationview/show/']").first.click()
    page.wait_for_load_state()
    items = page.locator("#thread-items > li.thread-item")
    kinds = items.evaluate_all("els => els.map(e => e.dataset.kind)")
    assert kinds == ["out", "note", "in", "in"], kinds
    texts = items.all_inner_texts()
    assert "Refill of 2274209 requested." in texts[0]
    assert "Order 2274209 refill → Bulk Provider as EXT-74209" in texts[1]
    assert "2274209 refill" in texts[2] and "hello, is my order fine?" in texts[3]
    page.screenshot(path=str(artifacts_dir / "conversation-thread.png"), full_page=True)

    items.nth(1).locator("a.thread-link-command").click()
    page.wait_for_load_state()
    assert f"/commandlogview/show/{log_id}" in page.url
    assert "2274209 refill" in page.content()
    assert errors == []
