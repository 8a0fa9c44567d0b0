"""Sign-in limits (app/auth/limits.py): the sign-in page and the API share them, in Redis.

The finding: 60 wrong passwords to /api/v1/security/login in 6 s, no 429, and a failed-login
counter that read 0. Here: per account and per address, 429 with Retry-After while locked
(the password is not even checked), a lock that doubles, a success that clears the account,
two web processes that see the same counts, the counter shown to the master admin.
"""
from __future__ import annotations

import logging
import re
import time

import pytest
from redis import Redis

from app.auth.limits import client_address, login_limits
from app.security import ROLE_ADMIN
from tests.integration import web_process
from tests.integration.login_support import people_maker, user_id_of
from tests.factories import password_for

API = "/api/v1/security/login"
HOME = "127.0.0.1"
LOCKED_TEXT = "Too many failed sign-in attempts. Try again in"


def api_login(client, username, password, address=HOME):
    return client.post(API, json={"username": username, "password": password, "provider": "db"},
                       environ_base={"REMOTE_ADDR": address})


def html_login(client, username, password, address=HOME):
    return client.post("/login/", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def signed_in(response) -> bool:
    return response.status_code in (200, 302) and (
        "access_token" in (response.get_json(silent=True) or {})
        or (response.status_code == 302 and "/login" not in response.headers["Location"]))


def failed_count(app, username: str) -> int:
    with app.app_context():
        return app.appbuilder.sm.find_user(username=username).fail_login_count or 0


@pytest.fixture
def people(app):
    return people_maker(app)


@pytest.fixture
def alice(people):
    return people("alice").username


@pytest.fixture
def limits_config(app, monkeypatch):
    """Change the limits' settings for one test (restored afterwards)."""
    def configure(**settings):
        for key, value in settings.items():
            monkeypatch.setitem(app.config, key, value)
        app.extensions.pop("relaydesk_login_limits", None)

    yield configure
    app.extensions.pop("relaydesk_login_limits", None)


def test_sign_in_page_and_api_share_one_counter_and_lock_with_429(app, alice):
    client = app.test_client()
    for _ in range(3):
        assert api_login(client, alice, "wrong-password").status_code == 401
    for _ in range(2):
        response = html_login(client, alice, "wrong-password")
        assert response.status_code == 302 and "/login" in response.headers["Location"]

    # 5 failures, 3 on one path and 2 on the other: locked on both, right password or not.
    page = html_login(client, alice, password_for(alice))
    assert page.status_code == 429
    assert 1 <= int(page.headers["Retry-After"]) <= 60
    assert LOCKED_TEXT + " 1 minute." in page.get_data(as_text=True)
    assert page.headers["Content-Type"].startswith("text/html")
    assert client.get("/users/userinfo/").status_code == 302  # not signed in

    answer = api_login(client, alice, password_for(alice))
    assert answer.status_code == 429
    assert answer.json == {"message": "Too many failed sign-in attempts. Try again in 1 minute."}
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    assert "access_token" not in answer.json
    assert failed_count(app, alice) == 5  # counted on the login, both paths; locked tries are not


def test_the_lock_message_is_translated(app, alice):
    client = app.test_client()
    for _ in range(5):
        api_login(client, alice, "wrong-password")
    client.get("/lang/es")
    page = html_login(client, alice, password_for(alice))
    assert page.status_code == 429
    text = page.get_data(as_text=True)
    assert LOCKED_TEXT not in text and "1 minuto" in text


def test_a_locked_account_is_refused_without_checking_the_password(app, alice, monkeypatch):
    import flask_appbuilder.security.manager as fab_manager

    checked = []
    real_check = fab_manager.check_password_hash
    monkeypatch.setattr(fab_manager, "check_password_hash",
                        lambda *args: checked.append(1) or real_check(*args))
    client = app.test_client()
    for _ in range(5):
        api_login(client, alice, "wrong-password")
    assert len(checked) == 5
    for _ in range(20):
        assert api_login(client, alice, password_for(alice)).status_code == 429
        assert html_login(client, alice, "wrong-password").status_code == 429
    assert len(checked) == 5


def test_unknown_names_and_email_addresses_count_like_accounts(app, alice):
    client = app.test_client()
    for _ in range(5):
        assert api_login(client, "nobody-here", "wrong-password").status_code == 401
    assert api_login(client, "NOBODY-here", "wrong-password").status_code == 429  # any case

    for name in ("alice@test.example", "ALICE", "alice@test.example", "Alice", "alice"):
        assert api_login(client, name, "wrong-password").status_code == 401
    assert api_login(client, "alice@test.example", password_for(alice)).status_code == 429
    assert api_login(client, "alice", password_for(alice)).status_code == 429


def test_one_address_is_limited_across_accounts(app, people, alice):
    bob = people("bob").username
    client = app.test_client()
    attacker, neighbour = "198.51.100.7", "198.51.100.8"
    for i in range(20):  # one try per name: no account reaches its own limit
        assert api_login(client, f"guess-{i}", "wrong-password", attacker).status_code == 401
    for username in (alice, bob):
        locked = api_login(client, username, password_for(username), attacker)
        assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert html_login(client, bob, password_for(bob), attacker).status_code == 429
    # Another address is not concerned, and neither are the accounts themselves.
    assert signed_in(api_login(client, alice, password_for(alice), neighbour))
    assert signed_in(api_login(client, "bob", password_for(bob), neighbour))


def test_the_lock_doubles_up_to_the_longest(app, alice, limits_config):
    limits_config(LOGIN_LOCK_SECONDS=1, LOGIN_LOCK_MAX_SECONDS=2)
    client = app.test_client()
    waits = []
    for _ in range(3):
        for _ in range(5):
            assert api_login(client, alice, "wrong-password").status_code == 401
        locked = api_login(client, alice, password_for(alice))
        assert locked.status_code == 429
        waits.append(int(locked.headers["Retry-After"]))
        deadline = time.monotonic() + 5
        while login_limits(app).retry_after(alice, HOME):  # wait for the lock to end
            assert time.monotonic() < deadline, "the lock did not end"
            time.sleep(0.1)
    assert waits == [1, 2, 2]
    assert signed_in(api_login(client, alice, password_for(alice)))


def test_success_clears_the_account_but_not_the_address(app, people, alice, limits_config):
    limits_config(LOGIN_ADDRESS_MAX_FAILURES=10)
    bob = people("bob").username
    client = app.test_client()
    for _ in range(4):
        assert api_login(client, alice, "wrong-password").status_code == 401
    assert signed_in(api_login(client, alice, password_for(alice)))
    for _ in range(4):  # 8 failures of alice in all, but only 4 since the success
        assert api_login(client, alice, "wrong-password").status_code == 401
    assert signed_in(api_login(client, alice, password_for(alice)))
    # The address kept count of all 8: two more (for bob) lock it, for every account.
    for _ in range(2):
        assert api_login(client, bob, "wrong-password").status_code == 401
    assert api_login(client, bob, password_for(bob)).status_code == 429
    assert api_login(client, alice, password_for(alice)).status_code == 429


def test_failed_sign_ins_are_counted_and_shown_to_the_master_admin(app, people, alice):
    root = people("root", ROLE_ADMIN).username
    client = app.test_client()
    api_login(client, alice, "wrong-password")
    api_login(client, alice, "wrong-password")
    html_login(client, alice, "wrong-password")
    assert failed_count(app, alice) == 3
    assert signed_in(api_login(client, alice, password_for(alice)))
    assert failed_count(app, alice) == 3  # a success no longer hides the failures before it

    admin = app.test_client()
    assert signed_in(html_login(admin, root, password_for(root)))
    listing = admin.get("/users/list/").get_data(as_text=True)
    headers = [re.sub(r"<[^>]+>|\s+", " ", h).strip()
               for h in re.findall(r"<th[^>]*>(.*?)</th>", listing, re.S)]
    for label in ("Failed sign-ins", "Sign-ins", "Last sign-in", "Is Active?"):
        assert label in headers, headers
    assert _row_cells(listing, alice)[headers.index("Failed sign-ins")] == "3"
    assert "sign-in locked" not in _row_cells(listing, alice)[headers.index("User Name")]

    for _ in range(5):
        api_login(client, alice, "wrong-password")
    listing = admin.get("/users/list/").get_data(as_text=True)
    assert _row_cells(listing, alice)[headers.index("Failed sign-ins")] == "8"
    assert "sign-in locked" in _row_cells(listing, alice)[headers.index("User Name")]

    # The master admin lifts the lock.
    user_id = user_id_of(app, alice)
    done = admin.post("/users/action_post", data={"action": "unlocklogin", "rowid": [user_id]})
    assert done.status_code == 302
    assert signed_in(api_login(client, alice, password_for(alice)))
    listing = admin.get("/users/list/").get_data(as_text=True)
    assert "sign-in locked" not in _row_cells(listing, alice)[headers.index("User Name")]


def _row_cells(listing: str, username: str) -> list[str]:
    """The cells of the list row of `username` (the first cell holds the row's actions)."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", listing, re.S):
        cells = [re.sub(r"<(?!span)[^>]+>|\s+", " ", c).strip()
                 for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        if any(re.sub(r"<[^>]+>.*", "", c).strip() == username for c in cells):
            return cells
    raise AssertionError(f"no row for {username}")


def test_redis_down_keeps_the_limits_in_each_process(app, alice, monkeypatch, caplog):
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setitem(app.extensions, "relaydesk_redis", dead)
    app.extensions.pop("relaydesk_login_limits", None)
    # The suite's Alembic run (logging.config.fileConfig) disabled the loggers that existed then.
    monkeypatch.setattr(logging.getLogger("app.auth.limits"), "disabled", False)
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="app.auth.limits"):
        assert signed_in(api_login(client, alice, password_for(alice)))  # sign-in still works
        for _ in range(5):
            assert api_login(client, alice, "wrong-password").status_code == 401
        assert api_login(client, alice, password_for(alice)).status_code == 429
    assert any("Redis did not answer" in r.getMessage() for r in caplog.records), [
        (r.name, r.getMessage()) for r in caplog.records]
    app.extensions.pop("relaydesk_login_limits", None)


@pytest.mark.parametrize("body, content_type", [
    (b"username=alice&password=x", "application/x-www-form-urlencoded"),
    (b"{not json", "application/json"),
    (b"[1, 2]", "application/json"),
    (b"null", "application/json"),
    (b'{"username": "alice"}', "application/json"),
    (b'{"password": "x", "provider": "db"}', "application/json"),
    (b'{"username": 5, "password": "x", "provider": "db"}', "application/json"),
    (b'{"username": "alice", "password": ["x"], "provider": "db"}', "application/json"),
    (b'{"username": "alice", "password": "x", "provider": "ldap"}', "application/json"),
    (b'{"username": "alice", "password": "\\u0000", "provider": "db"}', "application/json"),
    (b'{"username": "alice\\u0000", "password": "x", "provider": "db"}', "application/json"),
    (b'{"username": "' + b"a" * 200_000 + b'", "password": "x", "provider": "db"}',
     "application/json"),
    (b'{"username": "alice", "password": "' + b"p" * 200_000 + b'", "provider": "db"}',
     "application/json"),
])
def test_bad_api_sign_in_input_is_a_400_or_401_never_a_500(app, alice, body, content_type):
    response = app.test_client().post(API, data=body, content_type=content_type)
    assert response.status_code in (400, 401), (response.status_code, response.get_data()[:200])
    assert "message" in response.json


@pytest.mark.parametrize("data", [
    {}, {"username": "alice"}, {"password": "x"}, {"username": "", "password": ""},
    {"username": "a" * 200_000, "password": "x"}, {"username": "alice", "password": "p" * 200_000},
    {"username": "alice\x00", "password": "x\x00"},
])
def test_bad_sign_in_page_input_is_never_a_500(app, alice, data):
    response = app.test_client().post("/login/", data=data)
    assert response.status_code in (200, 302), response.status_code


def test_the_address_comes_from_x_forwarded_for_only_behind_trusted_proxies(app, monkeypatch):
    def address(remote, forwarded=None):
        headers = {"X-Forwarded-For": forwarded} if forwarded else {}
        with app.test_request_context("/login/", environ_base={"REMOTE_ADDR": remote},
                                      headers=headers):
            return client_address()

    assert address("203.0.113.5", "198.51.100.1") == "203.0.113.5"  # not trusted by default
    monkeypatch.setitem(app.config, "TRUSTED_PROXIES", 1)
    assert address("10.0.0.2", "1.2.3.4, 198.51.100.1") == "198.51.100.1"  # what the proxy saw
    assert address("10.0.0.2") == "10.0.0.2"
    # An IPv6 client counts by its /64 (one host owns many addresses of it).
    assert address("2001:db8:1:2::5") == address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address("::ffff:192.0.2.4") == "192.0.2.4"


# --- two web processes -------------------------------------------------------------------------

class SecondProcess(web_process.SecondProcess):
    """Another web process (tests/integration/login_process.py) on the same database and
    Redis."""

    def __init__(self):
        super().__init__("login_process")

    def attempt(self, path: str, username: str, password: str) -> tuple[int, str | None]:
        answer = self.ask({"path": path, "username": username, "password": password})
        return answer["status"], answer["retry_after"]


@pytest.mark.slow
def test_limits_hold_across_two_web_processes(app, alice):
    here = app.test_client()
    other = SecondProcess()
    try:
        assert other.attempt("api", alice, "wrong-password")[0] == 401
        assert other.attempt("html", alice, "wrong-password")[0] == 302
        assert html_login(here, alice, "wrong-password").status_code == 302
        assert api_login(here, alice, "wrong-password").status_code == 401
        assert other.attempt("api", alice, "wrong-password")[0] == 401  # the 5th, over there

        # Locked in this process by the other's count, and in the other by the shared lock.
        locked_here = api_login(here, alice, password_for(alice))
        assert locked_here.status_code == 429
        status, retry_after = other.attempt("api", alice, password_for(alice))
        assert status == 429 and 1 <= int(retry_after) <= 60
        assert other.attempt("html", alice, password_for(alice))[0] == 429
        assert failed_count(app, alice) == 5

        login_limits(app).unlock(alice)  # the master admin's action, from this process
        assert other.attempt("api", alice, password_for(alice))[0] == 200
    finally:
        other.close()
