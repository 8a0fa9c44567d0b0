"""The outbound URL policy at connect time, over real sockets (app/integrations/calls.py).

DNS answers are simulated by replacing the policy's resolver (`urlpolicy.resolve`) for a few
test names; the servers are real local HTTP servers, and each test counts the TCP connections
they accept, so "refused" means nothing reached them, not merely that the answer was ignored.
The test configuration allows 127.0.0.0/8 (the fakes); tests that need the production default
set `OUTBOUND_ALLOW_PRIVATE` themselves.
"""
from __future__ import annotations

import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.extensions import db
from app.integrations import calls, urlpolicy
from app.integrations.calls import call
from app.models import ExternalCall
from tests.fakes.server import FakeServer, Reply

SECRET = "tenant-token-5e0a1c77d2b94f31"


class Echo(FakeServer):
    name = "echo"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.route("*", r"/.*", lambda req: Reply(200, {"path": req.path,
                                                        "host": req.headers.get("Host")}))


@pytest.fixture
def echo():
    with Echo() as server:
        server.accepted = []
        accept = server._server.process_request
        server._server.process_request = lambda request, address: (
            server.accepted.append(address), accept(request, address))
        yield server
        assert not server.errors, server.errors


@pytest.fixture
def allow(app, monkeypatch):
    """Set OUTBOUND_ALLOW_PRIVATE for this test (restored afterwards)."""
    def set_allow_list(value: str) -> None:
        monkeypatch.setitem(app.config, "OUTBOUND_ALLOW_PRIVATE", value)
    return set_allow_list


@pytest.fixture
def dns(monkeypatch):
    """{name: [addresses] or a callable giving them}; other names go to the real resolver.
    `dns.asked` lists every name looked up through the policy."""
    real = urlpolicy.resolve

    class Answers(dict):
        asked: list[str] = []

    answers = Answers()
    answers.asked = []

    def resolve(host, port, family=0, kind=0, *args):
        answers.asked.append(host)
        if host not in answers:
            return real(host, port, family, kind, *args)
        addresses = answers[host]() if callable(answers[host]) else answers[host]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in addresses]

    monkeypatch.setattr(urlpolicy, "resolve", resolve)
    return answers


@pytest.fixture
def ws(factory):
    return factory.workspace("acme")


def _call(ws, url, **kwargs):
    return call("test", "probe", "POST", url, workspace_id=ws.id, json={"token": SECRET},
                headers={"Authorization": f"Bearer {SECRET}"}, secrets=(SECRET,), **kwargs)


def _only_log_row() -> ExternalCall:
    row = db.session.query(ExternalCall).one()
    assert SECRET not in "".join(filter(None, (row.url, row.request_body, row.response_body)))
    return row


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_name_resolving_to_loopback_is_refused_and_nothing_reaches_the_server(
        app, ws, echo, dns, allow, scheme):
    allow("10.99.0.0/16")  # some allow-list, but not the loopback range
    dns["panel.test"] = ["127.0.0.1"]
    url = f"{scheme}://panel.test:{echo.port}/adminapi/v2/{SECRET}"

    refused = _call(ws, url)
    assert (refused.ok, refused.status, refused.error, refused.outcome) == (
        False, None, "refused_url", "permanent")
    assert "loopback" in refused.text and "127.0.0.1" not in refused.text
    assert echo.accepted == [] and echo.request_count == 0
    assert dns.asked == ["panel.test"]
    row = _only_log_row()
    assert (row.error, row.outcome, row.status_code) == ("refused_url", "permanent", None)

    if scheme == "http":  # the same call once the operator allows loopback: it gets through
        allow("127.0.0.0/8")
        assert _call(ws, url).ok
        assert echo.request_count == 1


def test_the_socket_connects_to_the_address_that_was_checked(app, ws, echo, dns, allow):
    """One resolution per connection: a second answer (here an address nobody listens on and
    the allow-list does not cover) is never used."""
    allow("127.0.0.1/32")
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    dns["flip.test"] = lambda: next(answers)
    result = _call(ws, f"http://flip.test:{echo.port}/x")
    assert result.ok, result
    assert dns.asked == ["flip.test"] and len(echo.accepted) == 1
    # the host name is kept for HTTP (and for TLS, below): only the socket goes to the address
    assert result.data["host"] == f"flip.test:{echo.port}"


def test_dns_rebinding_between_save_and_connect_is_refused(app, ws, echo, dns, allow):
    """Public when the URL was saved, 127.0.0.1 when the call connects."""
    allow("")  # production default
    dns["rebind.test"] = ["93.184.216.34"]
    url = f"https://rebind.test:{echo.port}/waInstance1/getStateInstance/{SECRET}"
    assert urlpolicy.check_for_saving(url).host == "rebind.test"
    dns["rebind.test"] = ["127.0.0.1"]
    result = _call(ws, url)
    assert (result.error, result.outcome) == ("refused_url", "permanent")
    assert echo.accepted == []


def test_an_ip_written_in_the_url_is_checked_before_any_resolution(app, ws, echo, dns, allow):
    allow("")
    for url in (echo.url + "/x", f"http://2130706433:{echo.port}/x",
                f"https://169.254.169.254:{echo.port}/latest/meta-data/",
                f"https://user:{SECRET}@example.com/"):
        result = _call(ws, url)
        assert result.error == "refused_url", url
    assert echo.accepted == [] and dns.asked == []


def test_plain_http_needs_the_allow_list(app, ws, echo, dns, allow):
    allow("10.99.0.0/16")
    dns["public.test"] = ["93.184.216.34"]
    result = _call(ws, f"http://public.test:{echo.port}/x")
    assert result.error == "refused_url" and "https://" in result.text


def test_proxies_in_the_environment_are_not_used(app, ws, echo, monkeypatch):
    """A proxy would connect on our behalf, past the address check: none is used."""
    monkeypatch.delattr(calls._local, "session", raising=False)  # a session made from now on
    with Echo() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert _call(ws, echo.url + "/direct").ok
        assert echo.request_count == 1 and proxy.request_count == 0
    monkeypatch.delattr(calls._local, "session", raising=False)


# --- TLS: the certificate and SNI stay on the host name -----------------------------------------

class TlsServer:
    """Accepts TLS connections with a self-signed certificate for `name` and records the SNI
    name each client sent (the handshake then fails: the certificate is not trusted)."""

    def __init__(self, name: str, tmp_path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), False)
                .sign(key, hashes.SHA256()))
        (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / "key.pem").write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
        self.sni: list[str | None] = []
        self.context.sni_callback = lambda sock, server_name, ctx: self.sni.append(server_name)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(client, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    def close(self) -> None:
        self.sock.close()


def test_tls_verifies_the_host_name_while_connecting_to_the_checked_address(
        app, ws, dns, tmp_path):
    server = TlsServer("tls.test", tmp_path)
    try:
        dns["tls.test"] = ["127.0.0.1"]
        result = _call(ws, f"https://tls.test:{server.port}/x")
        assert result.error == "connection"  # self-signed: verification is still on
        assert result.text == "SSLError"
        assert server.sni == ["tls.test"]  # SNI carried the name, not 127.0.0.1
    finally:
        server.close()
