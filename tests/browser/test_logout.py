"""Signing out through the user menu of a real browser, against the real server (CSRF on).

The menu's "Logout" is a small POST form with the CSRF token (it was a link: any page could sign
a user out with an <img>). Signing out ends the other browser's session too; opening /logout/
signs nobody out. A screenshot of the open menu goes to test-artifacts/.
"""
from __future__ import annotations

import re

import pytest

from app.security import ROLE_MANAGER
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser


def signed_in(page) -> bool:
    page.goto("/users/userinfo/")
    page.wait_for_load_state()
    return "/login" not in page.url


def test_sign_out_from_the_menu_ends_every_session(new_page, factory, artifacts_dir):
    alice = factory.user("alice", ROLE_MANAGER).username
    here, elsewhere = new_page(), new_page()
    errors = []
    here.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(here, alice)
    sign_in(elsewhere, alice)

    # Opening /logout/ (a link, a bookmark, an <img> on another site) signs nobody out.
    here.goto("/logout/")
    assert here.locator("#logout-page-form input[name=csrf_token]").count() == 1
    assert signed_in(here) and signed_in(elsewhere)

    here.goto("/")
    here.locator(".navbar-right a.dropdown-toggle", has_text="alice").click()
    button = here.locator("#logout-button")
    assert button.is_visible()
    assert here.locator("#logout-form input[name=csrf_token]").count() == 1
    here.screenshot(path=str(artifacts_dir / "logout-menu.png"))
    button.click()
    here.wait_for_url(re.compile(r"/login/"))

    assert not signed_in(here)
    assert not signed_in(elsewhere)  # the other browser was signed out too
    assert errors == []
