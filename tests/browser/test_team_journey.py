"""Issue 11, point 4 in a real browser (CSRF on, the app in its own gunicorn process).

A manager invites an agent from the Members screen; the invitation mail (queued by the server in
Redis, delivered here by running the job into the memory backend) carries the link; the agent
opens it, chooses a password, signs in and sees the workspace as an agent; the manager suspends
them and the agent's next page load is signed out. Then "Forgot your password?" from the login
page. No page logs a JavaScript error. Screenshots go to test-artifacts/team-*.png.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_provider_routes import choose, sign_in
from tests.factories import password_for
from tests.integration.team_support import deliver_mail, link_in

pytestmark = pytest.mark.browser

INVITEE = "journey.agent@example.org"
PASSWORD = "Velvet-Compass-3318"


class Problems:
    """JavaScript errors and uncaught exceptions of a page (an answer's status is asserted
    where it matters: Chromium logs "Failed to load resource" for the expected 403 and 410)."""

    def __init__(self, page):
        self.seen: list[str] = []
        page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in
                m.text and self.seen.append(f"{page.url}: console error: {m.text}"))
        page.on("pageerror", lambda exc: self.seen.append(f"{page.url}: uncaught: {exc}"))


@pytest.fixture
def alpha(factory, redis_conn):
    workspace = factory.workspace("alpha", "Alpha Panel")
    manager = factory.member(workspace, "alpha-manager", "manager")
    return manager.username


def click_and_wait(page, locator) -> None:
    """Click something that loads a new page, and wait for that page (not the old one)."""
    with page.expect_navigation():
        locator.click()
    page.wait_for_load_state("load")


def choose_password(page, password: str) -> None:
    """Fill the set-password page (an invitation or a reset link) and send it."""
    form = page.locator("#model_form")
    form.locator("#password").fill(password)
    form.locator("#conf_password").fill(password)
    click_and_wait(page, form.locator("button[type=submit]"))


def shot(page, artifacts_dir, name):
    page.screenshot(path=str(artifacts_dir / f"team-{name}.png"), full_page=True)


def test_manager_invites_agent_who_signs_in_and_is_suspended(app, new_page, alpha,
                                                             artifacts_dir):
    manager = new_page()
    manager_problems = Problems(manager)
    sign_in(manager, alpha, password_for(alpha))
    manager.goto("/memberview/list/")
    shot(manager, artifacts_dir, "1-members")
    click_and_wait(manager, manager.locator("a[href*='/memberview/add']").first)
    manager.wait_for_load_state()
    form = manager.locator("#model_form")

    # a bad address comes back beside its field, with everything typed kept
    form.locator("#email").fill("journey agent")
    form.locator("#full_name").fill("Journey Agent")
    choose(manager, "role", "Agent")
    click_and_wait(manager, form.locator("button[type=submit]"))
    form = manager.locator("#model_form")
    assert "name@example.com" in form.inner_text()
    assert form.locator("#email").input_value() == "journey agent"
    assert form.locator("#full_name").input_value() == "Journey Agent"
    shot(manager, artifacts_dir, "2-invite-refused")

    form.locator("#email").fill(INVITEE)
    click_and_wait(manager, form.locator("button[type=submit]"))
    assert manager.url.endswith("/memberview/list/")
    expect(manager.locator("body")).to_contain_text(f"Invitation sent to {INVITEE}")
    row = manager.locator("table tbody tr", has_text=INVITEE)
    assert "Invited" in row.inner_text() and "Agent" in row.inner_text()
    shot(manager, artifacts_dir, "3-invited")

    [mail] = deliver_mail(app)
    assert mail.to == INVITEE
    agent = new_page()
    agent_problems = Problems(agent)
    agent.goto(link_in(mail))
    expect(agent.locator("body")).to_contain_text(INVITEE)
    shot(agent, artifacts_dir, "4-choose-password")
    choose_password(agent, "password2024")
    assert "too common" in agent.locator("#model_form").inner_text()
    choose_password(agent, PASSWORD)
    expect(agent.locator("body")).to_contain_text("Your password is set")
    assert "/login" in agent.url
    sign_in(agent, INVITEE, PASSWORD)
    agent.goto("/channelview/list/")
    assert agent.locator("body").inner_text().count("Alpha Panel") >= 1
    shot(agent, artifacts_dir, "5-agent-signed-in")
    assert agent.goto("/memberview/list/").status == 403  # agents manage nobody

    manager.reload()
    row = manager.locator("table tbody tr", has_text=INVITEE)
    assert "Active" in row.inner_text()
    row.locator("input.action_check").check()
    manager.locator("button.dropdown-toggle", has_text="Actions").click()
    manager.locator("a.suspend_menu_item").click()
    click_and_wait(manager, manager.locator("#modal-confirm-ok"))
    expect(manager.locator("body")).to_contain_text(f"Suspended and signed out: {INVITEE}")
    assert "Suspended" in manager.locator("table tbody tr", has_text=INVITEE).inner_text()
    shot(manager, artifacts_dir, "6-suspended")

    agent.goto("/channelview/list/")  # the next page load: signed out
    assert "/login" in agent.url
    agent.fill("#username", INVITEE)
    agent.fill("#password", PASSWORD)
    click_and_wait(agent, agent.locator("input[type=submit]"))
    assert "/login" in agent.url  # and cannot sign in again
    assert manager_problems.seen == [] and agent_problems.seen == []


def test_forgot_password_from_the_login_page(app, new_page, alpha, artifacts_dir):
    page = new_page()
    problems = Problems(page)
    page.goto("/login/")
    click_and_wait(page, page.locator("#forgot-password"))
    shot(page, artifacts_dir, "7-forgot")
    page.locator("#model_form #email").fill("alpha-manager@test.example")
    click_and_wait(page, page.locator("#model_form button[type=submit]"))
    assert "on its way" in page.locator("#password-answer").inner_text()
    shot(page, artifacts_dir, "8-forgot-answer")
    [mail] = deliver_mail(app)
    page.goto(link_in(mail))
    choose_password(page, PASSWORD)
    sign_in(page, alpha, PASSWORD)
    page.goto(link_in(mail))  # used
    assert "already used" in page.locator("#link-problem").inner_text()
    shot(page, artifacts_dir, "9-link-used")
    assert problems.seen == []
