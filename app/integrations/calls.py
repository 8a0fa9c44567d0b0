"""Every HTTP call to an outside service goes through `call()`.

It times the call, never raises for network trouble (the result says what happened), classifies
the outcome (ok / transient / permanent), and writes an `ExternalCall` log row with every secret
redacted from the URL and both bodies.

The row is written in its own transaction (so the log survives the caller's rollback), except
inside `buffered_call_log()` (the event job): there rows wait in memory and go into the job's
own next commit (`flush_call_log()` — no extra transaction per call), and whatever is still
waiting when the block ends, however it ends, is written in its own transaction. A worker killed
with kill -9 loses the rows of its unfinished step only.

HTTP goes through requests, one `requests.Session` per thread with `trust_env` off. The request
is prepared on its own (`requests.Request.prepare`) and handed straight to the session's
transport adapter: `Session.request` would merge session settings, cookies, hooks and the
environment into every call, which costs CPU and gives nothing here (no cookies, no hooks, no
per-call environment).

Every URL passes the outbound URL policy (app/integrations/urlpolicy.py) on the way out:

* the URL itself (scheme, no credentials, an IP written in it) before anything is sent;
* the addresses, when a connection is opened: the transport's connections resolve the host
  once, check every address and connect to a checked address only (`_open_checked_socket`, the
  `_new_conn` of the session's connections), so a name that now resolves to a private address
  (DNS rebinding) reaches nothing. TLS still
  verifies the certificate against the host name (SNI and the Host header are unchanged). A
  kept-alive connection stays connected to the address that was checked;
* redirects are followed (the session's `resolve_redirects`: the method changes as browsers do)
  only to the same scheme, host and port; a redirect anywhere else ends the call before
  anything is sent there.

A refused URL makes no connection at all; the call's result says `refused_url` (or
`redirect_refused`), a permanent outcome, with the reason in plain words in `text`, and the
external call log records it. Proxies from the environment (HTTPS_PROXY, ...) are not used: a
proxy would resolve and connect on our behalf and bypass the address check.
"""
from __future__ import annotations

import contextlib
import contextvars
import json as jsonlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from sqlalchemy import insert
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from app.extensions import db
from app.integrations.urlpolicy import UrlRefused, current_policy
from app.models import ExternalCall
from app.models.base import utcnow
from app.redaction import redact

log = logging.getLogger(__name__)

BODY_LOG_LIMIT = 4000
_local = threading.local()


USER_AGENT = "Relaydesk/1.0"
_DEFAULT_HEADERS = {**requests.utils.default_headers(), "User-Agent": USER_AGENT}


#: CallResult.error of a call the outbound URL policy stopped (nothing was sent)
REFUSED_URL = "refused_url"
#: CallResult.error of a call whose answer redirected elsewhere (not followed)
REDIRECT_REFUSED = "redirect_refused"
REFUSED = (REFUSED_URL, REDIRECT_REFUSED)
_NO_PROXIES: dict = {}


class RedirectRefused(Exception):
    """An answer redirected to another scheme, host or port (or carried credentials)."""

    def __init__(self, target: str) -> None:
        super().__init__(f"redirect to {target} refused: only redirects within the same "
                         f"host are followed")


def _open_checked_socket(connection: HTTPConnection, scheme: str):
    """urllib3's `_new_conn` with the outbound policy in between: resolve once, check every
    address, connect to the checked addresses only (in the resolver's order)."""
    try:
        infos = current_policy().connect_addresses(connection._dns_host, connection.port,
                                                   scheme, allowed_gai_family())
    except socket.gaierror as exc:
        raise NameResolutionError(connection.host, connection, exc) from exc
    error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = None
        try:
            sock = socket.socket(family, kind, proto)
            for option in connection.socket_options or ():
                sock.setsockopt(*option)
            if connection.timeout is not _DEFAULT_TIMEOUT:
                sock.settimeout(connection.timeout)
            if connection.source_address:
                sock.bind(connection.source_address)
            sock.connect(address)
            return sock
        except OSError as exc:
            error = exc
            if sock is not None:
                sock.close()
    if isinstance(error, TimeoutError):
        raise ConnectTimeoutError(connection, f"Connection to {connection.host} timed out. "
                                              f"(connect timeout={connection.timeout})") from error
    raise NewConnectionError(connection, f"Failed to establish a new connection: "
                                         f"{error or 'no address'}") from error


class _GuardedHTTPConnection(HTTPConnection):
    def _new_conn(self):
        return _open_checked_socket(self, "http")


