"""Health in a real browser: a channel problem appears on the health page and is notified
once. A Green API channel is paused (WhatsApp not authorised); the health runner opens the
problem and e-mails the managers once; the manager opens Setup › Health from the menu, reads
the problem in words with its fix, sees the notice, and follows "Fix it here" to the channel's
page. Another run, while the problem lasts, tells nobody again. No page logs a JavaScript
error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app import health_checks
from app.models.channels import PAUSING_STATES
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.integration.team_support import deliver_templated_mail

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(app, factory, redis_conn, fake_greenapi):
    workspace = factory.workspace("healthshop", name="Health Shop")
    factory.member(workspace, "health-manager", "manager")
    channel = factory.channel(workspace, kind="greenapi", name="Shop WhatsApp",
                              api_url=fake_greenapi.url, id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token, status="paused",
                              status_detail=PAUSING_STATES["notAuthorized"])
    return workspace.id, channel.id


def test_a_channel_problem_appears_on_the_health_page_and_is_notified_once(
        app, new_page, shop, artifacts_dir):
    workspace_id, channel_id = shop
    assert health_checks.refresh(workspace_id)["opened"] == 1  # the health runner's part
    mails = deliver_templated_mail(app)
    assert [m.to for m in mails] == ["health-manager@test.example"]

    page = new_page()
    errors = watch_console(page)
    sign_in(page, "health-manager")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Setup").click()
    page.locator(".navbar a[href='/health/']").click()
    page.wait_for_load_state()
    assert "/health/" in page.url
    assert page.locator("#health").get_attribute("data-status") == "problem"
    problem = page.locator(".health-problem[data-code=channel_not_authorized]")
    assert "Shop WhatsApp" in problem.locator(".subject").inner_text()
    assert "scan the QR code" in problem.locator(".message").inner_text()
    assert "Test connection" in problem.locator(".fix").inner_text()
    notice = page.locator(".health-notice[data-code=channel_not_authorized]")
    assert notice.count() == 1 and notice.get_attribute("data-open") == "yes"
    page.screenshot(path=str(artifacts_dir / "health-problem.png"), full_page=True)

    problem.locator("a.health-fix-link").click()
    page.wait_for_load_state()
    assert page.url.endswith(f"/channelview/show/{channel_id}")
    assert "Shop WhatsApp" in page.content()

    assert health_checks.refresh(workspace_id)["opened"] == 0  # it lasts: nobody told again
    assert deliver_templated_mail(app) == []
    assert not errors, errors


def test_the_master_admin_sees_the_workspaces_with_problems(app, new_page, factory, shop):
    workspace_id, _channel_id = shop
    factory.workspace("calmshop", name="Calm Shop")
    health_checks.refresh(workspace_id)
    factory.admin("root")
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "root")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Master admin").click()
    page.locator(".navbar a[href='/health/']").click()
    page.wait_for_load_state()
    problems = page.locator("#health-problems")
    assert "Health Shop" in problems.inner_text() and "Calm Shop" not in page.content()
    problems.locator("a.health-workspace", has_text="Health Shop").click()
    page.wait_for_load_state()
    assert "workspace=healthshop" in page.url
    assert page.locator("h2 small").inner_text() == "Health Shop"
    assert page.locator(".health-problem[data-code=channel_not_authorized]").count() == 1
    assert not errors, errors
