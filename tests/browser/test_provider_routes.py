"""Issue item 11: provider routes through a real browser, a real server and real forms (CSRF on).

A manager signs in, adds a provider route and sees it listed; the manager of another workspace
does not see it (nor can pick the first workspace's provider); the master admin sees both
workspaces' routes. Screenshots of the lists go to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from tests.factories import password_for
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

ALPHA_GROUP = "120363111111111111@g.us"
BRAVO_GROUP = "120363222222222222@g.us"


def choose(page, field: str, text: str) -> None:
    """Pick an option in one of FAB's select2 dropdowns, the way a person does."""
    page.locator(f"select#{field} + .select2-container").click()
    page.locator(".select2-results__option", has_text=text).first.click()


def list_rows(page) -> list[str]:
    return [" ".join(t.split()) for t in page.locator("table tbody tr").all_inner_texts()]


@pytest.fixture
def two_workspaces(factory):
    alpha = factory.workspace("alpha", "Alpha Panel")
    alpha_manager = factory.member(alpha, "alpha-manager", "manager")
    factory.channel(alpha, name="Alpha WhatsApp")
    factory.provider(alpha, name="alpha-provider", domains="alphaprovider.example")

    bravo = factory.workspace("bravo", "Bravo Panel")
    bravo_manager = factory.member(bravo, "bravo-manager", "manager")
    bravo_channel = factory.channel(bravo, name="Bravo WhatsApp")
    bravo_provider = factory.provider(bravo, name="bravo-provider", domains="bravo.example")
    factory.route(bravo_provider, bravo_channel, chat_id=BRAVO_GROUP)

    admin = factory.admin("root")
    return alpha_manager.username, bravo_manager.username, admin.username


def test_manager_adds_route_other_workspace_cannot_see_it_admin_sees_both(
        new_page, two_workspaces, artifacts_dir):
    alpha_manager, bravo_manager, admin = two_workspaces

    # The alpha manager adds a route through the menu and the add form.
    page = new_page()
    sign_in(page, alpha_manager, password_for(alpha_manager))
    page.locator("a.dropdown-toggle", has_text="Routing").click()
    page.locator("ul.dropdown-menu a", has_text="Provider routes").click()
    page.wait_for_url(re.compile(r"/providerrouteview/list/"))
    assert ALPHA_GROUP not in page.content()
    page.locator("a[href*='/providerrouteview/add']").first.click()
    page.wait_for_url(re.compile(r"/providerrouteview/add"))
    assert page.locator("#model_form input[name=csrf_token]").count() == 1  # CSRF on
    choose(page, "provider", "alpha-provider")
    choose(page, "channel", "Alpha WhatsApp")
    page.fill("#chat_id", ALPHA_GROUP)
    page.fill("#template", "{external_id} {action}")
    page.fill("#actions", "refill, speed")
    page.locator("#model_form").locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_url(re.compile(r"/providerrouteview/list/"))

    assert "Added Row" in page.locator(".alert").all_inner_texts()[0]
    rows = list_rows(page)
    assert len(rows) == 1
    assert "alpha-provider" in rows[0] and ALPHA_GROUP in rows[0]
    assert "Alpha WhatsApp" in rows[0] and "refill, speed" in rows[0]
    page.screenshot(path=str(artifacts_dir / "provider-routes-manager.png"), full_page=True)

    # The bravo manager sees only bravo's route and cannot pick alpha's provider.
    bravo = new_page()
    sign_in(bravo, bravo_manager, password_for(bravo_manager))
    bravo.goto("/providerrouteview/list/")
    rows = list_rows(bravo)
    assert len(rows) == 1 and BRAVO_GROUP in rows[0]
    assert ALPHA_GROUP not in bravo.content() and "alpha-provider" not in bravo.content()
    bravo.screenshot(path=str(artifacts_dir / "provider-routes-other-manager.png"),
                     full_page=True)
    bravo.goto("/providerrouteview/add")
    choices = bravo.locator("select#provider option").all_inner_texts()
    assert "bravo-provider" in choices and "alpha-provider" not in choices

    # The master admin sees both workspaces' routes.
    root = new_page()
    sign_in(root, admin, password_for(admin))
    root.locator("a.dropdown-toggle", has_text="All workspaces").click()
    root.locator("ul.dropdown-menu a[href*='/adminproviderrouteview/list']").click()
    root.wait_for_url(re.compile(r"/adminproviderrouteview/list/"))
    rows = list_rows(root)
    assert len(rows) == 2
    alpha_row = next(r for r in rows if ALPHA_GROUP in r)
    bravo_row = next(r for r in rows if BRAVO_GROUP in r)
    assert "Alpha Panel" in alpha_row and "Bravo Panel" in bravo_row
    root.screenshot(path=str(artifacts_dir / "provider-routes-admin.png"), full_page=True)
