"""Sign-in limits, kept in Redis so that every web process enforces the same ones.

Every password check (the sign-in page, `POST /api/v1/security/login`, the current password
asked by "reset my password") goes through `LoginLimits`:

* `retry_after(account, address)` before the password is looked at: while the account or the
  client address is locked the answer is 429 with `Retry-After`, and the password is not checked;
* `failed(account, address)` after a wrong password: each scope counts its failures in a window
  (LOGIN_FAILURE_WINDOW_SECONDS); reaching its threshold (LOGIN_ACCOUNT_MAX_FAILURES per account,
  LOGIN_ADDRESS_MAX_FAILURES per address) locks it for LOGIN_LOCK_SECONDS, doubled at every
  further lock up to LOGIN_LOCK_MAX_SECONDS; locks are remembered for LOGIN_LOCK_MEMORY_SECONDS;
* `succeeded(account)` after a right one: the account's failures and locks are forgotten. The
  address keeps its count (an attacker signing in to an account of their own must not reset the
  count of the address they guess from).

An account is the login's username, lower-cased (a login typed as its e-mail address counts for
its username); a name no login has counts on its own, so answers do not tell them apart. An
address is the client's IP address (an IPv6 address by its /64 network), read from
X-Forwarded-For only as far as TRUSTED_PROXIES says proxies in front of the app add to it.

If Redis does not answer, the limits are kept in memory in each process until it answers again
(checked at most every REDIS_RETRY_SECONDS) and a warning is logged: sign-in keeps working and
stays limited, per process, during an outage.
"""
from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask, current_app, request
from flask_babel import format_timedelta, gettext
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PREFIX = "relaydesk:login"
REDIS_RETRY_SECONDS = 10.0

# KEYS: failures, locks (how many times locked), lock. ARGV: threshold, window, first lock,
# longest lock, lock memory. Returns the lock's length in seconds, 0 when not locked.
_FAIL_SCRIPT = """
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if failures < tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1])
local locks = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
local seconds = math.floor(math.min(tonumber(ARGV[3]) * 2 ^ (locks - 1), tonumber(ARGV[4])))
redis.call('SET', KEYS[3], locks, 'EX', seconds)
return seconds
"""


class LoginLocked(Exception):
    """Sign-in refused without checking the password: too many failures lately."""

    def __init__(self, retry_after: int):
        super().__init__(f"sign-in locked for {retry_after} s")
        self.retry_after = retry_after

    @property
    def message(self) -> str:
        return locked_message(self.retry_after)


def format_wait(seconds: int) -> str:
    """A wait in words, in the current language: "2 minutes"."""
    return format_timedelta(timedelta(seconds=max(seconds, 1)), threshold=1.0)


def locked_message(retry_after: int) -> str:
    """The translated text shown while locked: "… Try again in 2 minutes."."""
    return gettext("Too many failed sign-in attempts. Try again in %(time)s.",
                   time=format_wait(retry_after))


@dataclass(frozen=True)
class Rule:
    max_failures: int
    window: int
    first_lock: int
    longest_lock: int
    memory: int

    def args(self) -> list[int]:
        return [self.max_failures, self.window, self.first_lock, self.longest_lock, self.memory]


def _keys(scope: str, ident: str, prefix: str = PREFIX) -> tuple[str, str, str]:
    base = f"{prefix}:{{{scope}:{ident}}}"  # one hash slot per account/address (Redis Cluster)
    return f"{base}:failures", f"{base}:locks", f"{base}:lock"


def account_id(name: str) -> str:
    """The key part of an account: its lower-cased name, hashed (any length, any characters)."""
    return hashlib.sha256(name.strip().casefold().encode("utf-8", "surrogatepass")).hexdigest()[:32]


