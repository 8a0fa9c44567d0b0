"""The outbound URL policy on its own (app/integrations/urlpolicy.py): every class of refused URL,
the public URLs that pass, the operator's allow-list (networks and host names), plain http only
for what the allow-list names, and the connect-time resolution (every address checked, DNS
answers simulated)."""
from __future__ import annotations

import ipaddress
import os
import socket

import pytest

from app.integrations import urlpolicy
from app.integrations.urlpolicy import (OutboundPolicy, TenantUrl, UrlRefused, classify,
                                        legacy_ipv4)

STRICT = OutboundPolicy()  # production default: OUTBOUND_ALLOW_PRIVATE empty
LOOPBACK_OK = OutboundPolicy.from_setting("127.0.0.0/8")  # the tests' and `make run`'s setting


@pytest.fixture
def dns(monkeypatch):
    """Simulated DNS: {name: [addresses]}; any other name does not resolve."""
    answers: dict[str, list[str]] = {}
    asked: list[str] = []

    def getaddrinfo(host, port, family=0, kind=0, *args):
        asked.append(host)
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        infos = []
        for address in answers[host]:
            af = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if af == socket.AF_INET6 else (address, port)
            infos.append((af, socket.SOCK_STREAM, 6, "", sockaddr))
        return infos

    monkeypatch.setattr(urlpolicy, "resolve", getaddrinfo)
    answers["asked"] = asked  # type: ignore[assignment] - the test reads who was asked
    return answers


def refusal(policy: OutboundPolicy, url: str) -> str | None:
    try:
        policy.check_for_saving(url)
    except UrlRefused as exc:
        return exc.reason
    return None


# --- the URL itself -----------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["ftp://files.example.com/", "file:///etc/passwd",
                                 "gopher://example.com:70/", "javascript:alert(1)"])
def test_only_http_and_https(url):
    assert refusal(STRICT, url) in ("scheme", "malformed")
    assert refusal(LOOPBACK_OK, url) in ("scheme", "malformed")


@pytest.mark.parametrize("url", ["https://user:secret@api.example.com/",
                                 "https://user@api.example.com/",
                                 "https://:secret@api.example.com/",
                                 "https://api.example.com@10.0.0.1/"])
def test_no_credentials_in_the_url(url):
    assert refusal(STRICT, url) == "credentials"
    assert refusal(LOOPBACK_OK, url) == "credentials"


@pytest.mark.parametrize("url", ["", "api.example.com", "https://", "https:///path",
                                 "https://exa mple.com/", "https://example.com\\@evil.example/",
                                 "https://[::1/", "https://example.com:99999/",
                                 "https://example.com/\x00", "https://%31%32%37.0.0.1/"])
def test_malformed(url):
    assert refusal(STRICT, url) == "malformed"


@pytest.mark.parametrize("url, reason", [
    # loopback
    ("https://127.0.0.1/", "loopback"), ("https://127.255.0.9:8443/x", "loopback"),
    ("https://[::1]/", "loopback"),
    # private ranges, carrier-grade NAT, unique local IPv6
    ("https://10.0.0.1/", "private"), ("https://10.255.255.255/", "private"),
    ("https://172.16.0.1/", "private"), ("https://172.31.255.254/", "private"),
    ("https://192.168.1.1/", "private"), ("https://100.64.0.1/", "private"),
    ("https://100.127.255.254/", "private"), ("https://[fc00::1]/", "private"),
    ("https://[fd12:3456::1]/", "private"),
    # link-local
    ("https://169.254.1.1/", "link_local"), ("https://[fe80::1]/", "link_local"),
    # cloud metadata (named apart from link-local / private)
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    # multicast, unspecified, reserved
    ("https://224.0.0.1/", "multicast"), ("https://239.255.255.250/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://0.0.0.0/", "unspecified"), ("https://0.1.2.3/", "unspecified"),
    ("https://[::]/", "unspecified"),
    ("https://240.0.0.1/", "reserved"), ("https://255.255.255.255/", "reserved"),
    ("https://192.0.2.10/", "reserved"), ("https://198.18.0.1/", "reserved"),
    ("https://[2001:db8::1]/", "reserved"),
])
def test_every_address_class_is_refused(url, reason):
    assert refusal(STRICT, url) == reason


