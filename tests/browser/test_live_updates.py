"""Live updates in a real browser: two agents of one workspace have Logs › Conversations open
(two browser contexts); a customer's message arrives through the real Green API webhook
endpoint and is handled by a real RQ worker process; both open pages show it at the top
without reload, and an agent of another workspace sees nothing. No page may log a JavaScript
error. Also: the page header's availability toggle and notification preferences.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest

from app.extensions import db
from app.models import WorkspaceMember
from tests.browser.conftest import ROOT, page_opener, serve_app
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.conftest import BACKENDS
from tests.fakes import greenapi as green_hooks
from tests.processes import stop

pytestmark = pytest.mark.browser

LIST = "/conversationview/list/?_flt_0_kind=customer"


@pytest.fixture
def shop(factory, redis_conn):
    workspace = factory.workspace("liveshop", name="Live Shop")
    factory.member(workspace, "live-ann", "agent")
    factory.member(workspace, "live-bob", "agent")
    other = factory.workspace("otherlive", name="Other Live")
    factory.member(other, "live-olga", "agent")
    channel = factory.channel(workspace, name="WhatsApp", kind="greenapi",
                              api_url="http://127.0.0.1:9", webhook_token="live-hook-token")
    db.session.commit()
    return workspace, channel


@pytest.fixture(scope="module")
def live_site(app, artifacts_dir, tmp_path_factory):
    """A server of its own with threads for three open pages' streams and the pages."""
    with serve_app(artifacts_dir, tmp_path_factory.mktemp("live-instance"),
                   log_name="live-server", threads=12) as base_url:
        yield base_url


@pytest.fixture
def new_page(browser, live_site):
    open_page, close_all = page_opener(browser, live_site)
    yield open_page
    close_all()


@pytest.fixture
def worker(app, artifacts_dir, tmp_path):
    """A real RQ worker process on the test session's database and Redis."""
    from app.config import TestConfig

    env = {**os.environ, "DATABASE_URL": BACKENDS.database_url,
           "REDIS_URL": BACKENDS.redis_url, "SECRET_KEY": TestConfig.SECRET_KEY,
           "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY, "FAB_UPDATE_PERMS": "false",
           "RELAYDESK_INSTANCE_DIR": str(tmp_path), "LOG_LEVEL": "WARNING"}
    env.pop("RELAYDESK_EMBEDDED_QUEUE", None)
    log = (artifacts_dir / "live-worker.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "run", "worker", "--no-scheduler",
         "--queues", "default,pipeline"], cwd=ROOT, env=env, stdout=log,
        stderr=subprocess.STDOUT)
    yield process
    stop(process)
    log.close()


def open_live(new_page, username):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, username)
    page.goto(LIST)
    page.wait_for_selector("#relaydesk-live[data-connected='1']", state="attached")
    page.evaluate("window.__notReloaded = true")
    return page, errors


def post_webhook(base_url: str, channel, text: str, chat: str) -> int:
    payload = green_hooks.incoming_message(chat, text, id_instance=channel.id_instance,
                                           sender_name="Carla", chat_name="Carla")
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        f"{base_url}/webhooks/greenapi", data=json.dumps(payload).encode(), method="POST",
        headers=green_hooks.webhook_headers(channel.webhook_token))
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status


def test_a_second_agents_open_inbox_shows_the_new_message_without_reload(
        live_site, new_page, shop, worker, artifacts_dir):
    _workspace, channel = shop
    ann, ann_errors = open_live(new_page, "live-ann")
    bob, bob_errors = open_live(new_page, "live-bob")
    olga, olga_errors = open_live(new_page, "live-olga")
    text = "Hello, is my refill on its way?"
    assert text not in bob.content()

    assert post_webhook(live_site, channel, text, "79001112233@c.us") == 200

    for page in (bob, ann):
        first_row = page.locator("div.table-responsive table tbody tr").first
        first_row.get_by_text(text[:40]).wait_for(timeout=15_000)
        assert page.evaluate("window.__notReloaded === true")  # the same page, not reloaded
    bob.screenshot(path=str(artifacts_dir / "live-updates-second-agent.png"), full_page=True)
    olga.wait_for_timeout(1000)
    assert text not in olga.content()  # another workspace's page never hears of it
    assert ann_errors == [] and bob_errors == [] and olga_errors == []


def test_the_header_sets_availability_and_notification_preferences(live_site, new_page,
                                                                   shop):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "live-ann")
    page.goto(LIST)
    page.click("#availability-toggle")
    page.click("#availability-online")
    page.wait_for_load_state()
    assert "/conversationview/list/" in page.url
    assert page.get_attribute("#availability-toggle", "aria-label") == "Online"
    page.click("#availability-toggle")
    page.locator("#availability-state").get_by_text("Online").wait_for()
    # the menu is open: its notification settings below
    page.check("#notify-sound")
    page.click("#notify-save")
    page.wait_for_load_state()
    assert page.locator("#relaydesk-live").get_attribute("data-sound") == "1"
    assert page.locator("#relaydesk-live").get_attribute("data-desktop") == ""
    db.session.expire_all()
    member = (db.session.query(WorkspaceMember)
              .join(WorkspaceMember.user).filter_by(username="live-ann").one())
    assert member.availability == "online" and member.notify_sound
    assert errors == []


def test_the_inbox_follows_messages_status_and_typing_without_reload(
        live_site, new_page, shop, worker, artifacts_dir):
    """The inbox itself: one agent's list and another's open conversation show the customer's
    new message, a teammate's status change and their typing, without reload."""
    from app.models import Conversation
    from app.models.base import utcnow

    workspace, channel = shop
    chat = "79001112244@c.us"
    conversation = Conversation(workspace_id=workspace.id, channel_id=channel.id, chat_id=chat,
                                contact_name="Dora", last_inbound_at=utcnow(),
                                preview="earlier message")
    db.session.add(conversation)
    db.session.commit()

    def open_inbox(username, path):
        page = new_page()
        errors = watch_console(page)
        sign_in(page, username)
        page.goto(path)
        page.wait_for_selector("#relaydesk-live[data-connected='1']", state="attached")
        page.evaluate("window.__notReloaded = true")
        return page, errors

    ann_list, ann_list_errors = open_inbox("live-ann", "/inbox/")
    bob, bob_errors = open_inbox("live-bob", f"/inbox/{conversation.id}")
    text = "Is order 2274209 done yet?"
    assert post_webhook(live_site, channel, text, chat) == 200

    bob.locator("#thread").get_by_text(text).wait_for(timeout=15_000)
    # the list's row now carries the platform's name for the sender (it said "Dora")
    ann_list.locator(".inbox-row").first.get_by_text("Carla").wait_for(timeout=15_000)

    ann, ann_errors = open_inbox("live-ann", f"/inbox/{conversation.id}")
    ann.fill("#composer-text", "Checking")  # a teammate types: the other page says so
    bob.locator("#inbox-typing").get_by_text("typing").wait_for(timeout=10_000)
    ann.select_option("#conversation-status", "pending")
    bob.locator("#inbox-status-label").get_by_text("Pending").wait_for(timeout=10_000)
    assert bob.locator("#conversation-status").input_value() == "pending"
    for page in (bob, ann_list):
        assert page.evaluate("window.__notReloaded === true")
    bob.screenshot(path=str(artifacts_dir / "live-inbox-second-agent.png"), full_page=True)
    assert ann_list_errors == [] and bob_errors == [] and ann_errors == []