class LoginLimits:
    """The limits of one app. Made once per app (`login_limits()`); safe to share by threads.
    Other counted requests ("Forgot your password?") use their own instance with their own
    key `prefix` and rules."""

    def __init__(self, redis, config, prefix: str = PREFIX):
        self.redis = redis
        self.prefix = prefix
        memory = int(config.get("LOGIN_LOCK_MEMORY_SECONDS", 86400))
        window = int(config.get("LOGIN_FAILURE_WINDOW_SECONDS", 900))
        first = int(config.get("LOGIN_LOCK_SECONDS", 60))
        longest = int(config.get("LOGIN_LOCK_MAX_SECONDS", 3600))
        self.rules = {
            "account": Rule(int(config.get("LOGIN_ACCOUNT_MAX_FAILURES", 5)), window, first,
                            longest, memory),
            "address": Rule(int(config.get("LOGIN_ADDRESS_MAX_FAILURES", 20)), window, first,
                            longest, memory),
        }
        self._script = redis.register_script(_FAIL_SCRIPT)
        self._fallback = None
        self._down_until = 0.0
        self._lock = threading.Lock()

    # --- the three steps of a password check ---------------------------------------------------

    def retry_after(self, account: str | None, address: str | None) -> int:
        """Seconds until the account and the address may try again; 0 when neither is locked."""
        scopes = self._scopes(account, address)
        if not scopes:
            return 0

        def read(client):
            pipe = client.pipeline(transaction=False)
            for scope, ident in scopes:
                pipe.pttl(_keys(scope, ident, self.prefix)[2])
            return pipe.execute()

        remaining = [ms for ms in self._run(read) if ms and ms > 0]
        return math.ceil(max(remaining) / 1000) if remaining else 0

    def failed(self, account: str | None, address: str | None) -> int:
        """Count a failed attempt; returns the seconds of a lock it started (0 if none)."""
        scopes = self._scopes(account, address)
        if not scopes:
            return 0

        def count(client):
            pipe = client.pipeline(transaction=False)
            for scope, ident in scopes:
                self._script(keys=list(_keys(scope, ident, self.prefix)),
                             args=self.rules[scope].args(), client=pipe)
            return pipe.execute()

        locked = [int(s) for s in self._run(count) if s]
        if locked:
            log.warning("sign-in locked for %s s after repeated failures (%s)", max(locked),
                        ", ".join(scope for scope, _ in scopes))
        return max(locked, default=0)

    def succeeded(self, account: str | None) -> None:
        """Forget the account's failures and locks (its address keeps its count)."""
        self.unlock(account)

    # --- for the master admin ------------------------------------------------------------------

    def unlock(self, account: str | None) -> None:
        if account:
            keys = _keys("account", account_id(account), self.prefix)
            self._run(lambda client: client.delete(*keys))

    def account_locked_for(self, account: str) -> int:
        return self.retry_after(account, None)

    # --- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _scopes(account: str | None, address: str | None) -> list[tuple[str, str]]:
        scopes = []
        if account and account.strip():
            scopes.append(("account", account_id(account)))
        if address:
            scopes.append(("address", address))
        return scopes

    def _run(self, operation):
        """Run on Redis; while it does not answer, on this process's in-memory substitute."""
        if time.monotonic() >= self._down_until:
            try:
                return operation(self.redis)
            except RedisError as exc:
                self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
                log.warning("Redis did not answer (%s): sign-in limits are kept in this "
                            "process's memory until it does", exc.__class__.__name__)
        return operation(self._memory())

    def _memory(self):
        with self._lock:
            if self._fallback is None:
                from fakeredis import FakeRedis

                self._fallback = FakeRedis()
            return self._fallback


def login_limits(app: Flask | None = None) -> LoginLimits:
    """The LoginLimits of the app (made on first use, on the app's Redis connection)."""
    app = app or current_app._get_current_object()
    limits = app.extensions.get("relaydesk_login_limits")
    if limits is None:
        limits = LoginLimits(app.extensions["relaydesk_redis"], app.config)
        app.extensions["relaydesk_login_limits"] = limits
    return limits


def request_limits(app: Flask, name: str, config_prefix: str) -> LoginLimits:
    """Limits on requests that are not sign-ins (sign-ups, "Forgot your password?"): so many per
    e-mail address and per client address in a window, kept in Redis under their own prefix.

    `<config_prefix>_WINDOW_SECONDS` (default 3600), `_MAX_PER_ACCOUNT` (3) and
    `_MAX_PER_ADDRESS` (10) set them; a client over a limit waits the rest of the window.
    Made once per app (`app.extensions["relaydesk_<name>_limits"]`).
    """
    key = f"relaydesk_{name}_limits"
    limits = app.extensions.get(key)
    if limits is None:
        config = app.config
        window = int(config.get(f"{config_prefix}_WINDOW_SECONDS", 3600))
        limits = LoginLimits(app.extensions["relaydesk_redis"], {
            "LOGIN_ACCOUNT_MAX_FAILURES": config.get(f"{config_prefix}_MAX_PER_ACCOUNT", 3),
            "LOGIN_ADDRESS_MAX_FAILURES": config.get(f"{config_prefix}_MAX_PER_ADDRESS", 10),
            "LOGIN_FAILURE_WINDOW_SECONDS": window,
            "LOGIN_LOCK_SECONDS": window,
            "LOGIN_LOCK_MAX_SECONDS": window * 24,
            "LOGIN_LOCK_MEMORY_SECONDS": window * 24,
        }, prefix=f"{PREFIX}:{name}")
        app.extensions[key] = limits
    return limits


def client_address() -> str:
    """The client's address for the per-address limit (IPv6 by its /64 network).

    TRUSTED_PROXIES (default 0) is the number of reverse proxies in front of the app that append
    to X-Forwarded-For: the address is the one the outermost of them saw. Without proxies the
    header is ignored (anyone can send it).
    """
    hops = int(current_app.config.get("TRUSTED_PROXIES", 0) or 0)
    address = request.remote_addr or ""
    if hops > 0:
        forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")
                     if part.strip()]
        if len(forwarded) >= hops:
            address = forwarded[-hops]
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or "unknown"
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
