"""The inbox in a real browser (issue 16): an agent finds a customer's conversation in the list
with the keyboard, takes it over by replying, the customer's fake platform (tests/fakes Green API)
receives the reply and the bot stays quiet in that chat (a command sent meanwhile gets no bot
reply and no dispatch) until the agent resolves it with `e`; then the next command is handled by
the bot again. Also: Meta's 24-hour window blocks free text with a clear message, quick replies
and @mentions in the composer are keyboard-selectable, the "?" help, and the screens in Spanish.
The worker's part (handling the customer's messages, sending the agent's reply) runs in this
process, as tests/browser/test_broadcast_journey.py does. No page may log a JavaScript error.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.jobs.outbound import send_outbound
from app.models import CommandLog, Conversation, ConversationMention, OutboundMessage, QuickReply
from app.models.base import utcnow
from app.store import Touch, touch_conversations
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.integration.pipeline_support import (CUSTOMER_CHAT, GROUP_CHAT, REFILL_30, build_desk,
                                                days_ago, post_green)

pytestmark = pytest.mark.browser


@pytest.fixture
def desk(app, factory, redis_conn, fake_greenapi, fake_perfectpanel):
    for offset in range(3):
        fake_perfectpanel.add_order(2274209 + offset, user="alice", service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{88231 + offset}",
                                    created=days_ago(5))
    desk = build_desk(factory, fake_perfectpanel.url)
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    desk.user.name = "Alice Smith"
    factory.member(desk.workspace, "inbox-agent", "agent")
    factory.member(desk.workspace, "inbox-manager", "manager")
    db.session.add(QuickReply(workspace_id=desk.workspace.id, shortcut="delay", title="Delays",
                              body="Hello {name}, your order is on its way.", enabled=True))
    db.session.commit()
    workspace_config.forget()
    return desk


def customer_says(app, desk, text: str) -> CommandLog | None:
    """The customer writes (the webhook), and the worker handles it (here, inline)."""
    (event_id,) = post_green(app.test_client(), desk.channel, text, CUSTOMER_CHAT)
    process_event(event_id)
    db.session.expire_all()
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one_or_none()


def to_customer(fake) -> list[str]:
    return [m["message"] for m in fake.sent if m.get("chatId") == CUSTOMER_CHAT]


def to_provider(fake) -> list[str]:
    return [m["message"] for m in fake.sent if m.get("chatId") == GROUP_CHAT]


def test_agent_takes_over_replies_and_the_bot_stays_quiet_until_resolved(
        app, new_page, desk, fake_greenapi, artifacts_dir):
    customer_says(app, desk, "hello, anyone there?")
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "inbox-agent")
    page.goto("/")
    page.locator(".navbar a", has_text="Inbox").first.click()
    page.wait_for_selector(".inbox-row")
    row = page.locator(".inbox-row").first
    assert "Alice Smith" in row.inner_text()
    assert row.locator(".inbox-unread").inner_text() == "1"
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_selector("#composer-text")
    assert "hello, anyone there?" in page.locator("#thread").inner_text()
    page.keyboard.press("r")  # focus the reply
    page.keyboard.type("Hi Alice, I am looking at it now.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#thread .inbox-item-out")
    assert page.locator("#inbox-paused-label").is_visible()
    assert page.locator("#takeover").is_hidden() and page.locator("#giveback").is_visible()
    page.screenshot(path=str(artifacts_dir / "inbox-after-reply.png"), full_page=True)

    # the worker sends it: the customer's platform receives it
    db.session.expire_all()
    (message,) = db.session.query(OutboundMessage).filter_by(purpose="agent").all()
    assert send_outbound(message.id) == "sent"
    assert to_customer(fake_greenapi) == ["Hi Alice, I am looking at it now."]
    page.reload()
    page.wait_for_selector("#thread .inbox-item-out")
    assert page.locator("#thread .inbox-item-out .inbox-item-status").last.inner_text() == "Sent"

    # while the agent handles it, a command gets nothing from the bot
    log = customer_says(app, desk, "2274209 refill")
    assert log.outcome == "handled_by_person"
    assert to_customer(fake_greenapi) == ["Hi Alice, I am looking at it now."]
    assert to_provider(fake_greenapi) == []

    # the agent resolves with `e`: the bot speaks again
    page.reload()
    page.wait_for_selector("#thread .inbox-item-in")
    assert "2274209 refill" in page.locator("#thread").inner_text()
    page.keyboard.press("e")  # nothing has the focus after the reload
    expect(page.locator("#conversation-status")).to_have_value("resolved")
    page.wait_for_selector("#giveback", state="hidden")
    db.session.expire_all()
    assert db.session.query(Conversation).filter_by(chat_id=CUSTOMER_CHAT).one().status == \
        "resolved"
    log = customer_says(app, desk, "2274210 refill")
    assert log.outcome != "handled_by_person"
    assert len(to_customer(fake_greenapi)) == 2 and len(to_provider(fake_greenapi)) == 1
    assert errors == []


def test_meta_window_blocks_free_text_with_a_clear_message(app, new_page, factory, desk):
    channel = factory.channel(desk.workspace, name="Meta WhatsApp", kind="meta")
    touch_conversations([Touch(desk.workspace.id, channel.id, "15550001111",
                               utcnow() - timedelta(hours=25), True, "old question",
                               contact_name="Meta Customer", unread=True)])
    db.session.commit()
    pk = db.session.query(Conversation).filter_by(chat_id="15550001111").one().id
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "inbox-agent")
    page.goto(f"/inbox/{pk}")
    warning = page.locator("#inbox-window")
    assert warning.is_visible() and "24 hours" in warning.inner_text()
    page.fill("#composer-text", "Are you still there?")
    page.click("#composer-send")
    page.wait_for_selector("#composer-error:not(.hidden)")
    assert "24 hours" in page.locator("#composer-error").inner_text()
    db.session.expire_all()
    assert db.session.query(OutboundMessage).filter_by(purpose="agent").count() == 0
    # the refusal is the reply endpoint's 409 (its words shown above), nothing else failed
    assert [e for e in errors if "/reply" not in e and "409" not in e] == [], errors
    assert len([e for e in errors if e.startswith("HTTP 409")]) == 1, errors


def test_quick_replies_mentions_and_the_help_by_keyboard(app, new_page, desk):
    customer_says(app, desk, "where is my order?")
    pk = db.session.query(Conversation).filter_by(chat_id=CUSTOMER_CHAT).one().id
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "inbox-manager")
    page.goto("/inbox/")
    page.wait_for_selector(".inbox-row")
    page.keyboard.press("?")
    page.wait_for_selector("#inbox-help", state="visible")
    assert "Next / previous conversation" in page.locator("#inbox-help").inner_text()
    page.click("#inbox-help .close")
    page.wait_for_selector("#inbox-help", state="hidden")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "inbox-search"
    page.keyboard.type("where is my")
    page.keyboard.press("Enter")
    page.wait_for_selector(".inbox-row")
    assert page.locator(".inbox-row").count() == 1
    page.locator("#inbox-search").press("Escape")
    page.keyboard.press("a")  # assign the selected conversation to me
    expect(page.locator(".inbox-row .inbox-assignee").first).to_contain_text("inbox-manager")

    page.goto(f"/inbox/{pk}")
    area = page.locator("#composer-text")
    area.click()
    page.keyboard.type("/de")
    page.wait_for_selector("#composer-suggestions li")
    assert "/delay" in page.locator("#composer-suggestions").inner_text()
    page.keyboard.press("Enter")
    expect(area).to_have_value("Hello Alice Smith, your order is on its way.")

    page.click("#mode-note")
    area.fill("")
    area.click()
    page.keyboard.type("please check @inbox-a")
    page.wait_for_selector("#composer-suggestions li")
    page.keyboard.press("Enter")
    assert area.input_value() == "please check @inbox-agent "
    page.keyboard.type("<b>thanks</b>")
    page.click("#composer-send")
    page.wait_for_selector("#thread .inbox-item-team_note")
    assert "<b>thanks</b>" in page.locator("#thread .inbox-item-team_note").inner_text()
    db.session.expire_all()
    assert db.session.query(ConversationMention).count() == 1
    assert db.session.query(OutboundMessage).filter_by(purpose="agent").count() == 0
    assert errors == []


def test_the_inbox_speaks_spanish(app, new_page, desk):
    customer_says(app, desk, "hola")
    page = new_page()
    sign_in(page, "inbox-agent")
    page.goto("/lang/es", wait_until="domcontentloaded")
    page.goto("/inbox/")
    page.wait_for_selector(".inbox-row")
    text = page.locator("#inbox-page").inner_text()
    assert "Buzón" in text and "Sin asignar" in text and "Menciones" in text
    page.locator(".inbox-row").first.click()
    page.wait_for_selector("#composer-text")
    text = page.locator("#inbox-conversation").inner_text()
    assert "Tomar el control" in text and "Gestión" in text
    page.goto("/lang/en", wait_until="domcontentloaded")
