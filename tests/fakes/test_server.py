"""The shared base: real HTTP on loopback, recording, fault injection, latency, rate limit."""
from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.fakes.server import FakeServer, Reply

T = 2  # generous client timeout for calls expected to succeed


class Echo(FakeServer):
    name = "echo"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hits = 0
        self.route("*", r"/echo/(?P<word>\w+)", self._echo)
        self.route("GET", r"/boom", self._boom)

    def _echo(self, req, word):
        self.hits += 1
        return Reply(200, {"word": word, "hit": self.hits})

    def _boom(self, req):
        raise RuntimeError("bug in the fake")


@pytest.fixture
def echo():
    with Echo() as server:
        yield server


def test_binds_loopback_on_a_free_port_and_stops():
    with Echo() as one, Echo() as two:
        assert one.url.startswith("http://127.0.0.1:") and one.port != two.port
        assert requests.get(one.url + "/echo/hi", timeout=T).json()["word"] == "hi"
        url = one.url
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/echo/hi", timeout=T)


def test_records_every_part_of_a_request(echo):
    before = time.time()
    requests.post(echo.url + "/echo/a?x=1&y=2", json={"k": [1, 2]}, headers={"X-Test": "v"},
                  timeout=T)
    requests.post(echo.url + "/echo/b", data={"key": "s3cret", "action": "balance"}, timeout=T)
    requests.put(echo.url + "/echo/c", data=b"\x00raw", timeout=T)
    first, second, third = echo.requests
    assert (first.method, first.path, first.query) == ("POST", "/echo/a", {"x": "1", "y": "2"})
    assert first.json == {"k": [1, 2]} and first.headers["x-test"] == "v"
    assert json.loads(first.body) == {"k": [1, 2]} and first.status == 200
    assert before <= first.timestamp <= time.time()
    assert second.form == {"key": "s3cret", "action": "balance"} and second.json is None
    assert third.body == b"\x00raw" and third.method == "PUT"
    assert echo.request_count == 3 and echo.count("POST") == 2
    assert echo.count(path="/echo/[ab]") == 2 and echo.count(path=re.compile(r"/echo/c")) == 1


def test_recording_is_thread_safe(echo):
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda i: requests.get(f"{echo.url}/echo/w{i}", timeout=T).json(),
                                range(40)))
    assert echo.request_count == 40
    assert sorted(a["hit"] for a in answers) == list(range(1, 41))   # handlers ran one at a time


def test_unknown_path_is_404(echo):
    assert requests.get(echo.url + "/nope", timeout=T).status_code == 404


