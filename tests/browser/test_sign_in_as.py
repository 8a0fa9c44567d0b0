""""Sign in as" in a real browser: the master admin opens a workspace on the Workspaces screen,
clicks "Sign in as manager" and confirms, sees the red banner on every page while acting as the
manager, changes a setting (the audit trail names both), and returns with "Return to my
account". No page logs a JavaScript error. Screenshots go to test-artifacts/sign-in-as-*.png."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import AuditEntry
from tests.browser.support import sign_in
from tests.browser.test_team_journey import Problems, click_and_wait

pytestmark = pytest.mark.browser

SCREENS = ["/", "/providerview/list/", "/workspacesettingsview/list/", "/auditentryview/list/",
           "/users/userinfo/"]


@pytest.fixture
def people(factory, redis_conn):
    acme, manager = factory.populated_workspace("acme")
    admin = factory.admin("browser-root")
    return {"acme": acme.id, "manager": manager.username, "admin": admin.username}


def test_the_admin_signs_in_as_the_manager_and_returns(new_page, people, artifacts_dir):
    page = new_page()
    problems = Problems(page)
    sign_in(page, people["admin"])
    page.goto(f"/workspaceadminview/show/{people['acme']}")
    page.locator('[id="btn-action-WorkspaceAdminView.action-sign_in_as"]').click()
    dialog = page.locator("#modal-confirm:visible")
    dialog.wait_for()
    assert "Every change is recorded under both names" in dialog.inner_text()
    click_and_wait(page, dialog.locator("#modal-confirm-ok"))

    for path in SCREENS:
        response = page.goto(path)
        assert response.status < 400, (path, response.status)
        banner = page.locator("#sign-in-as-banner")
        assert banner.is_visible(), path
        text = " ".join(banner.inner_text().split())
        assert f"({people['manager']}) of Acme by" in text and people["admin"] in text, text
        assert page.locator("#sign-in-as-end").is_visible()
    page.screenshot(path=str(artifacts_dir / "sign-in-as-banner.png"), full_page=True)
    assert page.goto("/workspaceadminview/list/").status == 403  # the manager's rights only

    page.goto("/providerview/list/")
    page.goto(page.locator("a[href*='/providerview/edit/']").first.get_attribute("href"))
    page.fill("#name", "Acme Supplies")
    click_and_wait(page, page.locator("#model_form button[type=submit]"))
    row = db.session.query(AuditEntry).filter_by(model="Provider", action="update").one()
    assert row.impersonator_label and people["admin"] in row.impersonator_label

    page.goto("/auditentryview/list/")
    assert "Acme Supplies" in page.locator("body").inner_text()
    click_and_wait(page, page.locator("#sign-in-as-end"))
    assert f"/workspaceadminview/show/{people['acme']}" in page.url
    assert page.locator("#sign-in-as-banner").count() == 0
    assert "You are back in your own account." in page.content()
    assert page.goto("/workspaceadminview/list/").status == 200
    page.goto("/adminauditentryview/list/")
    listing = page.locator("body").inner_text()
    assert "Sign in as began" in listing and "Sign in as ended" in listing
    page.screenshot(path=str(artifacts_dir / "sign-in-as-trail.png"), full_page=True)
    db.session.remove()
    assert not problems.seen, problems.seen
