"""Error answers (app/errors.py): screens get a page inside the layout with a way back, in the
user's language; /api/ and /webhooks/ keep JSON; a 500 shows no trace and no secret."""
from __future__ import annotations

import pytest
from werkzeug.exceptions import TooManyRequests

SECRET = "sk_live_very-secret-token-123456"


def page(response) -> str:
    return response.get_data(as_text=True)


def assert_friendly_page(response, status: int) -> str:
    assert response.status_code == status
    assert response.mimetype == "text/html"
    html = page(response)
    assert f'id="error-page" data-status="{status}"' in html
    assert 'class="navbar' in html  # inside the app's layout, with its menu
    assert 'id="error-home"' in html  # a way back
    assert "Traceback" not in html and "werkzeug" not in html.lower()
    return html


def test_anonymous_404_is_a_page_not_a_login_redirect(client):
    response = client.get("/no-such-page")
    html = assert_friendly_page(response, 404)
    assert "Page not found" in html
    assert 'id="error-sign-in"' in html  # anonymous: a way to sign in
    # a record that does not exist, anonymously: FAB's screens still ask to sign in first
    assert client.get("/channelview/show/999999").status_code == 302


def test_signed_in_404_has_no_sign_in_button_and_offers_the_previous_page(factory, auth,
                                                                          client):
    _ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    response = client.get("/channelview/show/999999",
                          headers={"Referer": "http://localhost/channelview/list/"})
    html = assert_friendly_page(response, 404)
    assert 'id="error-sign-in"' not in html
    assert 'id="error-back" href="http://localhost/channelview/list/"' in html


def test_back_link_never_leads_to_another_site(client):
    response = client.get("/no-such-page", headers={"Referer": "https://evil.example/x"})
    html = assert_friendly_page(response, 404)
    assert "evil.example" not in html and 'id="error-back"' not in html


def test_403_for_a_member_on_a_master_admin_screen(factory, auth, client):
    _ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    html = assert_friendly_page(client.get("/planview/list/"), 403)
    assert "You do not have access to this page" in html


def test_400_and_405_pages(factory, auth, client):
    admin = factory.admin("root")
    auth.login(admin.username)
    assert_friendly_page(client.get("/channelview/list/?page_ChannelView=-1"), 400)
    response = client.post("/favicon.ico")
    assert_friendly_page(response, 405)
    assert "GET" in response.headers["Allow"]


def test_429_page_keeps_retry_after(app, factory, auth, client, monkeypatch):
    admin = factory.admin("root")
    auth.login(admin.username)

    def too_many():
        raise TooManyRequests(retry_after=30)

    monkeypatch.setitem(app.view_functions, "HomeView.index", too_many)
    response = client.get("/")
    html = assert_friendly_page(response, 429)
    assert "Too many requests" in html
    assert response.headers["Retry-After"] == "30"


@pytest.fixture
def failing_home(app, monkeypatch):
    """The home page raising an error that carries a secret, with exceptions answered as in
    production (the test config lets them propagate)."""
    def boom():
        raise RuntimeError(f"database said: password={SECRET}")

    monkeypatch.setitem(app.view_functions, "HomeView.index", boom)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(app, "testing", False)


def test_500_page_shows_no_trace_or_secret(app, failing_home, factory, auth, client,
                                          monkeypatch):
    admin = factory.admin("root")
    auth.login(admin.username)
    logged = []
    monkeypatch.setattr(app, "log_exception", lambda exc_info: logged.append(exc_info[1]))
    response = client.get("/")
    html = assert_friendly_page(response, 500)
    assert "Something went wrong on our side" in html
    assert SECRET not in html and "RuntimeError" not in html and "database said" not in html
    assert [str(exc) for exc in logged] == [f"database said: password={SECRET}"]  # the log has it


def test_500_page_for_anonymous_people(failing_home, client):
    html = assert_friendly_page(client.get("/"), 500)
    assert SECRET not in html


def test_error_pages_are_translated(factory, auth, client):
    _ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    client.get("/lang/es")
    html = page(client.get("/no-such-page"))
    assert "Page not found" not in html and 'id="error-title"' in html
    client.get("/lang/ar")
    html = page(client.get("/planview/list/"))
    assert "You do not have access to this page" not in html and 'dir="rtl"' in html


# --- machines keep JSON ------------------------------------------------------------------------

def test_api_paths_answer_json(client):
    response = client.get("/api/v1/no-such-resource/")
    assert response.status_code == 404
    assert response.json == {"error": True, "message": "Not Found", "code": "NOT_FOUND"}
    response = client.delete("/api/v1/_openapi")
    assert response.status_code == 405
    assert response.json["code"] == "METHOD_NOT_ALLOWED" and response.json["error"] is True


def test_fab_rest_answers_are_untouched(client):
    response = client.get("/api/v1/channel/")
    assert response.status_code == 401 and response.is_json
    assert "error" not in response.json


def test_webhook_paths_answer_json(client):
    response = client.get("/webhooks/no-such-platform")
    assert response.status_code == 404
    assert response.json == {"ok": False, "error": "not found"}
    response = client.get("/webhooks/telegram/12345")
    assert response.status_code == 405 and response.json["ok"] is False


def test_api_500_is_json_without_detail(app, factory, client, monkeypatch):
    admin = factory.admin("root")
    key = factory.api_key(admin)
    endpoint = next(rule.endpoint for rule in app.url_map.iter_rules()
                    if rule.rule == "/api/v1/channel/" and "GET" in rule.methods)

    def boom(*_args, **_kwargs):
        raise RuntimeError(f"token={SECRET}")

    monkeypatch.setitem(app.view_functions, endpoint, boom)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(app, "testing", False)
    response = client.get("/api/v1/channel/", headers={"X-API-Key": key})
    assert response.status_code == 500
    assert response.json == {"error": True, "message": "Internal server error",
                             "code": "INTERNAL_ERROR"}


# --- favicon -----------------------------------------------------------------------------------

def test_favicon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert client.get("/static/favicon.svg").status_code == 200
    html = page(client.get("/login/"))
    assert 'rel="icon" href="/static/favicon.svg"' in html and 'href="/favicon.ico"' in html