class _GuardedHTTPSConnection(HTTPSConnection):
    def _new_conn(self):
        return _open_checked_socket(self, "https")


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    """requests' adapter whose connections go through the outbound policy; no proxies."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool,
                                                   "https": _GuardedHTTPSPool}

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        raise requests.exceptions.InvalidProxyURL("outbound calls use no proxy")


class _OutboundSession(requests.Session):
    def rebuild_auth(self, prepared_request, response) -> None:
        """Called by `resolve_redirects` before each redirect is sent: anything but the same
        scheme, host and port (or a URL with credentials) stops here, so nothing reaches it."""
        target = urllib3.util.parse_url(prepared_request.url)
        if target.auth or _origin(target) != _origin(urllib3.util.parse_url(response.url)):
            raise RedirectRefused(f"{target.scheme}://{target.host}:{_port(target)}")
        super().rebuild_auth(prepared_request, response)


def _origin(url) -> tuple:
    return ((url.scheme or "").lower(), (url.host or "").lower().rstrip("."), _port(url))


def _port(url) -> int | None:
    return url.port or {"http": 80, "https": 443}.get((url.scheme or "").lower())


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _OutboundSession()
        session.headers["User-Agent"] = USER_AGENT
        session.trust_env = False  # no proxy, netrc or CA settings from the environment
        adapter = _GuardedAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _warn_about_proxy_environment()
        _local.session = session
    return session


_proxy_warning_given = False


def _warn_about_proxy_environment() -> None:
    global _proxy_warning_given
    if not _proxy_warning_given and requests.utils.getproxies():
        _proxy_warning_given = True
        log.warning("proxy settings in the environment are ignored for outbound calls: a proxy "
                    "would bypass the outbound URL policy's address check")


class _CallLogBuffer:
    """The job's log rows. Threads of the job (side-by-side panel fetches and sends) add to
    it while the job's thread may be taking the waiting rows: both under `lock`."""

    def __init__(self) -> None:
        self.waiting: list[dict] = []
        self.in_transaction: list[dict] = []
        self.lock = threading.Lock()

    def add(self, row: dict) -> None:
        with self.lock:
            self.waiting.append(row)

    def take(self) -> list[dict]:
        with self.lock:
            rows, self.waiting = self.waiting, []
        return rows


_buffer: contextvars.ContextVar[_CallLogBuffer | None] = contextvars.ContextVar(
    "relaydesk_call_log", default=None)


@contextlib.contextmanager
def buffered_call_log() -> Iterator[None]:
    buffer = _CallLogBuffer()
    token = _buffer.set(buffer)
    try:
        yield
    finally:
        _buffer.reset(token)
        rows = buffer.in_transaction + buffer.waiting
        if buffer.in_transaction:  # flushed but neither committed nor rolled back: gone with
            db.session.rollback()  # the transaction, written below on their own
        if rows:
            _write(rows)


def flush_call_log() -> None:
    """Add the waiting log rows to the current transaction, just before the caller commits it.
    If that transaction rolls back, the rows wait again (see `install_call_log_hooks`)."""
    buffer = _buffer.get()
    if buffer is not None and buffer.waiting:
        rows = buffer.take()
        buffer.in_transaction.extend(rows)
        db.session.connection().execute(insert(ExternalCall.__table__), rows)


def install_call_log_hooks(session_class) -> None:
    from sqlalchemy import event

    @event.listens_for(session_class, "after_commit")
    def _committed(session):  # noqa: ARG001 - SQLAlchemy signature
        buffer = _buffer.get()
        if buffer is not None:
            buffer.in_transaction = []

    @event.listens_for(session_class, "after_rollback")
    def _rolled_back(session):  # noqa: ARG001
        buffer = _buffer.get()
        if buffer is not None and buffer.in_transaction:
            with buffer.lock:
                buffer.waiting = buffer.in_transaction + buffer.waiting
            buffer.in_transaction = []


@dataclass
class CallResult:
    status: int | None
    data: Any = None  # parsed JSON body, or None
    text: str = ""
    error: str | None = None  # timeout | connection | invalid_json | refused_url |
    #                           redirect_refused | None
    duration_ms: float = 0.0
    headers: dict = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """The outbound URL policy stopped the call (`text` says why, in plain words)."""
        return self.error in REFUSED

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def outcome(self) -> str:
        if self.ok:
            return "ok"
        if self.error in REFUSED:
            return "permanent"  # nothing was sent: repeating cannot help
        if self.error == "timeout":
            return "timeout"
        if self.status is None or self.status == 429 or self.status >= 500:
            return "transient"
        if self.error == "invalid_json" and 200 <= self.status < 300:
            return "transient"  # a success answer garbled on the way: worth another try
        return "permanent"

    def retry_after(self) -> float | None:
        value = self.headers.get("Retry-After") or self.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


