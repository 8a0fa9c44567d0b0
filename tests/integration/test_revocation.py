"""Signing out and changing a password end sessions and tokens (app/auth/revocation.py).

The finding: logout was a GET, and neither logout nor a password change ended other sessions or
issued JWTs. Here: a browser session, a JWT access token and a refresh token are each refused
after a sign-out (page or API) and after a password change (own or by the master admin); the
session that changed its own password stays signed in; GET /logout/ signs nobody out; a POST
without the CSRF token is refused.
"""
from __future__ import annotations

import re
import time
import uuid

import jwt as pyjwt
import pytest

from app.security import ROLE_ADMIN
from tests.integration.login_support import people_maker, user_id_of
from tests.conftest import base_config
from tests.factories import password_for

NEW_PASSWORD = "Fresh-Lantern-4417"


def sign_in(client, username, password=None):
    response = client.post("/login/", data={"username": username,
                                            "password": password or password_for(username)})
    assert response.status_code == 302 and "/login" not in response.headers["Location"], \
        f"{username} could not sign in"


def tokens(client, username, password=None) -> tuple[str, str]:
    response = client.post("/api/v1/security/login", json={
        "username": username, "password": password or password_for(username), "provider": "db",
        "refresh": True})
    assert response.status_code == 200, response.json
    return response.json["access_token"], response.json["refresh_token"]


