"""`make run` without Redis: the embedded queue (app/devserver.py) must carry web + worker +
scheduler, and the UI must say it is not for production."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from redis import Redis
from redis.exceptions import ResponseError
from rq import Queue, SimpleWorker
from rq.scripts import acquire_or_refresh_lock

from app.config import TestConfig
from app.devserver import start_embedded_redis
from tests.conftest import BACKENDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def embedded_redis():
    url, server = start_embedded_redis()
    connection = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    yield url, connection
    connection.close()
    server.shutdown()
    server.server_close()


def test_embedded_queue_runs_rq_lua_scripts(embedded_redis):
    """RQ's scheduler lock is a Lua script tried as EVALSHA first (NOSCRIPT, then loaded)."""
    _, connection = embedded_redis
    assert acquire_or_refresh_lock(connection, "rq:scheduler-lock:test", "me", 10) == "acquired"
    assert acquire_or_refresh_lock(connection, "rq:scheduler-lock:test", "me", 10) == "refreshed"


def test_an_error_reply_keeps_the_connection(embedded_redis):
    _, connection = embedded_redis
    with pytest.raises(ResponseError):
        connection.execute_command("NO-SUCH-COMMAND")
    assert connection.ping()


def test_embedded_queue_worker_with_scheduler_runs_jobs(embedded_redis):
    _, connection = embedded_redis
    queue = Queue("default", connection=connection)
    now = queue.enqueue("os.getpid")
    due = queue.enqueue_in(timedelta(seconds=0), "os.getcwd")  # only the scheduler moves it

    worker = SimpleWorker([queue], connection=connection)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        worker.work(burst=True, with_scheduler=True)
        if due.get_status(refresh=True) == "finished":
            break
        time.sleep(0.5)
    assert now.get_status(refresh=True) == "finished"
    assert due.get_status(refresh=True) == "finished"


def test_embedded_queue_banner_is_shown_to_signed_in_people(app, factory, auth, client,
                                                          monkeypatch):
    admin = factory.admin("root")
    auth.login(admin.username)
    assert 'id="embedded-queue-banner"' not in client.get("/").get_data(as_text=True)
    monkeypatch.setitem(app.config, "EMBEDDED_QUEUE", True)
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert 'id="embedded-queue-banner"' in page and "not for production" in page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dead_redis_url() -> str:
    return f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there


@pytest.mark.slow
def test_devserver_starts_without_redis_quietly_and_flags_it(app, factory, tmp_path):
    """`python -m app.devserver` (all of `make run` but the catalogues) with no Redis at
    REDIS_URL: it migrates, runs `init --demo`, starts web + worker + scheduler, and prints a
    few lines ending with a box holding the URL and the two new passwords."""
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": BACKENDS.database_url, "REDIS_URL": _dead_redis_url(),
           "SECRET_KEY": TestConfig.SECRET_KEY, "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY,
           "RELAYDESK_INSTANCE_DIR": str(tmp_path), "FAB_UPDATE_PERMS": "false",
           "RATELIMIT_ENABLED": "false", "PORT": str(port), "HOST": "127.0.0.1",
           "ADMIN_USERNAME": "admin", "ADMIN_PASSWORD": ""}
    for name in ("RELAYDESK_EMBEDDED_QUEUE", "LOG_LEVEL",  # LOG_LEVEL: make run's default
                 "PUBLIC_BASE_URL"):
        env.pop(name, None)
    log_path = tmp_path / "devserver.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "app.devserver"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while not log_path.read_text().rstrip().endswith("+"):
            assert server.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, log_path.read_text()[-4000:]
            time.sleep(0.5)
        time.sleep(3)  # the worker's scheduler has started by now (it crashed here before)
        assert server.poll() is None, log_path.read_text()[-4000:]
        output = log_path.read_text()
        lines = output.rstrip("\n").split("\n")
        assert len(lines) <= 12, output  # it printed ~820 lines of permission log before
        assert "using the embedded queue" in output
        box = lines[lines.index(next(line for line in lines if line.startswith("+"))):]
        assert box[-1].startswith("+") and len({len(line) for line in box}) == 1, box
        assert any(f"{base}/" in line for line in box)
        logins = dict(re.findall(r"\| (?:master admin|demo manager): (\S+) / (\S+)", output))
        assert set(logins) == {"admin", "demo-manager"}, output

        redis_url = re.search(r"embedded queue at (\S+)", output)[1]
        scheduler = Redis.from_url(redis_url, socket_connect_timeout=2)
        assert scheduler.exists("rq:scheduler-lock:default"), "no RQ scheduler is running"
        scheduler.close()
        assert requests.get(f"{base}/readyz", timeout=5).json()["checks"]["redis"] == "ok"
        browser = requests.Session()
        login_page = browser.get(f"{base}/login/", timeout=5).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)[1]
        signed_in = browser.post(f"{base}/login/", timeout=10, data={
            "csrf_token": token, "username": "admin", "password": logins["admin"]})
        assert "/login" not in signed_in.url
        assert 'id="embedded-queue-banner"' in signed_in.text
        # the demo manager's channel page gives a webhook URL on this server's port
        manager = requests.Session()
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                          manager.get(f"{base}/login/", timeout=5).text)[1]
        manager.post(f"{base}/login/", timeout=10, data={
            "csrf_token": token, "username": "demo-manager", "password": logins["demo-manager"]})
        channels = manager.get(f"{base}/channelview/list/", timeout=10).text
        shown = [re.findall(r'id="webhook-url"[^>]*value="([^"]*)"',
                            manager.get(f"{base}{path}", timeout=10).text)
                 for path in dict.fromkeys(re.findall(r'href="(/channelview/show/\d+)', channels))]
        urls = [url for found in shown for url in found]
        assert urls and all(url.startswith(f"{base}/webhooks/") for url in urls), urls
        assert log_path.read_text() == output  # browsing added nothing to the output
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log_path.read_text()


def test_box_without_new_passwords_says_where_they_went():
    from app.devserver import box

    text = box("http://127.0.0.1:5000/", {}, [])
    assert "admin (password shown on the first run)" in text
    assert "demo-manager (password shown on the first run)" in text
    assert "reset-password" in text
