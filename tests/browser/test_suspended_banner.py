"""A suspended workspace's members see, on every screen, that it is suspended, why, and how to
resume (a link to the Subscription screen for those who may open it), in their language; an
active workspace's members see nothing of it (docs/ARCHITECTURE.md "Plans at run time"). Its
forms change nothing and say why (app/suspension.py)."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Workspace
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

REASON = "Invoice INV-2031 is 30 days overdue"
SCREENS = ["/", "/channelview/list/", "/workspacesettingsview/list/",
           "/inboundeventview/list/", "/replytemplateview/list/", "/account/api-keys/",
           "/users/userinfo/"]


@pytest.fixture
def people(factory):
    acme, manager = factory.populated_workspace("acme")
    agent = factory.member(acme, "acme-agent", "agent")
    _globex, other = factory.populated_workspace("globex")
    acme.status, acme.suspended_reason = "suspended", REASON
    db.session.commit()
    return {"acme": acme, "manager": manager.username, "agent": agent.username,
            "other": other.username}


def test_the_suspended_workspaces_manager_sees_the_banner_on_every_screen(new_page, people):
    page = new_page()
    sign_in(page, people["manager"])
    for path in SCREENS:
        response = page.goto(path)
        assert response.status < 400, (path, response.status)
        banner = page.locator("#suspended-banner")
        assert banner.is_visible(), path
        text = banner.inner_text()
        assert "This workspace is suspended." in text, path
        assert REASON in page.locator("#suspended-reason").inner_text(), path
        assert "contact the platform's administrator" in text, path
    page.locator("#suspended-subscription-link").click()
    page.wait_for_load_state()
    assert page.url.endswith("/billing/")
    assert page.locator("#suspended-banner").is_visible()

    page.goto("/lang/es")
    page.goto("/channelview/list/")
    text = page.locator("#suspended-banner").inner_text()
    assert "This workspace is suspended." not in text and REASON in text


def test_an_agent_sees_it_without_the_subscription_link(new_page, people):
    page = new_page()
    sign_in(page, people["agent"])
    page.goto("/inboundeventview/list/")
    assert page.locator("#suspended-banner").is_visible()
    assert page.locator("#suspended-subscription-link").count() == 0


def test_an_active_workspace_and_a_resumed_one_show_no_banner(new_page, people):
    other = new_page()
    sign_in(other, people["other"])
    other.goto("/channelview/list/")
    assert other.locator("#suspended-banner").count() == 0

    workspace = db.session.get(Workspace, people["acme"].id)
    workspace.status = "active"
    db.session.commit()
    page = new_page()
    sign_in(page, people["manager"])
    page.goto("/channelview/list/")
    assert page.locator("#suspended-banner").count() == 0


def test_a_suspended_workspaces_form_changes_nothing_and_says_why(new_page, people):
    """The real form (CSRF on) posts, the suspension refuses it: back to the form with the
    message in a flash, and no row added (app/suspension.py)."""
    from app.models import Provider
    from app.suspension import SUSPENDED_MESSAGE

    page = new_page()
    sign_in(page, people["manager"])
    before = db.session.query(Provider).filter_by(workspace_id=people["acme"].id).count()
    page.goto("/providerview/add")
    page.fill("#name", "Added while suspended")
    page.locator("form#model_form button[type=submit], form#model_form input[type=submit]") \
        .first.click()
    page.wait_for_load_state()
    assert page.url.endswith("/providerview/add")
    flashes = page.locator(".alert-danger").all_inner_texts()
    assert any(str(SUSPENDED_MESSAGE) in text for text in flashes), flashes
    db.session.expire_all()
    assert db.session.query(Provider).filter_by(workspace_id=people["acme"].id).count() == before
    page.goto("/billing/")  # paying stays open
    assert page.locator("#billing-summary").is_visible()
