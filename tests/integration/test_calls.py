"""`app.integrations.calls.call()` over real HTTP against a local fake: request shapes (JSON,
form, query), answers (JSON, garbage, HTML), network trouble (timeout, refused), redirects
(followed the way requests follows them, within the same host only), kept-alive connections,
and the ExternalCall row with its secrets redacted."""
from __future__ import annotations

import socket

import pytest

from app.extensions import db
from app.integrations.calls import call
from app.models import ExternalCall
from tests.fakes.server import FakeServer, Reply

SECRET = "s3cr3t-token-0123456789"


class Echo(FakeServer):
    name = "echo"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.route("*", r"/echo", self._echo)
        self.route("GET", r"/html", lambda req: Reply(
            502, "<html><body>Bad gateway</body></html>", content_type="text/html"))
        self.route("GET", r"/broken", lambda req: Reply(
            200, '{"status": "Comp', content_type="application/json"))
        self.route("*", r"/moved", lambda req: Reply(
            int(req.query.get("code", "302")), "",
            {"Location": req.query.get("to", "/echo")}))
        self.route("GET", r"/latin", lambda req: Reply(
            200, "caf\xe9".encode("latin-1"), content_type="text/plain; charset=latin-1"))

    def _echo(self, req):
        return Reply(200, {"method": req.method, "query": req.query, "form": req.form,
                           "json": req.json, "content_type": req.headers.get("Content-Type"),
                           "user_agent": req.headers.get("User-Agent"),
                           "authorization": req.headers.get("Authorization")})


@pytest.fixture
def echo():
    with Echo() as server:
        yield server
        assert not server.errors, server.errors


@pytest.fixture
def ws(factory):
    return factory.workspace("acme")


def _call(ws, method, url, **kwargs):
    return call("test", "echo", method, url, workspace_id=ws.id, **kwargs)


def test_json_body_query_and_headers(app, ws, echo):
    result = _call(ws, "POST", echo.url + "/echo?fixed=1", json={"chatId": "1@c.us", "n": 2},
                   params={"page": 3}, headers={"Authorization": f"Bearer {SECRET}"},
                   secrets=(SECRET,))
    assert result.ok and result.outcome == "ok"
    assert result.data["method"] == "POST"
    assert result.data["json"] == {"chatId": "1@c.us", "n": 2}
    assert result.data["query"] == {"fixed": "1", "page": "3"}
    assert result.data["content_type"] == "application/json"
    assert result.data["user_agent"] == "Relaydesk/1.0"
    assert result.data["authorization"] == f"Bearer {SECRET}"
    assert result.headers["Content-Type"] == "application/json"
    assert result.duration_ms > 0
    row = db.session.query(ExternalCall).one()
    assert (row.service, row.operation, row.method, row.status_code, row.outcome) == (
        "test", "echo", "POST", 200, "ok")
    assert "/echo?fixed=1" in row.url and "page=3" in row.url
    assert SECRET not in (row.response_body or "") and "****" in row.response_body


def test_form_body(app, ws, echo):
    result = _call(ws, "POST", echo.url + "/echo", data={"key": SECRET, "action": "services"},
                   secrets=(SECRET,))
    assert result.data["form"] == {"key": SECRET, "action": "services"}
    assert result.data["content_type"] == "application/x-www-form-urlencoded"
    row = db.session.query(ExternalCall).one()
    assert SECRET not in (row.request_body or "") and SECRET not in (row.response_body or "")


def test_html_error_page_and_garbled_json(app, ws, echo):
    html = _call(ws, "GET", echo.url + "/html")
    assert (html.status, html.data, html.error, html.outcome) == (502, None, None, "transient")
    assert "Bad gateway" in html.text
    broken = _call(ws, "GET", echo.url + "/broken")
    assert (broken.status, broken.error, broken.outcome) == (200, "invalid_json", "transient")


def test_text_is_decoded_with_the_declared_charset(app, ws, echo):
    assert _call(ws, "GET", echo.url + "/latin").text == "caf\xe9"


def test_timeout_and_refused_connection(app, ws, echo):
    echo.delay_next(1, seconds=2)
    slow = _call(ws, "POST", echo.url + "/echo", json={}, timeout=0.3)
    assert (slow.status, slow.error, slow.outcome) == (None, "timeout", "timeout")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = _call(ws, "GET", f"http://127.0.0.1:{port}/x", timeout=2)
    assert (refused.status, refused.error, refused.outcome) == (None, "connection", "transient")
    assert refused.text  # the exception's name, for the log
    outcomes = sorted(r.outcome for r in db.session.query(ExternalCall).all())
    assert outcomes == ["timeout", "transient"]


def test_redirects_are_followed_like_requests_does(app, ws, echo):
    # 302 after a POST: the next request is a GET (as browsers and requests do), same host
    # keeps the Authorization header
    result = _call(ws, "POST", echo.url + "/moved?code=302&to=/echo", json={"a": 1},
                   headers={"Authorization": "Bearer x"})
    assert result.ok and result.data["method"] == "GET"
    assert result.data["authorization"] == "Bearer x"
    # 307 keeps the method and the body
    kept = _call(ws, "POST", echo.url + "/moved?code=307&to=/echo", json={"a": 1})
    assert kept.data["method"] == "POST" and kept.data["json"] == {"a": 1}


@pytest.mark.parametrize("where", ["another name", "another port", "https"])
def test_a_redirect_off_the_host_is_not_followed(app, ws, echo, where):
    """The outbound URL policy: redirects stay on the same scheme, host and port. Anything else
    ends the call before a byte goes there, so neither the Authorization header nor the token in
    the path can travel (requests alone would follow it, dropping only the header)."""
    with Echo(host="127.0.0.1") as other:
        target = {"another name": other.url.replace("127.0.0.1", "localhost"),
                  "another port": other.url,
                  "https": echo.url.replace("http://", "https://")}[where] + f"/echo/{SECRET}"
        result = _call(ws, "POST", echo.url + f"/moved?code=307&to={target}",
                       json={"token": SECRET}, headers={"Authorization": f"Bearer {SECRET}"},
                       secrets=(SECRET,))
        assert (result.ok, result.status, result.error, result.outcome) == (
            False, None, "redirect_refused", "permanent")
        assert "same host" in result.text
        assert other.request_count == 0 and echo.request_count == 1
    row = db.session.query(ExternalCall).one()
    assert (row.error, row.outcome) == ("redirect_refused", "permanent")
    assert SECRET not in (row.url + (row.request_body or "") + (row.response_body or ""))


def test_connections_are_kept_alive_per_thread(app, ws, echo):
    accepted = []
    accept = echo._server.process_request
    echo._server.process_request = lambda request, address: (accepted.append(address),
                                                              accept(request, address))
    for _ in range(5):
        assert _call(ws, "POST", echo.url + "/echo", json={}).ok
    assert echo.request_count == 5 and len(accepted) == 1
