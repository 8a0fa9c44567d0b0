"""The outbound URL policy: which URLs a tenant may store, and where Relaydesk may connect.

Every URL a tenant chooses (a channel's Green API `api_url` or Telegram `api_base`, the panel
`url`, and any later outbound webhook or AI endpoint) is checked twice with the same rules:

* **when saved** (`check_for_saving`): the syntax, the scheme, no credentials, an IP written in
  the URL, and the addresses the host name resolves to right now;
* **at connect time** (`connect_addresses`, used by app/integrations/calls.py for every
  connection it opens): the host name is resolved once, every address is checked, and the
  socket connects only to an address that passed. A name that resolved to a public address when
  it was saved and to 127.0.0.1 later (DNS rebinding) is refused here.

The rules:

* `https` only; plain `http` only to an operator-approved host (see below);
* no user name or password in the URL (`https://user:pass@host`);
* no address that is loopback (127/8, ::1), private (10/8, 172.16/12, 192.168/16, 100.64/10,
  fc00::/7), link-local (169.254/16, fe80::/10), a cloud metadata service (169.254.169.254,
  fd00:ec2::254), multicast, unspecified (0.0.0.0, ::) or otherwise not a public internet
  address. IPv6 forms that carry an IPv4 address (`::ffff:127.0.0.1`, NAT64, 6to4) are judged
  by that IPv4 address. An IPv4 address written in the URL must use the usual dotted form:
  `2130706433`, `0x7f.1`, `0177.0.0.1` and `127.1` (all 127.0.0.1 to the system resolver) are
  refused as spellings.

`OUTBOUND_ALLOW_PRIVATE` (comma-separated CIDRs or host names, empty by default) names the
exceptions: an address inside a listed network, or a listed host name whatever it resolves to,
is allowed, and for those plain `http` is allowed too. `OutboundPolicy.from_setting` reads it;
`current_policy()` is the running app's.

A host name that does not resolve when saved is accepted (it may be created later, and a
machine without DNS must still be able to save): the connect-time check decides.

Everything here is pure except `current_policy()` (the app's config) and the resolver
(`resolve`, `socket.getaddrinfo`; tests replace it).
"""
from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from flask_babel import lazy_gettext as _l

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SETTING = "OUTBOUND_ALLOW_PRIVATE"
SCHEMES = ("http", "https")

#: addresses that are never public internet hosts, by what they are (checked in this order; the
#: metadata addresses before the link-local and private ranges that hold them)
_METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
_CLASSES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = tuple(
    (name, tuple(ipaddress.ip_network(n) for n in networks)) for name, networks in (
        ("loopback", ("127.0.0.0/8", "::1/128")),
        ("unspecified", ("0.0.0.0/8", "::/128")),
        ("link_local", ("169.254.0.0/16", "fe80::/10")),
        ("private", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10",
                     "fc00::/7", "fec0::/10", "64:ff9b:1::/48")),
        ("multicast", ("224.0.0.0/4", "ff00::/8")),
        ("reserved", ("192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "198.18.0.0/15",
                      "198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "::/96", "100::/64",
                      "2001::/23", "2001:db8::/32")),
    ))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

#: what each refusal says, next to the field on a screen and in the answer of the REST API
MESSAGES = {
    "malformed": _l("Enter a full web address, for example https://panel.example.com."),
    "scheme": _l("The address must start with https:// (plain http:// only for addresses "
                 "the platform operator has approved)."),
    "credentials": _l("Remove the user name and password from the address: enter the key in "
                      "its own field."),
    "spelling": _l("Write the IP address as four numbers separated by dots, for example "
                   "203.0.113.10."),
    "loopback": _l("This address leads to the server itself (loopback), which Relaydesk does "
                   "not connect to."),
    "private": _l("This address leads to a private network, which Relaydesk does not connect "
                  "to."),
    "link_local": _l("This address leads to a link-local network, which Relaydesk does not "
                     "connect to."),
    "metadata": _l("This address leads to a cloud metadata service, which Relaydesk does not "
                   "connect to."),
    "multicast": _l("This is a multicast address, which Relaydesk does not connect to."),
    "unspecified": _l("This is not a usable internet address (unspecified or reserved)."),
    "reserved": _l("This is not a usable internet address (unspecified or reserved)."),
}
ADDRESS_CLASSES = ("loopback", "private", "link_local", "metadata", "multicast", "unspecified",
                   "reserved")


class UrlRefused(Exception):
    """A URL (or the address it leads to) the policy refuses.

    `reason` is one of MESSAGES' keys; `str(exc)` is the plain-words message (in the current
    language inside a request). Never carries the resolved address: a tenant must not learn
    what an internal name resolves to.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self):
        return MESSAGES[self.reason]

    def __str__(self) -> str:
        return str(MESSAGES[self.reason])


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host (lower case, no brackets, no trailing dot), port, and
    the IP address when the URL names one instead of a host name."""

    scheme: str
    host: str
    port: int
    ip: IPAddress | None


