"""Shared base for the fake external services: a real threaded HTTP server on loopback.

Every fake (Green API, Meta Graph, Telegram, the panels) is a `FakeServer` subclass. It binds
127.0.0.1 on a free port, serves from a background thread, records every request it receives and
can be told to misbehave:

    with FakeGreenAPI() as green:                      # or the `fake_greenapi` fixture
        green.fail_next(2, status=429, retry_after=3)  # next 2 requests: 429 + Retry-After: 3
        green.delay_next(1, seconds=2)                 # next request answers after 2 s
        green.garbage_next(1, kind="html")             # next request: an HTML page, not JSON
        green.override("GET", "*/getStateInstance/*", body={"stateInstance": "blocked"})
        ...
        assert green.requests.last.json == {...}

Faults are consumed in the order they were queued, first matching one wins; each can be limited to
a method and a path (`fnmatch` glob such as "*/sendMessage/*", or a compiled regex). A delay
combines with whatever answer follows (normal, fault or override). Subclasses shape fault bodies
like the real service by overriding `error_reply`.

Also here: `latency` (seconds added to every request), `rate_limit` (requests per second over a
sliding one-second window; beyond it the service's own 429 answer), `request_count`/`count()`, and
`errors` (tracebacks of crashes inside the fake itself; the pytest fixtures fail a test that
provoked one).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import fnmatch
import http
import http.server
import io
import json
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

PathMatcher = str | re.Pattern | None

GARBAGE_KINDS = ("truncated", "html", "text", "empty", "cloudflare")

# A Cloudflare "managed challenge" interstitial as panels behind Cloudflare answer it (abridged).
CLOUDFLARE_CHALLENGE_HTML = """<!DOCTYPE html><html lang="en-US"><head>
<title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head><body>
<div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">panel.example</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>
</div></div><script>(function(){window._cf_chl_opt={cvId:'3',cType:'managed'};}());</script>
</body></html>"""
CLOUDFLARE_HEADERS = {"Server": "cloudflare", "cf-mitigated": "challenge",
                      "CF-RAY": "8a1b2c3d4e5f6071-FRA"}

NGINX_HTML = ("<html>\r\n<head><title>{code} {phrase}</title></head>\r\n<body>\r\n"
              "<center><h1>{code} {phrase}</h1></center>\r\n<hr><center>nginx</center>\r\n"
              "</body>\r\n</html>\r\n")


def phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def nginx_page(status: int) -> Reply:
    return Reply(status, NGINX_HTML.format(code=status, phrase=phrase(status)),
                 content_type="text/html")


def cloudflare_page(status: int = 403) -> Reply:
    return Reply(status, CLOUDFLARE_CHALLENGE_HTML, dict(CLOUDFLARE_HEADERS),
                 content_type="text/html; charset=UTF-8")


@dataclass
class Reply:
    """What a handler answers. `body`: dict/list → JSON; str/bytes → sent as is."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        if self.body is None:
            return b"", self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"

    def to_response(self) -> Response:
        data, content_type = self.encoded()
        response = Response(data, status=self.status, content_type=content_type)
        for key, value in self.headers.items():
            response.headers[key] = str(value)
        return response


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes
    json: Any
    form: dict[str, str]
    timestamp: float
    status: int | None = None   # the status the fake answered (None while still in flight)
    fault: str | None = None    # "fail", "garbage:html", "override", "rate_limit", "delay" …

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def params(self) -> dict[str, Any]:
        """Query, form and JSON object parameters merged (later ones win)."""
        merged: dict[str, Any] = dict(self.query)
        merged.update(self.form)
        if isinstance(self.json, dict):
            merged.update(self.json)
        return merged


class RequestLog:
    """Thread-safe list of `RecordedRequest`; iteration and indexing work on a snapshot."""

    def __init__(self) -> None:
        self._items: list[RecordedRequest] = []
        self._cond = threading.Condition()

    def append(self, item: RecordedRequest) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._items)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def __iter__(self) -> Iterator[RecordedRequest]:
        return iter(self.snapshot())

    def __getitem__(self, index):
        return self.snapshot()[index]

    def __bool__(self) -> bool:
        return len(self) > 0

    @property
    def last(self) -> RecordedRequest:
        return self.snapshot()[-1]

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def filter(self, method: str | None = None, path: PathMatcher = None) -> list[RecordedRequest]:
        return [r for r in self.snapshot() if _matches(r, method, path)]

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Block until at least `count` requests were recorded (for asynchronous senders)."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self._items) >= count, timeout)


