"""The frame in a real browser at 1280×800: the menu fits one row for every role, the error pages
sit inside the layout with a way back, the home page's checklist leads somewhere."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.browser.test_provider_routes import sign_in
from tests.factories import password_for

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("RELAYDESK_SHOTS", "test-artifacts"))

# The top-level entries of the menu (left and right parts) and the navbar's own height.
MEASURE_MENU = """() => {
  const bar = document.querySelector('.navbar');
  const brand = document.querySelector('.navbar-brand');
  const items = [...document.querySelectorAll('.navbar-collapse > ul.nav > li')]
    .filter(li => li.offsetParent !== null);
  return {
    height: bar.getBoundingClientRect().height,
    brandTop: brand.getBoundingClientRect().top,
    tops: items.map(li => Math.round(li.getBoundingClientRect().top)),
    labels: items.map(li => li.innerText.trim().split('\\n')[0]),
    widths: items.map(li => Math.round(li.getBoundingClientRect().width)),
    right: Math.round(document.querySelector('.navbar-collapse > ul.navbar-right')
                      ?.getBoundingClientRect().width || 0),
  };
}"""


@pytest.fixture
def people(factory):
    ws, manager = factory.populated_workspace("acme")
    agent = factory.member(ws, "acme-agent", "agent")
    admin = factory.admin("root")
    return {"admin": admin.username, "manager": manager.username, "agent": agent.username}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"frame-{name}.png"), full_page=True)


@pytest.mark.parametrize("who", ["admin", "manager", "agent"])
def test_menu_fits_one_row_at_1280(app, new_page, people, who):
    """In every shipped language: the longest words (Russian, Portuguese) are the test."""
    page = new_page()
    assert page.viewport_size == {"width": 1280, "height": 800}
    sign_in(page, people[who], password_for(people[who]))
    wrapped = {}
    for code in ["en", *sorted(app.config["LANGUAGES"].keys() - {"en"})]:
        page.goto(f"/lang/{code}", wait_until="domcontentloaded")
        page.goto("/")
        shot(page, f"menu-{who}-{code}")
        menu = page.evaluate(MEASURE_MENU)
        assert menu["labels"], "no menu entries"
        # one row: every top-level entry on the brand's row, the navbar one row high (50px)
        if max(menu["tops"]) - min(menu["tops"]) > 2 or menu["height"] > 52:
            wrapped[code] = menu
        if who == "admin" and code == "en":
            labels = menu["labels"]
            assert "Security" in labels
            for raw in ("Base Permissions", "Views/Menus", "List Users", "List Roles"):
                assert raw not in labels  # inside the Security dropdown, not on the bar
    assert not wrapped, json.dumps(wrapped, ensure_ascii=False)


def test_security_dropdown_holds_the_permission_screens(new_page, people):
    page = new_page()
    sign_in(page, people["admin"], password_for(people["admin"]))
    page.goto("/")
    page.locator(".navbar-collapse > ul.nav > li.dropdown > a", has_text="Security").click()
    entries = page.locator(".navbar-collapse li.dropdown.open ul.dropdown-menu li a")
    texts = [" ".join(t.split()) for t in entries.all_inner_texts()]
    shot(page, "security-menu")
    for wanted in ("List Users", "List Roles", "Base Permissions", "Views/Menus"):
        assert any(wanted in text for text in texts), texts


def test_error_page_in_the_layout_with_a_way_back(new_page, people):
    page = new_page()
    response = page.goto("/no-such-page")
    assert response.status == 404
    assert page.locator("#error-page .btn#error-home").is_visible()
    assert page.locator("#error-sign-in").is_visible()  # anonymous: no login loop, a choice
    shot(page, "404-anonymous")

    page = new_page()
    sign_in(page, people["manager"], password_for(people["manager"]))
    page.goto("/channelview/list/")
    response = page.goto("/planview/list/", referer=page.url)  # as if a link led there
    assert response.status == 403
    shot(page, "403-manager")
    page.click("#error-back")
    page.wait_for_load_state()
    assert page.url.endswith("/channelview/list/")
    page.goto("/planview/list/")
    page.click("#error-home")
    page.wait_for_load_state()
    assert page.locator("#setup-checklist").is_visible()


def test_favicon_is_served(new_page):
    page = new_page()
    page.goto("/login/")
    response = page.request.get("/favicon.ico")
    assert response.status == 200 and response.body()[:4] == b"\x00\x00\x01\x00"
    href = page.locator("link[rel=icon][type='image/svg+xml']").get_attribute("href")
    assert page.request.get(href).status == 200


def test_home_checklist_and_all_workspaces_menu(new_page, people):
    page = new_page()
    sign_in(page, people["manager"], password_for(people["manager"]))
    page.goto("/")
    shot(page, "home-manager")
    page.click("#next-step a")
    page.wait_for_load_state()
    assert page.url.endswith("/channelview/list/")  # the webhook step: Configure webhook there

    page = new_page()
    sign_in(page, people["admin"], password_for(people["admin"]))
    page.goto("/")
    page.locator(".navbar-collapse > ul.nav > li.dropdown > a", has_text="All workspaces").click()
    headers = page.locator("li.dropdown.open .dropdown-header").all_inner_texts()
    shot(page, "all-workspaces-menu")
    assert [h.strip() for h in headers] == ["Setup", "Routing", "Communication", "Templates",
                                            "Logs"]


def test_master_admin_overrides_a_built_in_reply_and_reverts(new_page, people):
    page = new_page()
    sign_in(page, people["admin"], password_for(people["admin"]))
    page.goto("/replies/built-in/?language=es")
    shot(page, "built-in-replies-admin")
    row = page.locator('tr[data-key="help"][data-language="es"]')
    spanish = row.locator("td.built-in").inner_text()
    row.locator("button.override").click()
    page.wait_for_load_state()
    assert "/globalreplytemplateview/edit/" in page.url
    assert page.locator("#model_form textarea#body").input_value() == spanish
    page.goto("/replies/built-in/?language=es")
    row = page.locator('tr[data-key="help"][data-language="es"]')
    assert "Overridden" in row.inner_text()
    row.locator("button.revert").click()
    page.wait_for_load_state()
    assert "Overridden" not in page.locator('tr[data-key="help"][data-language="es"]').inner_text()


def test_manager_reads_the_built_in_replies(new_page, people):
    page = new_page()
    sign_in(page, people["manager"], password_for(people["manager"]))
    page.goto("/")
    page.locator(".navbar-collapse > ul.nav > li.dropdown > a", has_text="Templates").click()
    page.locator("li.dropdown.open a", has_text="Built-in replies").click()
    page.wait_for_load_state()
    assert page.locator("#built-in-replies").is_visible()
    assert page.locator("button.override").count() == 0
    shot(page, "built-in-replies-manager")
