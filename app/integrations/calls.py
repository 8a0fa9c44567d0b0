"""Every HTTP call to an outside service goes through `call()`.

It times the call, never raises for network trouble (the result says what happened), classifies
the outcome (ok / transient / permanent), and writes an `ExternalCall` log row with every secret
redacted from the URL and both bodies.

The row is written in its own transaction (so the log survives the caller's rollback), except
inside `buffered_call_log()` (the event job): there rows wait in memory and go into the job's
own next commit (`flush_call_log()` — no extra transaction per call), and whatever is still
waiting when the block ends, however it ends, is written in its own transaction. A worker killed
with kill -9 loses the rows of its unfinished step only.

HTTP goes through requests, one `requests.Session` per thread with `trust_env` off: proxies
from the environment (HTTPS_PROXY, NO_PROXY) are read once per session instead of on every
request. The request is prepared on its own (`requests.Request.prepare`) and handed straight to
the session's transport adapter: `Session.request` would merge session settings, cookies, hooks
and the environment into every call, which cost a third of a call's CPU in the event job
(bench/pipeline.py) and gives nothing here (no cookies, no hooks, no per-call environment).
Redirects are still followed the session's way (`resolve_redirects`: the method changes as
browsers do, and credentials are dropped on a redirect to another host).
"""
from __future__ import annotations

import contextlib
import contextvars
import json as jsonlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from sqlalchemy import insert

from app.extensions import db
from app.models import ExternalCall
from app.models.base import utcnow
from app.redaction import redact

log = logging.getLogger(__name__)

BODY_LOG_LIMIT = 4000
_local = threading.local()


USER_AGENT = "Relaydesk/1.0"
_DEFAULT_HEADERS = {**requests.utils.default_headers(), "User-Agent": USER_AGENT}


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        # requests re-reads the proxy environment on every call when trust_env is on (a scan
        # of os.environ per request); read it once here instead.
        session.trust_env = False
        session.proxies.update(requests.utils.getproxies())
        _local.no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY")
        _local.session = session
    return session


def _proxies_for(session: requests.Session, url: str) -> dict | None:
    if not session.proxies:
        return None
    if requests.utils.should_bypass_proxies(url, no_proxy=getattr(_local, "no_proxy", None)):
        return {"http": None, "https": None}
    return None


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
    error: str | None = None  # timeout | connection | invalid_json | None
    duration_ms: float = 0.0
    headers: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.error is None

    @property
    def outcome(self) -> str:
        if self.ok:
            return "ok"
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
         secrets: tuple[str, ...] = ()) -> CallResult:
    started = time.perf_counter()
    result = CallResult(status=None)
    try:
        response = _send(method, url, json, data, params, headers, timeout)
        result.status = response.status_code
        result.headers = dict(response.headers)
        result.text = response.text
        if response.content:
            try:
                result.data = response.json()
            except ValueError:
                result.error = None if not _looks_json(response) else "invalid_json"
    except requests.Timeout:
        result.error = "timeout"
    except requests.RequestException as exc:
        result.error = "connection"
        result.text = type(exc).__name__
    result.duration_ms = (time.perf_counter() - started) * 1000
    _log(service, operation, method, url, params, json if json is not None else data, result,
         workspace_id, channel_id, secrets)
    return result


def _send(method: str, url: str, json: Any, data: Any, params: dict | None,
          headers: dict | None, timeout: float) -> requests.Response:
    """What `Session.request` does, minus what costs CPU and gives nothing here (see the
    module docstring): prepare, send through the session's adapter, follow redirects."""
    session = _session()
    prepared = requests.Request(method.upper(), url, headers={**_DEFAULT_HEADERS,
                                                              **(headers or {})},
                                json=json, data=data, params=params).prepare()
    proxies = _proxies_for(session, url) or session.proxies
    response = session.get_adapter(prepared.url).send(
        prepared, timeout=timeout, proxies=proxies, verify=True, cert=None, stream=False)
    response.content  # noqa: B018 - read the body now: the connection goes back to the pool
    if response.is_redirect:
        *_history, response = [response, *session.resolve_redirects(
            response, prepared, timeout=timeout, proxies=proxies, verify=True)]
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
