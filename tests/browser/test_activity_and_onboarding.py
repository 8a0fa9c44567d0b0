"""The workspace's home in a real browser: the onboarding checklist ticks from real state and
its links open the screens that complete each item; the activity charts are drawn by the
Chart.js the app serves itself (no console error, no blocked script); a manager sends a
Playground message for real and watches its page turn into the result by itself.
"""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.extensions import db
from app.models import InboundEvent
from tests.browser.matrix import PageWatch
from tests.browser.support import sign_in
from tests.integration.test_activity import handled, ws_channel, ws_provider

pytestmark = pytest.mark.browser


@pytest.fixture
def manager_page(browser, live_server):
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    watch = PageWatch(context)
    page = context.new_page()
    yield page, watch
    context.close()


def test_checklist_and_charts_on_the_home_page(manager_page, factory):
    page, watch = manager_page
    ws, manager = factory.populated_workspace("acme")
    handled(ws, ws_channel(ws), "dispatched", orders=[(True, "ok", ws_provider(ws))],
            dispatch_after=timedelta(seconds=3))
    handled(ws, ws_channel(ws), "refused", orders=[(False, "cooldown", None)])
    sign_in(page, manager.username)
    page.goto("/")
    assert page.locator("#setup-progress").inner_text() == "5 of 6 done"
    assert page.locator('[data-step="channel"] .fa-square-o').count() == 1
    page.wait_for_function("() => ['chart-commands', 'chart-providers', 'chart-latency',"
                           " 'chart-refusals', 'chart-channels'].every("
                           "id => document.getElementById(id).chart)")
    series = page.evaluate("() => document.getElementById('chart-commands').chart.data"
                           ".datasets.map(d => d.label)")
    assert series == ["Passed on", "Refused"]
    page.locator('#setup-checklist [data-step="channel"] a').click()
    page.wait_for_load_state()
    assert "/channelview/list/" in page.url
    assert not watch.take()


def test_send_for_real_from_the_playground(manager_page, factory, app):
    """The worker is this test: it handles the queued message while the page waits."""
    from app.demo import ensure_demo_workspace
    from app.jobs.events import process_event
    from tests.factories import password_for

    page, watch = manager_page
    ensure_demo_workspace()
    factory.sm.reset_password(factory.sm.find_user(username="demo-manager").id,
                              password_for("demo-manager"))
    sign_in(page, "demo-manager")
    page.goto("/playground/")
    page.locator('input[name="chat_id"]').fill("79001234567@c.us")
    page.locator('textarea[name="text"]').fill("2274209 refill")
    page.locator("#for-real").check()
    page.locator("#playground-submit").click()
    page.wait_for_selector("#playground-real")
    assert page.locator("#playground-waiting").count() == 1

    def work():
        with app.app_context():
            event = db.session.query(InboundEvent).one()
            process_event(event.id)
            db.session.remove()

    worker = threading.Thread(target=work)
    worker.start()
    worker.join(30)
    page.wait_for_selector("#playground-outcome", timeout=20_000)  # the page refreshed itself
    assert "Refill requested: 2274209" in page.locator("#playground-real").inner_text()
    assert "EXT-88231 refill" in page.locator(".playground-dispatch").inner_text()
    assert not watch.take()
