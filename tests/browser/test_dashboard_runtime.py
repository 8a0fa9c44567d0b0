"""The master admin's Dashboard and Runtime screens in a real browser.

Signing in lands the master admin on the dashboard; its charts are drawn by the Chart.js the
app serves itself under the Content Security Policy (a blocked script or any console error
fails the test); a tile opens the list it counts. On Runtime, a job that failed in a real RQ
worker is listed with its error's last line; Retry queues it again (a burst worker then runs
it) and Delete removes another one.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from rq.registry import FailedJobRegistry

from app.models import Subscription
from app.models.base import utcnow
from tests.browser.matrix import PageWatch, alerts
from tests.browser.support import sign_in
from app.redaction import remember
from tests.integration.test_runtime import FLAKY, SECRET, _failing, burst, default_queue

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("RELAYDESK_SHOTS", "test-artifacts"))


@pytest.fixture
def admin_page(browser, live_server, factory, redis_conn):
    factory.admin("root")
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    watch = PageWatch(context)
    page = context.new_page()
    yield page, watch
    context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_dashboard_is_the_landing_page_with_its_charts(admin_page, factory):
    page, watch = admin_page
    plan = factory.plan("pro", name="Pro")
    for n, (amount, interval) in enumerate(((1900, "month"), (19000, "year"))):
        workspace = factory.workspace(f"shop-{n}")
        factory.commit(Subscription(workspace_id=workspace.id, plan_id=plan.id,
                                    status="active", amount_cents=amount, interval=interval,
                                    currency="USD",
                                    current_period_end=utcnow() + timedelta(days=3)))
    sign_in(page, "root")
    assert page.url.endswith("/dashboard/")
    page.wait_for_function("() => document.getElementById('chart-signups').chart"
                           " && document.getElementById('chart-mrr').chart")
    drawn = page.evaluate("""() => ['chart-signups', 'chart-mrr'].map(id => {
        const canvas = document.getElementById(id);
        return [canvas.width > 0 && canvas.height > 0, canvas.chart.data.datasets.length];
    })""")
    assert drawn == [[True, 1], [True, 1]]
    mrr = page.locator('[data-tile="mrr"] .tile-value').inner_text()
    assert "34.83 USD" in mrr
    shot(page, "dashboard-admin")

    page.locator('[data-tile="active_workspaces"] a.tile-link').click()
    page.wait_for_load_state()
    assert "/workspaceadminview/list/" in page.url
    assert page.locator("table").get_by_text("shop-1").count() >= 1
    page.goto("/dashboard/")
    page.locator('[data-tile="expiring_subscriptions"] a.tile-link').click()
    page.wait_for_load_state()
    assert page.locator("table").get_by_text("Shop-0").count() >= 1
    assert not watch.take()


def _failed_job(app, label: str):
    """A job that failed in the app's own worker (in this process, which knows SECRET: the
    web server never saw it, so only the worker's redaction keeps it off the page)."""
    job = default_queue(app).enqueue(FLAKY, label, failure_ttl=3600)
    burst(app)
    return job


def test_runtime_retry_and_delete(app, admin_page):
    page, watch = admin_page
    _failing["on"] = True
    remember(SECRET)
    kept, dropped = _failed_job(app, "order 11"), _failed_job(app, "order 22")
    sign_in(page, "root")
    page.locator(".navbar-collapse > ul.nav > li.dropdown > a", has_text="Master admin").click()
    page.locator("li.dropdown.open a", has_text="Runtime").click()
    page.wait_for_load_state()
    assert page.url.endswith("/runtime/")
    row = page.locator(f'#runtime-failed tr[data-job="{kept.id}"]')
    assert row.locator("td.error").inner_text() == \
        "ValueError: the panel refused order 11 with token ****"
    assert SECRET not in page.content()
    assert page.locator('#runtime-queues tr[data-queue="default"] .depth').inner_text() == "0"
    shot(page, "runtime-failed")

    row.locator("form.runtime-retry button").click()
    page.wait_for_load_state()
    assert any("1 job was queued again." in text for text in alerts(page, "success"))
    assert page.locator(f'#runtime-failed tr[data-job="{kept.id}"]').count() == 0
    assert page.locator('#runtime-queues tr[data-queue="default"] .depth').inner_text() == "1"

    page.locator(f'#runtime-failed tr[data-job="{dropped.id}"] form.runtime-delete button') \
        .click()
    page.wait_for_load_state()
    assert any("1 failed job was deleted." in text for text in alerts(page, "success"))
    assert page.locator("#runtime-no-failed").is_visible()

    _failing["on"] = False
    burst(app)
    queue = default_queue(app)
    assert FailedJobRegistry(queue=queue).count == 0 and queue.count == 0
    page.reload()
    assert page.locator('#runtime-queues tr[data-queue="default"] .depth').inner_text() == "0"
    assert not watch.take()