def _path_matches(path: str, pattern: PathMatcher) -> bool:
    if pattern is None:
        return True
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(path) is not None
    return fnmatch.fnmatchcase(path, pattern)


def _matches(req: RecordedRequest, method: str | None, path: PathMatcher) -> bool:
    return (method is None or req.method == method.upper()) and _path_matches(req.path, path)


@dataclass
class _Rule:
    remaining: int | None          # None: forever
    method: str | None
    path: PathMatcher
    label: str
    answer: Callable[[RecordedRequest], Reply] | None = None
    seconds: float = 0.0


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as the real services answer. werkzeug's development server
    closes every connection, which would make each call to a fake pay a TCP connect and a new
    server thread, a cost no real platform imposes (and one the benchmarks would count).

    Requests are handed to the fake's WSGI callable exactly as werkzeug's server would; the
    body is read in full (Content-Length or chunked) so the next request on the connection
    starts where it should."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this (seconds)
    # Each answer is one write; and no Nagle: on a kept-alive connection a second small write
    # would wait for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - http.server's signature
        pass

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            return None
        return self.rfile.read(size) if size > 0 else b""

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            self.send_error(400, "bad Content-Length")
            self.close_connection = True
            return
        path, _, query = self.path.partition("?")
        environ = {
            "REQUEST_METHOD": self.command, "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote(path, "latin-1"), "QUERY_STRING": query,
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version, "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0), "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.multithread": True, "wsgi.multiprocess": False,
            "wsgi.run_once": False, "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
        }
        for key, value in self.headers.items():
            name = key.upper().replace("-", "_")
            # the body is already de-chunked: the application sees a plain Content-Length body
            if name not in ("CONTENT_TYPE", "CONTENT_LENGTH", "TRANSFER_ENCODING"):
                environ[f"HTTP_{name}"] = value
        started: list = []

        def start_response(status, headers, exc_info=None):  # noqa: ARG001 - WSGI signature
            started[:] = [status, headers]

        chunks = self.server.app(environ, start_response)
        try:
            data = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        status, headers = started
        lines = [f"HTTP/1.1 {status}", f"Date: {self.date_time_string()}"]
        lines += [f"{key}: {value}" for key, value in headers
                  if key.lower() not in ("content-length", "connection", "transfer-encoding")]
        lines.append(f"Content-Length: {len(data)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + data)  # one write

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True  # the client went away (a timeout test, a stop)

    # http.server dispatches on these names
    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815


class _FakeHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address, app) -> None:
        self.app = app
        self.connections: set = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _KeepAliveHandler)

    def process_request(self, request, client_address):
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class SeedsOrders:
    """For panel fakes with an `add_order(id, **fields)`: many orders with consecutive ids."""

    def seed_orders(self, count: int, start_id: int = 2274209, **fields: Any) -> list[int]:
        ids = list(range(start_id, start_id + count))
        for order_id in ids:
            self.add_order(order_id, **fields)
        return ids


