"""The same notification delivered 20 times at once, over real HTTP to a real server process
(gunicorn, 2 worker processes x 10 threads, on the test database and the test Redis), yields
exactly one inbound event and exactly one job: deduplication is the database's UNIQUE constraint
(INSERT ... ON CONFLICT DO NOTHING), not a check-then-insert that concurrent requests would race.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from rq import Queue

from app.config import TestConfig
from app.extensions import db
from app.models import InboundEvent
from tests.conftest import BACKENDS
from tests.fakes import greenapi as green
from tests.fakes import meta
from tests.fakes import telegram as tg
from tests.integration.webhook_support import delete_all_rows, free_port

ROOT = Path(__file__).resolve().parents[2]
DELIVERIES = 20
META_SECRET = "concurrency-meta-secret"

# --preload builds the app once; each forked worker must then open its own database connections.
GUNICORN_CONFIG = '''
def post_fork(server, worker):
    from app.extensions import db
    from run import app

    with app.app_context():
        db.engine.dispose(close=False)
'''


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Overrides the suite's TRUNCATE clean-up with a faster DELETE (see delete_all_rows)."""
    yield
    delete_all_rows(app)


@pytest.fixture(scope="module")
def server(app, tmp_path_factory):
    folder = tmp_path_factory.mktemp("gunicorn")
    (folder / "gunicorn_conf.py").write_text(GUNICORN_CONFIG)
    port = free_port()
    env = dict(os.environ, DATABASE_URL=BACKENDS.database_url, REDIS_URL=BACKENDS.redis_url,
               ENCRYPTION_KEY=TestConfig.ENCRYPTION_KEY, SECRET_KEY=TestConfig.SECRET_KEY,
               META_APP_SECRET=META_SECRET, FAB_UPDATE_PERMS="0", LOG_LEVEL="WARNING",
               RELAYDESK_INSTANCE_DIR=str(folder), PYTHONUNBUFFERED="1")
    log_path = folder / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--threads", "10",
             "--worker-class", "gthread", "--preload", "--config",
             str(folder / "gunicorn_conf.py"), "--bind", f"127.0.0.1:{port}",
             "--graceful-timeout", "5", "run:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, log_path
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def deliver_concurrently(url: str, body: bytes, headers: dict) -> list[int]:
    """POST the same body DELIVERIES times, all released at the same instant."""
    barrier = threading.Barrier(DELIVERIES)
    statuses: list[int] = []
    lock = threading.Lock()

    def one():
        session = requests.Session()
        session.get(url.split("/webhooks")[0] + "/healthz", timeout=10)  # connect first
        barrier.wait(timeout=30)
        try:
            status = session.post(url, data=body, headers=headers, timeout=30).status_code
        except requests.RequestException as exc:  # recorded, so the assertion shows it
            status = repr(exc)
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=one) for _ in range(DELIVERIES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


def assert_one_event_and_one_job(statuses, redis_conn, log_path, count=1):
    assert statuses == [200] * DELIVERIES, log_path.read_text()[-3000:]
    db.session.expire_all()
    events = db.session.query(InboundEvent).all()
    assert len(events) == count
    queue = Queue("pipeline", connection=redis_conn)
    assert sorted(queue.job_ids) == sorted(f"event-{e.id}" for e in events)
    assert queue.count == count


def test_green_api_notification_delivered_20_times_at_once(server, factory, redis_conn):
    base, log_path = server
    channel = factory.channel(factory.workspace("race-green"), kind="greenapi")
    payload = green.incoming_message("79001234567@c.us", "2274209 refill",
                                     id_instance=channel.id_instance)
    statuses = deliver_concurrently(f"{base}/webhooks/greenapi", json.dumps(payload).encode(),
                                    green.webhook_headers(channel.webhook_token))
    assert_one_event_and_one_job(statuses, redis_conn, log_path)


def test_meta_batch_delivered_20_times_at_once(server, factory, redis_conn):
    base, log_path = server
    channel = factory.channel(factory.workspace("race-meta"), kind="meta")
    payload = meta.notification(meta.entry(meta.messages_change(
        messages=[meta.text_message("7901", "2274209 refill"), meta.text_message("7902", "a")],
        statuses=[meta.status("wamid.OUT", "delivered", "7903")],
        phone_number_id=channel.phone_number_id)))
    raw, headers = meta.signed_body(payload, META_SECRET)
    statuses = deliver_concurrently(f"{base}/webhooks/meta", raw, headers)
    assert_one_event_and_one_job(statuses, redis_conn, log_path, count=3)


def test_telegram_update_delivered_20_times_at_once(server, factory, redis_conn):
    base, log_path = server
    channel = factory.channel(factory.workspace("race-telegram"), kind="telegram")
    update = tg.message_update("2274209 refill")
    statuses = deliver_concurrently(f"{base}/webhooks/telegram/{channel.bot_id}",
                                    json.dumps(update).encode(),
                                    tg.webhook_headers(channel.secret_token))
    assert_one_event_and_one_job(statuses, redis_conn, log_path)
