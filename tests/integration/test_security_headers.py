"""Security headers and cookie flags (app/security_headers.py).

Pages, API answers, the login page and error pages carry a Content-Security-Policy (parsed here,
directive by directive), frame protection, nosniff and a referrer policy; every script of every
menu page carries the answer's nonce and no inline event handler, so the policy needs no
'unsafe-inline' for scripts (tests/browser/test_content_security_policy.py runs the pages in
Chromium). Cookies are HttpOnly and SameSite=Lax always, Secure with HSTS only when
PUBLIC_BASE_URL is https. The machine endpoints (webhooks, /healthz, /readyz) get none of it.
"""
from __future__ import annotations

import json
import re

import pytest
from flask_login import login_user

from app.security_headers import HSTS_MAX_AGE
from tests.conftest import base_config
from tests.factories import password_for
from tests.fakes import greenapi as green

HTTPS_BASE = "https://relaydesk.example"
TALISMAN_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options",
                    "Referrer-Policy", "Permissions-Policy", "Strict-Transport-Security")
KEYWORDS = {"'self'", "'none'", "'unsafe-inline'"}


# --- helpers ---------------------------------------------------------------------------------

def parse_csp(header: str) -> dict[str, list[str]]:
    policy = {}
    for part in header.split(";"):
        tokens = part.split()
        if tokens:
            assert tokens[0] not in policy, f"directive {tokens[0]} given twice"
            policy[tokens[0]] = tokens[1:]
    return policy


def assert_browser_headers(response) -> str:
    """The headers every browser-facing answer carries; returns the script nonce."""
    headers = response.headers
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") == "same-origin"
    assert "Content-Security-Policy-Report-Only" not in headers
    policy = parse_csp(headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:"]
    scripts = policy["script-src"]
    nonces = [t for t in scripts if t.startswith("'nonce-")]
    assert len(nonces) == 1 and len(nonces[0]) >= len("'nonce-'") + 22, scripts
    assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
    assert not any(t.startswith("'unsafe-hashes") or t == "*" for t in scripts)
    for directive, sources in policy.items():  # the app vendors its assets: no other host
        for source in sources:
            assert source in KEYWORDS or source == "data:" or source in nonces, \
                f"{directive} allows {source}"
    return nonces[0][len("'nonce-"):-1]


SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.I)
HANDLER_ATTR = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)


def assert_page_satisfies_policy(html: str, nonce: str, where: str) -> None:
    """Every script carries the nonce; scripts, styles and images come from this site (a nonce
    would let another host's script run); no inline handler or javascript: URL (which no nonce
    can allow) is in the markup."""
    tags = SCRIPT_TAG.findall(html)
    assert tags, f"{where}: no script at all (not a FAB page?)"
    for attrs in tags:
        found = re.search(r'\snonce="([^"]*)"', attrs)
        assert found and found.group(1) == nonce, f"{where}: <script{attrs}> lacks the nonce"
    for url in re.findall(r'<(?:script|link|img|iframe)\b[^>]*\s(?:src|href)="([^"]*)"', html):
        assert url.startswith("/") and not url.startswith("//"), f"{where}: loads {url}"
    handler = HANDLER_ATTR.search(html)
    assert handler is None, f"{where}: inline event handler {handler.group(0)[-60:]!r}"
    assert "javascript:" not in html.lower(), f"{where}: a javascript: URL"


def set_cookie_headers(response, name: str) -> list[str]:
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]


def cookie_flags(header: str) -> set[str]:
    return {part.strip().lower() for part in header.split(";")[1:]}


def menu_links(html: str) -> list[str]:
    """Same-site links of the navigation bar as rendered for the signed-in person."""
    navbar = html[html.find('class="navbar'):]
    navbar = navbar[:navbar.find("</nav>")] if "</nav>" in navbar else navbar
    links = []
    for href in re.findall(r'<a[^>]+href="(/[^"#]*)"', navbar):
        if href.startswith(("/logout", "/lang/")) or href in links:
            continue
        links.append(href)
    return links


@pytest.fixture
def people(factory):
    workspace = factory.workspace("alpha")
    factory.channel(workspace)
    manager = factory.member(workspace, "alpha-manager", "manager")
    admin = factory.admin("root")
    return {"manager": manager.username, "admin": admin.username}


@pytest.fixture(scope="module")
def https_app(app):
    """The same product configured for https (PUBLIC_BASE_URL), on the session's database."""
    from app import create_app

    return create_app(base_config(PUBLIC_BASE_URL=f"{HTTPS_BASE}/", FAB_UPDATE_PERMS=False))


# --- browser-facing answers --------------------------------------------------------------------

def test_login_page_api_answer_page_and_error_page_carry_the_policy(client, auth, people):
    login = client.get("/login/")
    assert login.status_code == 200
    assert_page_satisfies_policy(login.get_data(as_text=True), assert_browser_headers(login),
                                 "/login/")

    auth.login(people["manager"])
    page = client.get("/channelview/list/")
    assert page.status_code == 200
    assert_page_satisfies_policy(page.get_data(as_text=True), assert_browser_headers(page),
                                 "/channelview/list/")

    api = client.get("/api/v1/channel/")
    assert api.status_code == 200 and api.json["count"] == 1
    assert_browser_headers(api)

    missing = client.get("/channelview/show/987654")
    assert missing.status_code == 404
    assert_browser_headers(missing)