def call(service: str, operation: str, method: str, url: str, *, workspace_id: int,
         channel_id: int | None = None, json: Any = None, data: Any = None,
         params: dict | None = None, headers: dict | None = None, timeout: float = 10.0,
         secrets: tuple[str, ...] = (), files: dict | None = None) -> CallResult:
    """One call. `files` (a multipart upload, requests' form: name → (file name, bytes,
    content type)) goes with `data` as the form's other fields; the log records the fields
    and each file's name, type and size, never its bytes."""
    started = time.perf_counter()
    result = CallResult(status=None)
    try:
        response = _send(method, url, json, data, params, headers, timeout, files)
        result.status = response.status_code
        result.headers = dict(response.headers)
        result.text = response.text
        if response.content:
            try:
                result.data = response.json()
            except ValueError:
                result.error = None if not _looks_json(response) else "invalid_json"
    except UrlRefused as exc:
        result.status, result.error, result.text = None, REFUSED_URL, str(exc)
    except RedirectRefused as exc:
        result.status, result.error, result.text = None, REDIRECT_REFUSED, str(exc)
    except requests.Timeout:
        result.error = "timeout"
    except requests.RequestException as exc:
        result.error = "connection"
        result.text = type(exc).__name__
    result.duration_ms = (time.perf_counter() - started) * 1000
    logged = json if json is not None else data
    if files:
        logged = {**(data or {}), **{name: _file_note(part) for name, part in files.items()}}
    _log(service, operation, method, url, params, logged, result, workspace_id, channel_id,
         secrets)
    return result


def _file_note(part: tuple) -> str:
    kind = part[2] if len(part) > 2 else ""
    return f"<file {str(part[0])[:80]} {kind} {len(part[1])} bytes>"


def _send(method: str, url: str, json: Any, data: Any, params: dict | None,
          headers: dict | None, timeout: float, files: dict | None = None) -> requests.Response:
    """What `Session.request` does, minus what costs CPU and gives nothing here (see the
    module docstring): prepare, check the URL, send through the session's adapter, follow
    same-origin redirects.

    :raise UrlRefused: the outbound policy refused the URL or the address it resolves to.
    :raise RedirectRefused: the answer redirected to another scheme, host or port.
    """
    session = _session()
    prepared = requests.Request(method.upper(), url, headers={**_DEFAULT_HEADERS,
                                                              **(headers or {})},
                                json=json, data=data, params=params, files=files).prepare()
    current_policy().check_url(prepared.url)  # the addresses are checked on connecting
    response = session.get_adapter(prepared.url).send(
        prepared, timeout=timeout, proxies=_NO_PROXIES, verify=True, cert=None, stream=False)
    response.content  # noqa: B018 - read the body now: the connection goes back to the pool
    if response.is_redirect:
        *_history, response = [response, *session.resolve_redirects(
            response, prepared, timeout=timeout, proxies=_NO_PROXIES, verify=True)]
    return response


def _looks_json(response) -> bool:
    return "json" in (response.headers.get("Content-Type") or "")


def _log(service, operation, method, url, params, body, result, workspace_id, channel_id,
         secrets) -> None:
    full_url = url
    if params:
        full_url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
    if body is not None and not isinstance(body, str):
        body = jsonlib.dumps(body, ensure_ascii=False, default=str)
    row = {
        "workspace_id": workspace_id, "channel_id": channel_id, "at": utcnow(),
        "service": service[:40], "operation": operation[:80], "method": method,
        "url": (redact(full_url, secrets) or "")[:500], "status_code": result.status,
        "duration_ms": round(result.duration_ms, 2), "outcome": result.outcome,
        "request_body": (redact(body, secrets) or "")[:BODY_LOG_LIMIT] or None,
        "response_body": (redact(result.text, secrets) or "")[:BODY_LOG_LIMIT] or None,
        "error": result.error,
    }
    buffered = _buffer.get()
    if buffered is not None:
        buffered.add(row)
    else:
        _write([row])


def _write(rows: list[dict]) -> None:
    try:
        with db.engine.begin() as connection:
            connection.execute(insert(ExternalCall.__table__), rows)
    except Exception:  # noqa: BLE001 - losing a log row must not break the call itself
        log.warning("could not record %d external call(s)", len(rows), exc_info=True)