def session_alive(client) -> bool:
    response = client.get("/users/userinfo/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


def access_alive(app, access) -> bool:
    response = app.test_client().get("/api/v1/menu/", headers={"Authorization": f"Bearer {access}"})
    assert response.status_code in (200, 401), response.status_code
    return response.status_code == 200


def refresh_alive(app, refresh) -> bool:
    response = app.test_client().post("/api/v1/security/refresh",
                                      headers={"Authorization": f"Bearer {refresh}"})
    assert response.status_code in (200, 401), response.status_code
    if response.status_code == 200:
        assert access_alive(app, response.json["access_token"])
    return response.status_code == 200


@pytest.fixture
def people(app):
    return people_maker(app)


@pytest.fixture
def alice(people):
    return people("alice").username


@pytest.fixture
def everywhere(app, alice):
    """alice signed in on two browsers, with an access and a refresh token."""
    first, second = app.test_client(), app.test_client()
    sign_in(first, alice)
    sign_in(second, alice)
    access, refresh = tokens(app.test_client(), alice)
    assert session_alive(first) and session_alive(second)
    assert access_alive(app, access) and refresh_alive(app, refresh)
    return first, second, access, refresh


def test_tokens_carry_the_epoch(app, alice):
    access, refresh = tokens(app.test_client(), alice)
    for token in (access, refresh):
        assert pyjwt.decode(token, options={"verify_signature": False})["epoch"] == 0


def test_signing_out_ends_every_session_and_token(app, alice, everywhere):
    first, second, access, refresh = everywhere
    response = first.post("/logout/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert not session_alive(first)
    assert not session_alive(second)  # the other browser too
    assert not access_alive(app, access)
    assert not refresh_alive(app, refresh)
    revoked = app.test_client().get("/api/v1/menu/", headers={"Authorization": f"Bearer {access}"})
    assert revoked.json == {"msg": "Token has been revoked"}

    sign_in(first, alice)  # signing in again works, and its tokens too
    new_access, new_refresh = tokens(app.test_client(), alice)
    assert session_alive(first) and access_alive(app, new_access)
    assert refresh_alive(app, new_refresh)
    assert pyjwt.decode(new_access, options={"verify_signature": False})["epoch"] == 1


def test_signing_out_through_the_api(app, alice, everywhere):
    first, second, access, refresh = everywhere
    response = app.test_client().post("/api/v1/security/logout",
                                      headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 200 and response.json == {"message": "Signed out."}
    assert not session_alive(first) and not session_alive(second)
    assert not access_alive(app, access) and not refresh_alive(app, refresh)
    assert app.test_client().post("/api/v1/security/logout").status_code == 401


def test_get_logout_signs_nobody_out(app, alice, everywhere):
    first, second, access, refresh = everywhere
    page = first.get("/logout/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'<form method="post" action="/logout/"', html)
    assert 'name="csrf_token"' in html
    assert session_alive(first) and session_alive(second)
    assert access_alive(app, access) and refresh_alive(app, refresh)
    anonymous = app.test_client().get("/logout/")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


def test_the_menu_signs_out_with_a_form_not_a_link(app, alice):
    client = app.test_client()
    sign_in(client, alice)
    html = client.get("/users/userinfo/").get_data(as_text=True)
    assert 'href="/logout/"' not in html
    form = re.search(r'<form method="post" action="/logout/" id="logout-form">(.*?)</form>',
                     html, re.S)
    assert form and 'name="csrf_token"' in form.group(1) and 'type="submit"' in form.group(1)


def test_changing_ones_own_password_keeps_only_this_session(app, alice, everywhere):
    first, second, access, refresh = everywhere
    response = first.post("/resetmypassword/form", data={
        "current_password": password_for(alice), "password": NEW_PASSWORD,
        "conf_password": NEW_PASSWORD})
    assert response.status_code == 302
    page = first.get("/users/userinfo/")
    assert page.status_code == 200  # the session that changed it stays signed in
    assert "Password changed. Your other sessions have been signed out." in page.get_data(
        as_text=True)
    assert not session_alive(second)
    assert not access_alive(app, access) and not refresh_alive(app, refresh)

    assert app.test_client().post("/api/v1/security/login", json={
        "username": alice, "password": password_for(alice), "provider": "db"}).status_code == 401
    tokens(app.test_client(), alice, NEW_PASSWORD)


def test_a_password_set_by_the_master_admin_ends_that_logins_sessions(app, people, alice,
                                                                     everywhere):
    first, second, access, refresh = everywhere
    root = people("root", ROLE_ADMIN)
    admin = app.test_client()
    sign_in(admin, root.username)
    alice_id = user_id_of(app, alice)
    response = admin.post(f"/resetpassword/form?pk={alice_id}",
                          data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert not session_alive(first) and not session_alive(second)
    assert not access_alive(app, access) and not refresh_alive(app, refresh)
    assert session_alive(admin)
    sign_in(app.test_client(), alice, NEW_PASSWORD)

    # The master admin setting their own password on that screen stays signed in.
    other_admin_session = app.test_client()
    sign_in(other_admin_session, root.username)
    response = admin.post(f"/resetpassword/form?pk={root.id}",
                          data={"password": NEW_PASSWORD, "conf_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert session_alive(admin) and not session_alive(other_admin_session)


def test_fab_reset_password_command_ends_sessions_too(app, alice, everywhere):
    from flask_appbuilder.cli import reset_password

    first, second, access, refresh = everywhere
    result = app.test_cli_runner().invoke(reset_password, ["--username", alice,
                                                           "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    assert not session_alive(first) and not session_alive(second)
    assert not access_alive(app, access) and not refresh_alive(app, refresh)


def test_tokens_and_sessions_without_an_epoch_are_refused(app, people, alice):
    """Tokens and sessions from before revocation existed carry no epoch: refused once."""
    user_id = user_id_of(app, alice)
    now = int(time.time())
    secret = app.config.get("JWT_SECRET_KEY") or app.config["SECRET_KEY"]
    old = pyjwt.encode({"sub": str(user_id), "type": "access", "fresh": False,
                        "jti": str(uuid.uuid4()), "iat": now, "nbf": now, "exp": now + 600},
                       secret, algorithm="HS256")
    assert not access_alive(app, old)

    client = app.test_client()
    sign_in(client, alice)
    with client.session_transaction() as session:
        del session["_auth_epoch"]
    assert not session_alive(client)


# --- CSRF on (the production setting) ------------------------------------------------------------

@pytest.fixture(scope="module")
def csrf_app(app):
    """A second app on the same database and Redis, with CSRF checks on as in production."""
    from app import create_app

    return create_app(base_config(WTF_CSRF_ENABLED=True, FAB_UPDATE_PERMS=False))


def _csrf_token(html: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|'
                     r'name="csrf_token" value="([^"]+)"', html).group(1, 2)[0] or \
        re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_signing_out_needs_the_csrf_token(csrf_app, alice):
    client = csrf_app.test_client()
    login_page = client.get("/login/").get_data(as_text=True)
    response = client.post("/login/", data={"username": alice, "password": password_for(alice),
                                            "csrf_token": _csrf_token(login_page)})
    assert response.status_code == 302 and "/login" not in response.headers["Location"]
    page = client.get("/users/userinfo/")
    assert page.status_code == 200

    refused = client.post("/logout/")  # a cross-site form or a script without the token
    assert refused.status_code == 400
    assert client.get("/users/userinfo/").status_code == 200  # still signed in

    menu_form = re.search(r'id="logout-form">(.*?)</form>', page.get_data(as_text=True), re.S)
    token = re.search(r'name="csrf_token" value="([^"]+)"', menu_form.group(1)).group(1)
    done = client.post("/logout/", data={"csrf_token": token})
    assert done.status_code == 302
    assert client.get("/users/userinfo/").status_code == 302  # signed out