def test_each_answer_gets_its_own_nonce(client):
    first = parse_csp(client.get("/login/").headers["Content-Security-Policy"])["script-src"]
    second = parse_csp(client.get("/login/").headers["Content-Security-Policy"])["script-src"]
    assert first != second


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_every_menu_page_satisfies_the_policy(app, client, auth, people, who):
    """The menu as rendered for each person (found at run time): every page it leads to answers
    with the headers, and its markup needs nothing the policy refuses."""
    auth.login(people[who])
    home = client.get("/", follow_redirects=True)
    links = menu_links(home.get_data(as_text=True))
    assert len(links) >= (20 if who == "admin" else 10), links
    assert "/swagger/v1" in links
    for link in links:
        response = client.get(link, follow_redirects=True)
        assert response.status_code == 200, f"{link}: {response.status}"
        nonce = assert_browser_headers(response)
        if response.mimetype == "text/html":
            assert_page_satisfies_policy(response.get_data(as_text=True), nonce, link)


def test_swagger_ui_runs_under_the_policy_without_the_online_validator(client, auth, people):
    auth.login(people["manager"])
    response = client.get("/swagger/v1")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert_page_satisfies_policy(html, assert_browser_headers(response), "/swagger/v1")
    assert "swagger-ui-bundle.js" in html
    assert "validatorUrl: null" in html  # the badge would load an image from another host


# --- cookies and https -------------------------------------------------------------------------

def login_answer(client, username: str, base_url: str):
    response = client.post("/login/", base_url=base_url,
                           data={"username": username, "password": password_for(username)})
    assert response.status_code == 302 and "/login" not in response.headers["Location"]
    return response


def test_cookies_are_secure_and_hsts_is_sent_only_when_served_over_https(https_app, client,
                                                                          people):
    # PUBLIC_BASE_URL https: Secure cookie, HSTS on every browser answer.
    secure_client = https_app.test_client()
    response = login_answer(secure_client, people["manager"], HTTPS_BASE)
    [session_cookie] = set_cookie_headers(response, "session")
    assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(session_cookie)
    assert response.headers["Strict-Transport-Security"] == \
        f"max-age={HSTS_MAX_AGE}; includeSubDomains"
    page = secure_client.get("/channelview/list/", base_url=HTTPS_BASE)
    assert page.status_code == 200
    assert_browser_headers(page)
    assert "Strict-Transport-Security" in page.headers

    # PUBLIC_BASE_URL http (`make run`): HttpOnly and Lax, not Secure (the browser would drop
    # it), no HSTS even on a request that came over TLS, and no redirect to https.
    assert client.get("/login/").status_code == 200
    response = login_answer(client, people["manager"], "http://localhost")
    [session_cookie] = set_cookie_headers(response, "session")
    flags = cookie_flags(session_cookie)
    assert {"httponly", "samesite=lax"} <= flags and "secure" not in flags
    assert "Strict-Transport-Security" not in client.get("/", base_url=HTTPS_BASE).headers


def test_over_https_the_remember_me_cookie_is_secure_httponly_and_lax(https_app, people):
    with https_app.test_request_context("/", base_url=HTTPS_BASE):
        user = https_app.appbuilder.sm.find_user(username=people["manager"])
        assert login_user(user, remember=True)
        response = https_app.process_response(https_app.make_response("ok"))
    [remember] = set_cookie_headers(response, https_app.config.get("REMEMBER_COOKIE_NAME",
                                                                   "remember_token"))
    assert {"secure", "httponly", "samesite=lax"} <= cookie_flags(remember)


def test_over_https_a_browser_request_over_plain_http_is_sent_to_https(https_app):
    client = https_app.test_client()
    plain = client.get("/login/?next=%2Fchannelview%2Flist%2F", base_url="http://relaydesk.example")
    assert plain.status_code == 302
    assert plain.headers["Location"] == "https://relaydesk.example/login/?next=/channelview/list/"
    # Behind a TLS proxy the request arrives as http, and the proxy says it was https.
    proxied = client.get("/login/", base_url="http://relaydesk.example",
                         headers={"X-Forwarded-Proto": "https"})
    assert proxied.status_code == 200
    assert "Strict-Transport-Security" in proxied.headers


# --- machine endpoints -------------------------------------------------------------------------

def _machine_answers(client, base_url, channel):
    payload = green.incoming_message("79001234567@c.us", "balance",
                                     id_instance=channel.id_instance)
    yield "/webhooks/greenapi", client.post(
        "/webhooks/greenapi", base_url=base_url, data=json.dumps(payload),
        headers=green.webhook_headers(channel.webhook_token))
    yield "/webhooks/greenapi (refused)", client.post(
        "/webhooks/greenapi", base_url=base_url, data=json.dumps(payload),
        headers=green.webhook_headers("wrong-token"))
    yield "/healthz", client.get("/healthz", base_url=base_url)
    yield "/readyz", client.get("/readyz", base_url=base_url)


@pytest.mark.parametrize("served", ["http", "https"])
def test_webhooks_and_health_checks_pay_for_none_of_it(app, https_app, factory, served):
    """Machines call these over whatever the proxy forwards: no redirect, and the answer stays
    what it was (no CSP, no nonce made, no frame or HSTS headers)."""
    target = https_app if served == "https" else app
    channel = factory.channel(factory.workspace("hooks"), kind="greenapi")
    client = target.test_client()
    # control: a browser page of the same app, asked the same way, gets the headers
    page = client.get("/login/", base_url="http://relaydesk.example",
                      headers={"X-Forwarded-Proto": "https"})
    assert page.status_code == 200 and "Content-Security-Policy" in page.headers
    for what, response in _machine_answers(client, "http://relaydesk.example", channel):
        assert response.status_code in (200, 401, 403), f"{what}: {response.status}"
        present = [h for h in TALISMAN_HEADERS if h in response.headers]
        assert present == [], f"{what} carries {present}"
        assert "Set-Cookie" not in response.headers, what