class FakeServer:
    """Base class. Subclasses set `name` and fill `self.routes` with (methods, regex, handler).

    `methods` is a string ("GET"), a tuple of strings, or "*"; `regex` is matched in full against
    the path; named groups are passed to the handler as keyword arguments; handlers receive the
    `RecordedRequest` and return a `Reply`. Handlers run under `self.lock`, so service state needs
    no further locking.
    """

    name = "fake"

    def __init__(self, *, latency: float = 0.0, rate_limit: int | None = None,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.latency = latency
        self.rate_limit = rate_limit
        self.host, self.port = host, port
        self.lock = threading.RLock()
        self.requests = RequestLog()
        self.errors: list[str] = []
        self.routes: list[tuple[Any, re.Pattern, Callable[..., Reply]]] = []
        self._faults: list[_Rule] = []
        self._delays: list[_Rule] = []
        self._overrides: list[_Rule] = []
        self._window: collections.deque[float] = collections.deque()
        self._rule_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ---------------------------------------------------------------------------
    def route(self, methods: Any, pattern: str, handler: Callable[..., Reply]) -> None:
        self.routes.append((methods, re.compile(pattern), handler))

    def start(self) -> FakeServer:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _FakeHTTPServer((self.host, self.port), self._wsgi)
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01},
                                        name=f"fake-{self.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()          # wakes handlers sleeping in a delay
        self._server.shutdown()
        self._server.close_connections()  # idle keep-alive connections of the clients
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.name} fake is not running")
        return f"http://{self.host}:{self.port}"

    # ---- inspection ----------------------------------------------------------------------------
    @property
    def request_count(self) -> int:
        return len(self.requests)

    def count(self, method: str | None = None, path: PathMatcher = None) -> int:
        return len(self.requests.filter(method, path))

    def reset(self) -> None:
        """Forget recorded requests, pending faults, delays, overrides and errors. Subclasses
        also forget their record of sends; seeded orders, tickets, settings and state stay."""
        self.requests.clear()
        self.errors.clear()
        with self._rule_lock:
            self._faults.clear()
            self._delays.clear()
            self._overrides.clear()
            self._window.clear()

    # ---- fault injection -----------------------------------------------------------------------
    def fail_next(self, n: int = 1, status: int = 500, *, body: Any = None,
                  headers: dict[str, str] | None = None, retry_after: int | None = None,
                  method: str | None = None, path: PathMatcher = None) -> None:
        """The next `n` matching requests get `status`; the body defaults to the service's own
        error shape for that status (`error_reply`), `retry_after` fills Retry-After / the
        service's equivalent."""
        def answer(_req: RecordedRequest) -> Reply:
            reply = self.error_reply(status, retry_after) if body is None else Reply(status, body)
            reply.headers.update(headers or {})
            return reply
        self._add(self._faults, _Rule(n, method, path, "fail", answer))

    def delay_next(self, n: int = 1, seconds: float = 1.0, *, method: str | None = None,
                   path: PathMatcher = None) -> None:
        """Hold the next `n` matching requests for `seconds` before answering (client timeouts)."""
        self._add(self._delays, _Rule(n, method, path, "delay", seconds=seconds))

    def garbage_next(self, n: int = 1, kind: str = "truncated", *, status: int | None = None,
                     method: str | None = None, path: PathMatcher = None) -> None:
        """The next `n` matching requests get a body a JSON client cannot use:
        "truncated" (the real answer cut in half, still labelled application/json), "html" (an
        nginx error page), "text" (plain text), "empty" (no body, labelled JSON), "cloudflare"
        (Cloudflare challenge page, 403 by default)."""
        if kind not in GARBAGE_KINDS:
            raise ValueError(f"kind must be one of {GARBAGE_KINDS}")

        def answer(req: RecordedRequest) -> Reply:
            if kind == "truncated":
                data, _ = self._dispatch(req).encoded()
                return Reply(status or 200, data[: max(1, len(data) // 2)],
                             content_type="application/json")
            if kind == "html":
                page = nginx_page(502)
                page.status = status or 200
                return page
            if kind == "text":
                return Reply(status or 200, "upstream connect error or disconnect/reset before "
                                            "headers. reset reason: connection termination")
            if kind == "empty":
                return Reply(status or 200, b"", content_type="application/json")
            return cloudflare_page(status or 403)
        self._add(self._faults, _Rule(n, method, path, f"garbage:{kind}", answer))

    def override(self, method: str | None, path: PathMatcher,
                 answer: Reply | Callable[[RecordedRequest], Reply] | None = None, *,
                 status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
                 times: int | None = None) -> None:
        """Answer matching requests with a fixed reply (or `answer(request)`), `times` times or
        until `clear_overrides()`. Later overrides take precedence."""
        if answer is None:
            answer = Reply(status, body, dict(headers or {}))
        if callable(answer):
            func = answer
        else:
            fixed = answer

            def func(_req: RecordedRequest) -> Reply:
                return dataclasses.replace(fixed, headers=dict(fixed.headers))
        with self._rule_lock:
            self._overrides.insert(0, _Rule(times, method, path, "override", func))

    def clear_overrides(self) -> None:
        with self._rule_lock:
            self._overrides.clear()

    def error_reply(self, status: int, retry_after: int | None = None) -> Reply:
        """The service's answer for a bare HTTP error; subclasses imitate the real service."""
        reply = Reply(status, phrase(status))
        if retry_after is not None:
            reply.headers["Retry-After"] = str(retry_after)
        return reply

    def not_found(self, req: RecordedRequest) -> Reply:
        return Reply(404, "Not Found")

    # ---- internals -----------------------------------------------------------------------------
    def _add(self, rules: list[_Rule], rule: _Rule) -> None:
        if rule.remaining is not None and rule.remaining < 1:
            return
        with self._rule_lock:
            rules.append(rule)

    def _take(self, rules: list[_Rule], req: RecordedRequest) -> _Rule | None:
        with self._rule_lock:
            for rule in rules:
                if _matches(req, rule.method, rule.path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            rules.remove(rule)
                    return rule
        return None

    def _over_rate_limit(self) -> bool:
        if not self.rate_limit:
            return False
        now = time.monotonic()
        with self._rule_lock:
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                return True
            self._window.append(now)
        return False

    def _record(self, request: Request) -> RecordedRequest:
        body = request.get_data(cache=True)
        content_type = request.mimetype or ""
        parsed = None
        if body and ("json" in content_type or body[:1] in (b"{", b"[")):
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
        form = {}
        if content_type == "application/x-www-form-urlencoded":
            form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"),
                                               keep_blank_values=True))
        rec = RecordedRequest(method=request.method, path=request.path,
                              query=request.args.to_dict(),
                              headers=Headers(list(request.headers.items())),
                              body=body, json=parsed, form=form, timestamp=time.time())
        self.requests.append(rec)
        return rec

    def _dispatch(self, req: RecordedRequest) -> Reply:
        for methods, pattern, handler in self.routes:
            match = pattern.fullmatch(req.path)
            if match is None:
                continue
            if methods != "*" and req.method not in ((methods,) if isinstance(methods, str)
                                                     else methods):
                continue
            with self.lock:
                return handler(req, **match.groupdict())
        return self.not_found(req)

    def _respond(self, req: RecordedRequest) -> Reply:
        if self.latency:
            self._stopping.wait(self.latency)
        delay = self._take(self._delays, req)
        if delay is not None:
            req.fault = "delay"
            if self._stopping.wait(delay.seconds):
                return Reply(503, "fake server stopping")
        rule = self._take(self._faults, req) or self._take(self._overrides, req)
        if rule is not None:
            req.fault = rule.label
            return rule.answer(req)
        if self._over_rate_limit():
            req.fault = "rate_limit"
            return self.error_reply(429, 1)
        return self._dispatch(req)

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        rec = self._record(request)
        try:
            response = self._respond(rec).to_response()
        except Exception:  # noqa: BLE001 - a crash in the fake must surface, not kill the thread
            self.errors.append(traceback.format_exc())
            response = Response("fake server crashed", status=500)
        rec.status = response.status_code
        return response(environ, start_response)


@dataclass
class UploadedFile:
    """One file of a multipart request (`multipart`)."""

    field: str
    filename: str
    content_type: str
    data: bytes


def multipart(req: RecordedRequest) -> tuple[dict[str, str], dict[str, UploadedFile]] | None:
    """(fields, files) of a `multipart/form-data` request, parsed as a real server would
    (werkzeug's parser); None when the request is not multipart."""
    content_type = req.headers.get("Content-Type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(method="POST", input_stream=io.BytesIO(req.body),
                             content_type=content_type,
                             content_length=len(req.body)).get_environ()
    parsed = Request(environ)
    fields = {key: parsed.form[key] for key in parsed.form}
    files = {key: UploadedFile(key, item.filename or "", item.mimetype or "", item.read())
             for key, item in parsed.files.items()}
    return fields, files


def fake_fixture(cls: type[FakeServer], name: str, **kwargs) -> Callable:
    """A function-scoped pytest fixture yielding a started `cls(**kwargs)`; it fails the test if
    the fake itself crashed while serving."""
    @pytest.fixture(name=name)
    def _fixture():
        with cls(**kwargs) as server:
            yield server
            if server.errors:
                pytest.fail(f"{cls.__name__} crashed while serving:\n" + "\n".join(server.errors))
    return _fixture


def max_per_second(stamps: list[float]) -> int:
    """The most requests that arrived within any window of one second [t, t + 1) (a rate a
    fake's recorded arrival times show; the panel budget's tests and bench/panel_surge.py)."""
    ordered = sorted(stamps)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
