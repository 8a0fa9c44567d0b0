"""Issue 11's master-admin journey in a real browser, with issue 13's plans: the master admin
creates a plan (two channel platforms, one module, a limit left empty: unlimited) and gives it a
monthly price in US dollars on the plan's page, then a workspace on that plan, then invites its
manager from the members screen; the manager opens the link from the e-mail, chooses a password,
signs in and lands in the new workspace. Every step through the screens a person uses (select2
dropdowns and tag boxes, the date-free forms), no page logging a JavaScript error. Screenshots
go to test-artifacts/admin-journey-*.png.
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


def tags(page, field: str) -> list[str]:
    """The choices shown in a select2 tag box (a multiple select), as a person reads them."""
    box = page.locator(f"select#{field} + .select2-container")
    return [" ".join(t.replace("×", "").split())
            for t in box.locator(".select2-selection__choice").all_inner_texts()]


def untag(page, field: str, text: str) -> None:
    """Remove one choice from a select2 tag box with its ×."""
    box = page.locator(f"select#{field} + .select2-container")
    box.locator(".select2-selection__choice", has_text=text).locator(
        ".select2-selection__choice__remove").click()
    page.keyboard.press("Escape")  # select2 opens its list on a removal


def tag(page, field: str, text: str) -> None:
    """Add a choice to a select2 tag box: open it, click the option, click away (a tag box
    stays open for more choices)."""
    page.locator(f"select#{field} + .select2-container").click()
    page.locator(".select2-results__option", has_text=text).first.click()
    page.locator(".panel-title").first.click()
    assert page.locator(".select2-container--open").count() == 0


def test_master_admin_creates_plan_workspace_and_its_manager(app, factory, new_page,
                                                             redis_conn, artifacts_dir):
    root = factory.admin("journey-root").username
    admin = new_page()
    admin.set_viewport_size({"width": 1280, "height": 800})
    problems = Problems(admin)
    sign_in(admin, root, password_for(root))

    # 1. a plan: two channel platforms, one module, linked users left empty (unlimited); a
    #    limit below zero is refused beside its field, everything typed and chosen kept
    admin.goto("/planview/add")
    form = admin.locator("#model_form")
    assert tags(admin, "mediums") == ["WhatsApp (Green API)", "WhatsApp (Meta Cloud API)",
                                      "Telegram", "Web chat"]  # a new plan: every platform
    form.locator("#code").fill("growth")
    form.locator("#name").fill("Growth")
    untag(admin, "mediums", "WhatsApp (Meta Cloud API)")
    untag(admin, "mediums", "Web chat")
    untag(admin, "modules", "API access")
    tag(admin, "modules", "Ticket workflow")
    form.locator("#max_channels").fill("-1")
    form.locator("#max_linked_users").fill("")
    assert "Leave empty for unlimited." in form.inner_text()
    shot(admin, artifacts_dir, "1-plan-form")
    save(admin)
    form = admin.locator("#model_form")
    assert form.locator(".form-group.has-error #max_channels").count() == 1
    assert form.locator("#name").input_value() == "Growth"
    assert form.locator("#max_linked_users").input_value() == ""
    assert tags(admin, "mediums") == ["WhatsApp (Green API)", "Telegram"]
    assert tags(admin, "modules") == ["Ticket workflow"]
    form.locator("#max_channels").fill("3")
    save(admin)
    assert "/planview/add" not in admin.url, admin.locator("#model_form").inner_text()

    # ... and its monthly price in US dollars, added on the plan's page
    admin.goto("/planview/list/")
    row = admin.locator("table tbody tr", has_text="Growth")
    assert "Unlimited" in row.inner_text()  # linked users
    click_and_wait(admin, row.locator("a[href*='/planview/show/']"))
    page_text = admin.locator("body").inner_text()
    assert "WhatsApp (Green API), Telegram" in page_text and "Ticket workflow" in page_text
    click_and_wait(admin, admin.locator("#PlanPriceView a[href*='/planpriceview/add']"))
    form = admin.locator("#model_form")
    assert form.locator("#plan").count() == 0  # the plan is the page's
    form.locator("#currency").fill("USD")
    choose(admin, "interval", "Monthly")
    form.locator("#amount").fill("19.00")
    save(admin)
    assert "/planview/show/" in admin.url, admin.url  # back on the plan's page
    prices = admin.locator("#PlanPriceView").inner_text()
    assert "19.00 USD / Monthly" in prices, prices
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
        plan = db.session.query(Plan).filter_by(code="growth").one()
        assert (plan.mediums, plan.modules) == ("greenapi,telegram", "tickets")
        assert plan.max_channels == 3 and plan.max_linked_users is None
        assert [(p.currency, p.interval, p.amount_cents) for p in plan.prices] == \
            [("USD", "month", 1900)]
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
