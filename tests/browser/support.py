"""Small helpers every browser test shares."""
from __future__ import annotations

from tests.factories import password_for


def sign_in(page, username: str, password: str | None = None) -> None:
    """Sign in through the login page the way a person does (the Factory's password unless
    another is given), and make sure it worked."""
    page.goto("/login/")
    page.fill("#username", username)
    page.fill("#password", password if password is not None else password_for(username))
    page.click("input[type=submit]")
    page.wait_for_load_state()
    assert "/login" not in page.url, f"{username} could not sign in"
