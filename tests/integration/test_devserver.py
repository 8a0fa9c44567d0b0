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
from tests.factories import password_for

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
    page = client.get("/").get_data(as_text=True)
    assert 'id="embedded-queue-banner"' in page and "not for production" in page


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dead_redis_url() -> str:
    return f"redis://127.0.0.1:{_free_port()}/0"  # nothing listens there


@pytest.mark.slow
def test_devserver_starts_without_redis_and_flags_it(app, factory, tmp_path):
    """`python -m app.devserver` (the last step of `make run`) with no Redis at REDIS_URL."""
    admin = factory.admin("root")
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": BACKENDS.database_url, "REDIS_URL": _dead_redis_url(),
           "SECRET_KEY": TestConfig.SECRET_KEY, "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY,
           "RELAYDESK_INSTANCE_DIR": str(tmp_path), "FAB_UPDATE_PERMS": "false",
           "RATELIMIT_ENABLED": "false", "PORT": str(port), "HOST": "127.0.0.1",
           "LOG_LEVEL": "WARNING"}
    env.pop("RELAYDESK_EMBEDDED_QUEUE", None)
    log_path = tmp_path / "devserver.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "app.devserver"], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while "Relaydesk is up" not in log_path.read_text():
            assert server.poll() is None, log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, log_path.read_text()[-4000:]
            time.sleep(0.5)
        time.sleep(3)  # the worker's scheduler has started by now (it crashed here before)
        assert server.poll() is None, log_path.read_text()[-4000:]
        output = log_path.read_text()
        assert "using the embedded queue" in output and "Scheduler for" in output

        assert requests.get(f"{base}/readyz", timeout=5).json()["checks"]["redis"] == "ok"
        browser = requests.Session()
        login_page = browser.get(f"{base}/login/", timeout=5).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page)[1]
        signed_in = browser.post(f"{base}/login/", timeout=10, data={
            "csrf_token": token, "username": admin.username,
            "password": password_for(admin.username)})
        assert "/login" not in signed_in.url
        assert 'id="embedded-queue-banner"' in signed_in.text
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log_path.read_text()