# --- streamed downloads (media) -----------------------------------------------------------------

MAX_DOWNLOAD_REDIRECTS = 3


class DownloadTooLarge(Exception):
    """The body went past the download's byte cap: the rest was never read."""


class DownloadTimeout(Exception):
    """The whole download took longer than its deadline."""


@dataclass
class Download:
    """An open streamed answer (`download()`): `status`, `headers`, and `chunks()` reading the
    body under the byte cap and the deadline. `error` as CallResult's when no answer came
    (`refused_url`, `redirect_refused`, `timeout`, `connection`); `text` says why."""

    status: int | None = None
    headers: dict = field(default_factory=dict)
    error: str | None = None
    text: str = ""
    received: int = 0
    response: Any = None
    limit: int = 0
    deadline: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    def chunks(self, size: int = 64 * 1024) -> Iterator[bytes]:
        """The body, chunk by chunk.

        :raise DownloadTooLarge: past `limit` bytes (what was read is dropped by the caller).
        :raise DownloadTimeout: past the deadline.
        :raise requests.RequestException: the connection broke.
        """
        for chunk in self.response.iter_content(size):
            self.received += len(chunk)
            if self.received > self.limit:
                raise DownloadTooLarge(f"larger than {self.limit} bytes")
            if time.monotonic() > self.deadline:
                raise DownloadTimeout("the download took too long")
            yield chunk

    def read(self, limit: int) -> bytes:
        """A small body (an error page, a JSON answer), at most `limit` bytes."""
        data = bytearray()
        for chunk in self.response.iter_content(8192):
            data += chunk
            if len(data) >= limit:
                break
        return bytes(data[:limit])


@contextlib.contextmanager
def download(service: str, operation: str, url: str, *, workspace_id: int,
             channel_id: int | None = None, headers: dict | None = None, limit: int,
             timeout: float = 30.0, deadline: float = 240.0, secrets: tuple[str, ...] = (),
             ) -> Iterator[Download]:
    """GET `url` as a stream, for a file that may be large and whose URL an outsider chose (a
    download URL inside a webhook).

    The outbound URL policy applies to the URL and to every redirect (at most
    MAX_DOWNLOAD_REDIRECTS, to any host: each new URL is checked again, and its addresses when
    the connection opens), and `headers` (a bearer token) go to the first host only: a
    redirect elsewhere never carries them. `Content-Length` over `limit` ends the download
    before the body is read; `Download.chunks()` enforces `limit` and the whole `deadline`
    (seconds) while reading. One external call row is written when the block ends, with the
    bytes received instead of the body."""
    started = time.perf_counter()
    result = Download(limit=limit, deadline=time.monotonic() + deadline)
    session = _session()
    policy = current_policy()
    first_origin = _origin(urllib3.util.parse_url(url)) if isinstance(url, str) else None
    current = url
    try:
        for _hop in range(MAX_DOWNLOAD_REDIRECTS + 1):
            same_host = _origin(urllib3.util.parse_url(current)) == first_origin
            prepared = requests.Request("GET", current, headers={
                **_DEFAULT_HEADERS, **((headers or {}) if same_host else {})}).prepare()
            policy.check_url(prepared.url)
            response = session.get_adapter(prepared.url).send(
                prepared, timeout=timeout, proxies=_NO_PROXIES, verify=True, cert=None,
                stream=True)
            if response.is_redirect and response.headers.get("Location"):
                target = requests.compat.urljoin(current, response.headers["Location"])
                response.close()
                if urllib3.util.parse_url(target).auth:
                    raise RedirectRefused(target.split("@")[-1])
                current = target
                continue
            break
        else:
            raise RedirectRefused("too many redirects")
        result.response = response
        result.status = response.status_code
        result.headers = dict(response.headers)
    except UrlRefused as exc:
        result.error, result.text = REFUSED_URL, str(exc)
    except RedirectRefused as exc:
        result.error, result.text = REDIRECT_REFUSED, str(exc)
    except requests.Timeout:
        result.error = "timeout"
    except requests.RequestException as exc:
        result.error, result.text = "connection", type(exc).__name__
    try:
        yield result
    finally:
        if result.response is not None:
            result.response.close()
        outcome = CallResult(status=result.status, error=result.error, text=result.text,
                             duration_ms=(time.perf_counter() - started) * 1000)
        outcome.text = result.text or f"<{result.received} bytes>"
        _log(service, operation, "GET", url, None, None, outcome, workspace_id, channel_id,
             secrets)