def test_fail_next_counts_down_and_sets_retry_after(echo):
    echo.fail_next(2, status=429, retry_after=7)
    answers = [requests.get(echo.url + "/echo/x", timeout=T) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "7"
    assert [r.fault for r in echo.requests] == ["fail", "fail", None]
    assert echo.hits == 1                                  # failed requests never reached the route


def test_fail_next_with_custom_body_headers_and_path_filter(echo):
    echo.fail_next(1, status=503, body={"down": True}, headers={"X-Why": "maint"},
                   path="/echo/only*", method="GET")
    assert requests.get(echo.url + "/echo/other", timeout=T).status_code == 200
    assert requests.post(echo.url + "/echo/only1", timeout=T).status_code == 200
    answer = requests.get(echo.url + "/echo/only2", timeout=T)
    assert answer.status_code == 503 and answer.json() == {"down": True}
    assert answer.headers["X-Why"] == "maint"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_fail_next_5xx(echo, status):
    echo.fail_next(status=status)
    assert requests.get(echo.url + "/echo/x", timeout=T).status_code == status


def test_delay_next_provokes_a_client_timeout(echo):
    echo.delay_next(1, seconds=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(echo.url + "/echo/slow", timeout=0.2)
    assert time.monotonic() - started < 0.9
    assert requests.get(echo.url + "/echo/fast", timeout=0.5).status_code == 200
    assert echo.requests[0].fault == "delay"


def test_delay_combines_with_a_fault(echo):
    echo.delay_next(1, seconds=0.15)
    echo.fail_next(1, status=500)
    started = time.monotonic()
    assert requests.get(echo.url + "/echo/x", timeout=T).status_code == 500
    assert time.monotonic() - started >= 0.15


@pytest.mark.parametrize("kind", ["truncated", "html", "text", "empty", "cloudflare"])
def test_garbage_next_is_not_json(echo, kind):
    echo.garbage_next(1, kind=kind)
    answer = requests.get(echo.url + "/echo/x", timeout=T)
    with pytest.raises(ValueError):
        json.loads(answer.text)
    assert requests.get(echo.url + "/echo/x", timeout=T).json()["word"] == "x"
    if kind == "truncated":
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.text.startswith('{"word": ')
    if kind == "cloudflare":
        assert answer.status_code == 403 and answer.headers["cf-mitigated"] == "challenge"
        assert "Just a moment..." in answer.text


def test_garbage_kind_is_validated(echo):
    with pytest.raises(ValueError):
        echo.garbage_next(1, kind="nonsense")


def test_overrides_fixed_callable_times_and_clear(echo):
    echo.override("GET", "/echo/a", body={"over": 1}, status=202, times=1)
    echo.override(None, "/echo/b", lambda req: Reply(200, {"seen": req.query.get("q")}))
    assert requests.get(echo.url + "/echo/a", timeout=T).json() == {"over": 1}
    assert requests.get(echo.url + "/echo/a", timeout=T).json()["word"] == "a"   # times=1 used up
    assert requests.post(echo.url + "/echo/b?q=7", timeout=T).json() == {"seen": "7"}
    echo.clear_overrides()
    assert requests.get(echo.url + "/echo/b", timeout=T).json()["word"] == "b"


def test_reset_forgets_requests_and_pending_faults(echo):
    echo.fail_next(5)
    requests.get(echo.url + "/echo/x", timeout=T)
    echo.reset()
    assert echo.request_count == 0
    assert requests.get(echo.url + "/echo/x", timeout=T).status_code == 200


def test_latency_applies_to_every_request():
    with Echo(latency=0.05) as server:
        started = time.monotonic()
        for _ in range(3):
            requests.get(server.url + "/echo/x", timeout=T)
        assert time.monotonic() - started >= 0.15


def test_rate_limit_answers_429_beyond_the_window():
    with Echo(rate_limit=3) as server:
        codes = [requests.get(server.url + "/echo/x", timeout=T).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        assert server.requests[3].fault == "rate_limit"


def test_crash_in_the_fake_is_a_500_and_recorded(echo):
    assert requests.get(echo.url + "/boom", timeout=T).status_code == 500
    assert "bug in the fake" in echo.errors[0]
    echo.reset()


def test_wait_for_blocks_until_requests_arrive(echo):
    assert not echo.requests.wait_for(1, timeout=0.05)
    requests.get(echo.url + "/echo/x", timeout=T)
    assert echo.requests.wait_for(1, timeout=1) and echo.requests.last.path == "/echo/x"


def test_connections_are_kept_alive_like_the_real_services(echo):
    """One TCP connection for many calls (the real platforms keep connections open; a fake that
    closed each one would make every call pay a connect and a server thread)."""
    import http.client

    connection = http.client.HTTPConnection(echo.host, echo.port, timeout=T)
    for word in ("one", "two", "three"):
        connection.request("POST", f"/echo/{word}", body=b'{"a": 1}',
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["word"] == word
        assert (response.getheader("Connection") or "").lower() != "close"
    connection.close()
    assert [r.json for r in echo.requests] == [{"a": 1}] * 3


def test_a_chunked_body_is_read_whole_and_the_connection_goes_on(echo):
    import http.client

    connection = http.client.HTTPConnection(echo.host, echo.port, timeout=T)
    connection.request("POST", "/echo/chunked", body=iter([b'{"part": ', b'"one"}']),
                       headers={"Content-Type": "application/json"}, encode_chunked=True)
    assert connection.getresponse().read()
    connection.request("GET", "/echo/after")
    assert json.loads(connection.getresponse().read())["word"] == "after"
    connection.close()
    assert echo.requests[0].json == {"part": "one"}


def test_stop_does_not_wait_for_idle_keep_alive_connections():
    import http.client

    server = Echo().start()
    connection = http.client.HTTPConnection(server.host, server.port, timeout=T)
    connection.request("GET", "/echo/idle")
    connection.getresponse().read()
    started = time.monotonic()
    server.stop()  # the client still holds its connection open
    assert time.monotonic() - started < 2
    connection.close()