@pytest.mark.parametrize("url, reason", [
    ("https://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
    ("https://[::ffff:7f00:1]/", "loopback"),  # the same, written in hex
    ("https://[::ffff:169.254.169.254]/", "metadata"),
    ("https://[::ffff:10.0.0.1]/", "private"),
    ("https://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
    ("https://[2002:7f00:1::1]/", "loopback"),  # 6to4 of 127.0.0.1
    ("https://[::7f00:1]/", "reserved"),  # IPv4-compatible (deprecated) ::127.0.0.1
    ("https://[fe80::1%25eth0]/", "link_local"),  # with a zone
])
def test_ipv6_forms_carrying_an_ipv4_address(url, reason):
    assert refusal(STRICT, url) == reason


@pytest.mark.parametrize("host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001",
                                  "017700000001", "127.0.1", "0x7F.0.0.1", "10.1"])
def test_odd_ipv4_spellings_are_refused(host):
    """The system resolver reads every one of these as an address (127.0.0.1, 10.0.0.1, ...);
    they are refused as spellings, whatever the allow-list says."""
    address = legacy_ipv4(host)
    assert address is not None and classify(address) in ("loopback", "private")
    assert refusal(STRICT, f"https://{host}/") == "spelling"
    assert refusal(LOOPBACK_OK, f"http://{host}:8080/") == "spelling"


@pytest.mark.parametrize("host", [
    "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "1.2.3.4", "0x8.0x8.0x8.0x8", "4294967295",
    "1.2.65535", "00", "example.com", "1.2.3.4.5", "256.1.1.1", "4294967296", "08.1.1.1",
    "1..2", "dead.beef", "1.2.3.0x", "0x", "1e5", "1.2.3.", ".1.2.3", "0x100.1", "1.0x1000000"])
def test_legacy_ipv4_reads_what_inet_aton_reads(host):
    """The spelling check must see an address wherever the C resolver would."""
    try:
        expected = ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        expected = None
    assert legacy_ipv4(host) == expected


@pytest.mark.parametrize("url", [
    "https://api.green-api.com", "https://7103.api.greenapi.com/", "https://api.telegram.org",
    "https://panel.example.com/admin/adminapi/v2/", "https://8.8.8.8/",
    "https://[2606:4700:4700::1111]:8443/x", "https://xn--bcher-kva.example/",
    "https://bücher.example/", "HTTPS://API.EXAMPLE.COM/Path?q=1#frag",
])
def test_public_https_urls_pass(dns, url):
    assert refusal(STRICT, url) is None


def test_public_name_passes_and_private_answer_is_refused_at_save(dns):
    dns["api.example.com"] = ["93.184.216.34", "2606:2800:220:1::248"]
    dns["internal.example.com"] = ["93.184.216.34", "10.0.0.7"]  # one bad answer is enough
    dns["meta.example.com"] = ["169.254.169.254"]
    assert refusal(STRICT, "https://api.example.com/") is None
    assert refusal(STRICT, "https://internal.example.com/") == "private"
    assert refusal(STRICT, "https://meta.example.com/") == "metadata"


def test_a_name_that_does_not_resolve_is_accepted_over_https_only(dns):
    """The decision for names without an answer at save time: accepted over https (the
    connect-time check decides); over http refused, since nothing shows it is approved."""
    assert refusal(STRICT, "https://not-yet.example.com/") is None
    assert refusal(LOOPBACK_OK, "https://not-yet.example.com/") is None
    assert refusal(LOOPBACK_OK, "http://not-yet.example.com/") == "scheme"


# --- the allow-list -----------------------------------------------------------------------------

def test_allow_list_networks_let_private_addresses_and_http_through(dns):
    policy = OutboundPolicy.from_setting("127.0.0.0/8, 10.20.0.0/16 ,fd00:1::/32")
    for url in ("https://127.0.0.1:8443/", "http://127.0.0.1:5000/x", "http://10.20.3.4/",
                "https://[fd00:1::5]/", "http://[::ffff:127.0.0.1]:80/"):
        assert refusal(policy, url) is None, url
    for url, reason in (("https://10.21.0.1/", "private"), ("http://10.21.0.1/", "private"),
                        ("https://[::1]/", "loopback"),
                        ("https://169.254.169.254/", "metadata")):
        assert refusal(policy, url) == reason, url
    dns["panel.lan"] = ["10.20.0.9"]
    assert refusal(policy, "http://panel.lan:8080/") is None  # resolves inside the network


def test_allow_list_host_names(dns):
    policy = OutboundPolicy.from_setting("panel.internal, Fake.Local.")
    dns["panel.internal"] = ["10.9.8.7"]
    dns["other.internal"] = ["10.9.8.7"]
    assert refusal(policy, "http://panel.internal:8080/adminapi/v2") is None
    assert refusal(policy, "https://PANEL.internal./") is None
    assert refusal(policy, "http://fake.local/") is None  # listed: resolution not even needed
    assert refusal(policy, "https://other.internal/") == "private"
    assert refusal(policy, "http://10.9.8.7/") == "private"  # the name is listed, not the address
    assert dns["asked"] == ["other.internal"]  # listed names are not even resolved


def test_plain_http_only_for_the_allow_list(dns):
    dns["api.example.com"] = ["93.184.216.34"]
    assert refusal(STRICT, "http://api.example.com/") == "scheme"
    assert refusal(LOOPBACK_OK, "http://api.example.com/") == "scheme"
    assert refusal(STRICT, "http://93.184.216.34/") == "scheme"
    assert refusal(STRICT, "http://127.0.0.1:5000/") == "loopback"
    assert refusal(LOOPBACK_OK, "http://127.0.0.1:5000/") is None


@pytest.mark.parametrize("setting", ["not a host!", "10.0.0.0/33", "http://10.0.0.0/8", "0x7f.1"])
def test_a_mistyped_allow_list_is_an_error(setting):
    with pytest.raises(ValueError, match="OUTBOUND_ALLOW_PRIVATE"):
        OutboundPolicy.from_setting(setting)


def test_empty_allow_list_allows_public_https_only():
    assert OutboundPolicy.from_setting("") == OutboundPolicy.from_setting(None) == STRICT
    assert OutboundPolicy.from_setting(["127.0.0.0/8"]) == LOOPBACK_OK


# --- connect time -------------------------------------------------------------------------------

def test_connect_time_checks_every_address_it_will_use(dns):
    dns["api.example.com"] = ["93.184.216.34", "2606:2800:220:1::248"]
    infos = STRICT.connect_addresses("api.example.com", 443, "https")
    assert [i[4][0] for i in infos] == ["93.184.216.34", "2606:2800:220:1::248"]
    dns["api.example.com"] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(UrlRefused) as refused:
        STRICT.connect_addresses("api.example.com", 443, "https")
    assert refused.value.reason == "loopback"


def test_dns_rebinding_is_caught_at_connect_time(dns):
    """Public when saved, 127.0.0.1 when connecting: the save passes, the connection does not."""
    dns["rebind.example.com"] = ["93.184.216.34"]
    assert refusal(STRICT, "https://rebind.example.com/") is None
    dns["rebind.example.com"] = ["127.0.0.1"]
    with pytest.raises(UrlRefused) as refused:
        STRICT.connect_addresses("rebind.example.com", 443, "https")
    assert refused.value.reason == "loopback"
    assert LOOPBACK_OK.connect_addresses("rebind.example.com", 443, "https")


def test_connect_time_http_needs_an_approved_address(dns):
    dns["api.example.com"] = ["93.184.216.34"]
    dns["fake.test"] = ["127.0.0.1"]
    with pytest.raises(UrlRefused, match="https://"):
        LOOPBACK_OK.connect_addresses("api.example.com", 80, "http")
    assert LOOPBACK_OK.connect_addresses("fake.test", 80, "http")


def test_connect_time_names_that_do_not_resolve_raise_the_resolver_error(dns):
    with pytest.raises(socket.gaierror):
        STRICT.connect_addresses("nowhere.example.com", 443, "https")


def test_a_refusal_never_names_the_resolved_address(dns):
    dns["db.corp.example"] = ["10.1.2.3"]
    with pytest.raises(UrlRefused) as refused:
        STRICT.check_for_saving("https://db.corp.example/")
    assert "10.1.2.3" not in str(refused.value) and "private network" in str(refused.value)


# --- declared tenant URLs -----------------------------------------------------------------------

def test_tenant_url_called_value():
    green = TenantUrl("api_url", secrets=("api_token",), when=("kind", ("greenapi",)),
                      default="https://api.green-api.com")
    row = {"kind": "greenapi", "api_url": " https://x.example/ "}
    assert green.called(row.get) == "https://x.example"
    assert green.called({"kind": "greenapi", "api_url": ""}.get) == "https://api.green-api.com"
    assert green.called({"kind": "telegram", "api_url": "https://x.example"}.get) is None


# --- the setting --------------------------------------------------------------------------------

def test_the_test_suite_and_make_run_allow_loopback_for_their_fakes():
    from app.config import Config, TestConfig
    from app.devserver import dev_environment

    assert Config.OUTBOUND_ALLOW_PRIVATE == (os.environ.get("OUTBOUND_ALLOW_PRIVATE") or "")
    assert TestConfig.OUTBOUND_ALLOW_PRIVATE == "127.0.0.0/8"
    assert dev_environment({})["OUTBOUND_ALLOW_PRIVATE"] == "127.0.0.0/8"
    assert dev_environment({"OUTBOUND_ALLOW_PRIVATE": ""})["OUTBOUND_ALLOW_PRIVATE"] == ""


def test_a_mistyped_setting_stops_start_up():
    from app import create_app
    from tests.conftest import base_config

    with pytest.raises(ValueError, match="OUTBOUND_ALLOW_PRIVATE: 'not a host!'"):
        create_app(base_config(OUTBOUND_ALLOW_PRIVATE="10.0.0.0/8, not a host!"))
