"""Browser tests: the real app in its own server process, driven by Debian's chromium.

* `live_server`: gunicorn serving `run:app` on a free loopback port, configured through the
  environment like production (CSRF on, FAB_UPDATE_PERMS off) but on the test session's database
  and Redis. The session `app` fixture has migrated that database and written the permissions
  before the server starts; rows made with the Factory are visible to the server at once.
* `browser`: Playwright (from PyPI) driving /usr/bin/chromium; no browser download. A missing
  chromium fails the test with a message saying how to install it: `make test` does.
* `page`: a fresh browser context (own cookies) per test; `new_page()` gives more of them.
* `serve_app(..., extra_env=)` / `page_opener(browser, base_url)`: another server with its own
  settings (tests/browser/test_signup_stripe.py: Stripe pointed at the fake) and its pages.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from app.config import TestConfig
from tests.conftest import BACKENDS
from tests.processes import stop

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DEBIAN_CHROMIUM = "/usr/bin/chromium"
SERVER_START_TIMEOUT = 90  # seconds; create_app takes a few on a loaded machine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return response.status == 200
    except Exception:  # noqa: BLE001 - not up yet
        return False


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@contextlib.contextmanager
def serve_app(artifacts_dir: Path, instance_dir: Path, *, log_name: str = "browser-server",
              extra_env: dict[str, str] | None = None, threads: int = 8):
    """Base URL of `run:app` served by gunicorn in a separate process, environment as below
    plus `extra_env` (e.g. a payment provider pointed at a local fake). A live page's event
    stream holds one of the `threads` (app/views/live.py): at most half of them stream, and a
    closed page's stream ends within 3 seconds, so the other pages always get a thread."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": BACKENDS.database_url,
        "REDIS_URL": BACKENDS.redis_url,
        "SECRET_KEY": TestConfig.SECRET_KEY,
        "ENCRYPTION_KEY": TestConfig.ENCRYPTION_KEY,
        "RELAYDESK_INSTANCE_DIR": str(instance_dir),
        "FAB_UPDATE_PERMS": "false",  # the session app has written them
        "RATELIMIT_ENABLED": "false",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
        "OUTBOUND_ALLOW_PRIVATE": TestConfig.OUTBOUND_ALLOW_PRIVATE,  # the local fakes
        "MEDIA_ROOT": TestConfig.MEDIA_ROOT,  # the files the test process downloaded
        "LIVE_STREAMS_PER_PROCESS": str(max(1, threads // 2)),
        "LIVE_STREAMS_PER_USER": str(max(1, threads // 2)),
        "LIVE_STREAMS_PER_WORKSPACE": str(max(1, threads // 2)),
        "LIVE_HEARTBEAT_SECONDS": "3",
        **(extra_env or {}),
    }
    env.pop("RELAYDESK_EMBEDDED_QUEUE", None)
    log_path = artifacts_dir / f"{log_name}.log"
    log_file = log_path.open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", str(threads),
         "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "run:app"],
        cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    try:
        while not _answers(f"{base_url}/healthz"):
            if server.poll() is not None:
                pytest.fail(f"the app server exited with {server.returncode}:\n"
                            f"{log_path.read_text()[-4000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the app server did not answer within {SERVER_START_TIMEOUT}s:\n"
                            f"{log_path.read_text()[-4000:]}")
            time.sleep(0.3)
        yield base_url
    finally:
        stop(server)
        log_file.close()


@pytest.fixture(scope="session")
def live_server(app, artifacts_dir, tmp_path_factory):
    """Base URL of the app served by gunicorn in a separate process."""
    with serve_app(artifacts_dir, tmp_path_factory.mktemp("server-instance")) as base_url:
        yield base_url


def _chromium_path() -> str:
    """RELAYDESK_CHROMIUM when set, else Debian's chromium; a missing one fails the test."""
    wanted = os.environ.get("RELAYDESK_CHROMIUM")
    if wanted:
        path = wanted if os.path.isfile(wanted) and os.access(wanted, os.X_OK) else None
    else:
        path = DEBIAN_CHROMIUM if os.path.isfile(DEBIAN_CHROMIUM) else shutil.which("chromium")
    if not path:
        looked = wanted or f"{DEBIAN_CHROMIUM} and `chromium` on PATH"
        pytest.fail(
            f"Chromium is missing (looked for {looked}). Browser tests drive Debian's chromium "
            "instead of downloading a Playwright browser: install it with "
            "`apt-get install -y chromium` (`make test` does), or set RELAYDESK_CHROMIUM to a "
            "chromium binary.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    executable = _chromium_path()
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox"])
        yield instance
        instance.close()


def page_opener(browser, base_url: str):
    """(open_page, close_all): pages in fresh contexts on `base_url`."""
    contexts = []

    def open_page():
        context = browser.new_context(base_url=base_url,
                                      viewport={"width": 1280, "height": 800})
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    def close_all():
        for context in contexts:
            context.close()

    return open_page, close_all


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in fresh contexts (separate cookies: one per signed-in person)."""
    open_page, close_all = page_opener(browser, live_server)
    yield open_page
    close_all()


@pytest.fixture
def page(new_page):
    return new_page()