# --- addresses ----------------------------------------------------------------------------------

def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), if any."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def classify(ip: IPAddress) -> str | None:
    """What kind of non-public address `ip` is (one of ADDRESS_CLASSES), or None when it is a
    public internet address."""
    ip = _without_scope(ip)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return classify(inner)
    if ip in _METADATA:
        return "metadata"
    for name, networks in _CLASSES:
        if any(ip in network for network in networks if network.version == ip.version):
            return name
    if not ip.is_global:  # whatever the list above missed (Python's own registry)
        return "reserved"
    return None


def _without_scope(ip: IPAddress) -> IPAddress:
    if ip.version == 6 and ip.scope_id:
        return ipaddress.IPv6Address(str(ip).split("%", 1)[0])
    return ip


def parse_address(text: str) -> IPAddress | None:
    """An address as the resolver returns it (`sockaddr[0]`, maybe with an IPv6 `%scope`)."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


_LEGACY_PART = re.compile(r"^(?:0[xX][0-9a-fA-F]+|[0-9]+)$")


def legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address the C resolver (inet_aton) reads in `host`: 1 to 4 dot-separated numbers in
    decimal, octal (leading 0) or hex (0x), the last one filling the remaining bytes —
    `127.1`, `0x7f.1`, `0177.0.0.1`, `2130706433` are all 127.0.0.1. None if it is not one."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_LEGACY_PART.match(p) for p in parts):
        return None
    numbers = []
    for part in parts:
        if part[:2].lower() == "0x":
            numbers.append(int(part[2:], 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                return None
            numbers.append(int(part, 8))
        else:
            numbers.append(int(part))
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = 0
    for n in head:
        value = value * 256 + n
    value = value * 256 ** (4 - len(head)) + last
    return ipaddress.IPv4Address(value)


# --- the policy ---------------------------------------------------------------------------------

_BAD_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f\\]")
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
                        r"(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$")


@dataclass(frozen=True)
class OutboundPolicy:
    """The operator's exceptions: networks and host names that may be private, and may be
    called over plain http. An empty policy allows public https addresses only."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_setting(cls, value: str | list | tuple | None) -> OutboundPolicy:
        """`"127.0.0.0/8, 10.1.2.3, panel.internal"` → a policy.

        :raise ValueError: for an entry that is neither a network nor a host name.
        """
        if isinstance(value, (list, tuple)):
            value = ",".join(value)
        return _parse_setting(value or "")

    # -- names and addresses
    def host_listed(self, host: str) -> bool:
        return _normal_host(host) in self.hosts

    def address_listed(self, ip: IPAddress) -> bool:
        ip = _without_scope(ip)
        candidates = (ip, embedded_ipv4(ip))
        return any(c is not None and c.version == n.version and c in n
                   for c in candidates for n in self.networks)

    def refusal_for(self, ip: IPAddress, scheme: str) -> str | None:
        """Why a connection to `ip` is refused (a MESSAGES key), or None."""
        if self.address_listed(ip):
            return None
        return classify(ip) or ("scheme" if scheme == "http" else None)

    # -- URLs
    def check_url(self, url: str) -> Target:
        """What the URL alone says: a known scheme, no credentials, a host, an IP written in the
        usual form and allowed. Needs no resolver, so it runs before every call. For a host
        name over http, whether it is approved is decided once it is resolved.

        :raise UrlRefused:
        """
        if not isinstance(url, str) or not url or _BAD_CHARACTER.search(url):
            raise UrlRefused("malformed")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UrlRefused("malformed") from None
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            raise UrlRefused("scheme" if parts.netloc else "malformed")
        if "@" in parts.netloc:
            raise UrlRefused("credentials")
        host = _normal_host(parts.hostname or "")
        if not host:
            raise UrlRefused("malformed")
        port = port or (443 if scheme == "https" else 80)
        ip = literal_address(host, bracketed="[" in parts.netloc)
        if ip is None:
            if not _HOST_NAME.match(host) and not _idna_ok(host):
                raise UrlRefused("malformed")
            if scheme == "http" and not self.host_listed(host) and not self.networks:
                raise UrlRefused("scheme")  # nothing could approve it
            return Target(scheme, host, port, None)
        if not self.host_listed(host):
            refusal = self.refusal_for(ip, scheme)
            if refusal:
                raise UrlRefused(refusal)
        return Target(scheme, host, port, ip)

    def check_addresses(self, target: Target, addresses: list[IPAddress]) -> None:
        """Every address a host name resolved to must be allowed (one bad address refuses the
        name: the system may pick any of them).

        :raise UrlRefused:
        """
        if self.host_listed(target.host):
            return
        for ip in addresses:
            refusal = self.refusal_for(ip, target.scheme)
            if refusal:
                raise UrlRefused(refusal)

    def check_for_saving(self, url: str) -> Target:
        """The check a screen, the REST API and the workspace file run before storing `url`:
        `check_url`, then the addresses the host name resolves to now. A name that does not
        resolve is accepted over https (the connect-time check decides later); over http it is
        refused, since only an approved address may use http.

        :raise UrlRefused:
        """
        target = self.check_url(url)
        if target.ip is not None or self.host_listed(target.host):
            return target
        try:
            infos = resolve(target.host, target.port, 0, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            if target.scheme == "http":
                raise UrlRefused("scheme") from None
            return target
        self.check_addresses(target, [a for a in (parse_address(i[4][0]) for i in infos) if a])
        return target

    def connect_addresses(self, host: str, port: int, scheme: str,
                          family: int = socket.AF_UNSPEC) -> list[tuple]:
        """Resolve `host` once and check every address; the getaddrinfo entries a connection may
        use, in the resolver's order. The caller connects to these addresses only (never to the
        name again), so what was checked is what is reached.

        :raise UrlRefused: an address is not allowed, or http to an address not approved.
        :raise OSError: (socket.gaierror) the name does not resolve.
        """
        host = _normal_host(host)
        ip = literal_address(host, bracketed=":" in host)
        infos = resolve(host, port, family, socket.SOCK_STREAM)
        if self.host_listed(host):
            return infos
        target = Target(scheme, host, port, ip)
        addresses = []
        for info in infos:
            address = parse_address(info[4][0])
            if address is None:  # not an IP family: nothing we can judge
                raise UrlRefused("reserved")
            addresses.append(address)
        self.check_addresses(target, addresses)
        return infos


def literal_address(host: str, bracketed: bool = False) -> IPAddress | None:
    """The IP address a URL host names directly, or None for a host name.

    :raise UrlRefused("spelling"): an IPv4 address in another form than four decimal numbers.
    """
    if bracketed or ":" in host:
        address = parse_address(host)
        if address is None:
            raise UrlRefused("malformed")
        return address
    legacy = legacy_ipv4(host)
    if legacy is None:
        return None
    if str(legacy) != host:
        raise UrlRefused("spelling")
    return legacy


def _normal_host(host: str) -> str:
    host = host.strip().lower().strip("[]")
    return host[:-1] if host.endswith(".") else host


def _idna_ok(host: str) -> bool:
    """An internationalised name that IDNA turns into an ordinary host name."""
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    return bool(_HOST_NAME.match(encoded))


@lru_cache(maxsize=16)
def _parse_setting(value: str) -> OutboundPolicy:
    networks, hosts = [], set()
    for raw in value.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
            continue
        except ValueError:
            pass
        name = _normal_host(entry)
        if not _HOST_NAME.match(name) or legacy_ipv4(name) is not None:
            raise ValueError(f"{SETTING}: {entry!r} is neither a network (CIDR, e.g. 10.0.0.0/8) "
                             f"nor a host name")
        hosts.add(name)
    return OutboundPolicy(tuple(networks), frozenset(hosts))


def current_policy() -> OutboundPolicy:
    """The policy of the running app (`OUTBOUND_ALLOW_PRIVATE`); outside an app, the strictest."""
    from flask import current_app, has_app_context

    if not has_app_context():
        return OutboundPolicy()
    return OutboundPolicy.from_setting(current_app.config.get(SETTING) or "")


def check_for_saving(url: str) -> Target:
    """`current_policy().check_for_saving(url)`. :raise UrlRefused:"""
    return current_policy().check_for_saving(url)


# --- URLs tenants store ---------------------------------------------------------------------

#: the error on a secret field when the URL it is sent to changed and it was not entered again
REENTER_SECRET = _l("Enter this key again: the address it is sent to has changed.")


@dataclass(frozen=True)
class TenantUrl:
    """A model column holding a URL a tenant chooses, declared on the model (`tenant_urls`), and
    what goes with it. Every save checks the URL against the policy; a save that changes the
    URL Relaydesk calls must carry `secrets` again (a stored key is never sent to a new
    address), and clears `dropped` (optional keys also sent there) unless they are given too.
    """

    column: str
    secrets: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    #: (column, values): the URL is called only while that column has one of these values
    when: tuple[str, tuple[str, ...]] | None = None
    #: what a blank URL means (the model fills it in)
    default: str | None = None

    def called(self, get: Callable[[str], Any]) -> str | None:
        """The URL Relaydesk calls for a row whose values `get(column)` gives (blank: the
        default; no trailing slash), or None when this URL is not called for such a row."""
        if self.when is not None and get(self.when[0]) not in self.when[1]:
            return None
        value = str(get(self.column) or "").strip() or self.default or ""
        return value.rstrip("/") or None


#: the resolver every check uses (tests replace it to simulate DNS answers)
resolve = socket.getaddrinfo
