"""Issue 11's master-admin journey in a real browser: the master admin creates a plan, then a
workspace on that plan, then invites its manager from the members screen; the manager opens the
link from the e-mail, chooses a password, signs in and lands in the new workspace. Every step
through the screens a person uses (select2 dropdowns, the date-free forms), no page logging a
JavaScript error. Screenshots go to test-artifacts/admin-journey-*.png.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Plan, Workspace, WorkspaceMember
from tests.browser.test_provider_routes import choose, sign_in
from tests.browser.test_team_journey import Problems, choose_password, click_and_wait
from tests.factories import password_for
from tests.integration.team_support import deliver_mail, link_in

pytestmark = pytest.mark.browser

MANAGER = "owner@acme-smm.example"
PASSWORD = "Copper-Lighthouse-7712"


def shot(page, artifacts_dir, name):
    page.screenshot(path=str(artifacts_dir / f"admin-journey-{name}.png"), full_page=True)


def save(page) -> None:
    click_and_wait(page, page.locator("#model_form button[type=submit]"))


def test_master_admin_creates_plan_workspace_and_its_manager(app, factory, new_page,
                                                             redis_conn, artifacts_dir):
    root = factory.admin("journey-root").username
    admin = new_page()
    admin.set_viewport_size({"width": 1280, "height": 800})
    problems = Problems(admin)
    sign_in(admin, root, password_for(root))

    # 1. a plan; a limit below zero is refused beside its field, everything typed kept
    admin.goto("/planview/add")
    form = admin.locator("#model_form")
    form.locator("#code").fill("growth")
    form.locator("#name").fill("Growth")
    form.locator("#max_channels").fill("-1")
    form.locator("#max_linked_users").fill("500")
    save(admin)
    form = admin.locator("#model_form")
    assert form.locator(".form-group.has-error #max_channels").count() == 1
    assert form.locator("#name").input_value() == "Growth"
    assert form.locator("#max_linked_users").input_value() == "500"
    form.locator("#max_channels").fill("3")
    save(admin)
    assert "/planview/add" not in admin.url, admin.locator("#model_form").inner_text()
    shot(admin, artifacts_dir, "1-plan")

    # 2. a workspace on that plan
    admin.goto("/workspaceadminview/add")
    form = admin.locator("#model_form")
    form.locator("#slug").fill("acme-smm")
    form.locator("#name").fill("Acme SMM")
    choose(admin, "plan", "Growth")
    save(admin)
    assert "/workspaceadminview/add" not in admin.url, admin.locator("#model_form").inner_text()
    shot(admin, artifacts_dir, "2-workspace")

    # 3. its manager, invited from the members screen
    admin.goto("/adminmemberview/add")
    form = admin.locator("#model_form")
    form.locator("#email").fill(MANAGER)
    form.locator("#full_name").fill("Acme Owner")
    choose(admin, "role", "Manager")
    choose(admin, "workspace", "Acme SMM")
    save(admin)
    assert f"Invitation sent to {MANAGER}" in admin.content()
    shot(admin, artifacts_dir, "3-invited")

    with app.app_context():
        workspace = db.session.query(Workspace).filter_by(slug="acme-smm").one()
        assert workspace.name == "Acme SMM" and workspace.plan.code == "growth"
        assert db.session.query(Plan).filter_by(code="growth").one().max_channels == 3
        member = db.session.query(WorkspaceMember).filter_by(workspace_id=workspace.id).one()
        assert member.role == "manager"
        db.session.remove()

    # 4. the manager sets a password from the e-mail and lands in the new workspace
    [mail] = deliver_mail(app)
    assert mail.to == MANAGER
    manager = new_page()
    manager_problems = Problems(manager)
    manager.goto(link_in(mail))
    choose_password(manager, PASSWORD)
    sign_in(manager, MANAGER, PASSWORD)
    manager.goto("/")
    assert "Acme SMM" in manager.locator("body").inner_text()
    assert manager.goto("/memberview/list/").status == 200  # a manager manages the team
    shot(manager, artifacts_dir, "4-manager-home")
    assert problems.seen == [] and manager_problems.seen == []
