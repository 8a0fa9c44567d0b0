"""Nothing accepted is ever lost (docs/contracts.md "Persist first, then process").

A private redis-server (no persistence) is started for this module and an app is pointed at it.
Redis is stopped in the middle of webhook traffic: every webhook still answers 200 and leaves its
row `pending`, with no job anywhere. Redis comes back EMPTY (so the job queued just before the
outage is lost too); the maintenance sweep re-enqueues every stale row and a burst worker
processes them all. A second case simulates a worker that died mid-event: the row stays
`processing` until its lease expires, then the sweep hands it to another worker.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import time
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import update

from app.extensions import db
from app.jobs import maintenance
from app.jobs.events import claim
from app.models import InboundEvent
from app.models.base import utcnow
from tests.fakes import greenapi as green
from tests.fakes import meta
from tests.fakes import telegram as tg
from tests.integration.webhook_support import delete_all_rows, free_port

META_SECRET = "outage-meta-secret"
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisProcess:
    """A throw-away redis-server on a fixed loopback port: stop() and start() again."""

    def __init__(self, port: int):
        self.port, self.process = port, None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        probe = Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 15
        while True:
            try:
                if probe.ping():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Overrides the suite's TRUNCATE clean-up with a faster DELETE (see delete_all_rows)."""
    yield
    delete_all_rows(app)


@pytest.fixture(scope="module")
def private_redis():
    server = RedisProcess(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def outage_app(app, private_redis):
    """The suite's application with REDIS_URL pointing at the private redis-server: its Redis
    client and queues are rebuilt by the factory's own `_init_redis`, then restored."""
    from app import _init_redis

    saved = {key: app.extensions[key] for key in ("relaydesk_redis", "relaydesk_queues")}
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(app.config, "REDIS_URL", private_redis.url)
        patch.setitem(app.config, "META_APP_SECRET", META_SECRET)
        _init_redis(app)
        try:
            yield app
        finally:
            app.extensions.update(saved)


@pytest.fixture
def redis_up(private_redis):
    if private_redis.process is None:
        private_redis.start()
    Redis.from_url(private_redis.url).flushall()
    yield private_redis
    if private_redis.process is None:
        private_redis.start()


def pipeline_queue(outage_app) -> Queue:
    return outage_app.extensions["relaydesk_queues"]["pipeline"]


def all_events() -> list[InboundEvent]:
    db.session.expire_all()
    return db.session.query(InboundEvent).order_by(InboundEvent.id).all()


def age_everything(seconds: int) -> None:
    """Pretend the rows arrived `seconds` ago (past the sweep's PENDING_GRACE). Computed in
    Python: date arithmetic in SQL differs between PostgreSQL and SQLite."""
    for event_id, received_at in db.session.query(InboundEvent.id, InboundEvent.received_at):
        db.session.execute(update(InboundEvent).where(InboundEvent.id == event_id).values(
            received_at=received_at - timedelta(seconds=seconds)))
    db.session.commit()


def run_burst_worker(outage_app) -> None:
    with outage_app.app_context():
        queue = pipeline_queue(outage_app)
        SimpleWorker([queue], connection=queue.connection).work(burst=True)


def test_webhooks_during_a_redis_outage_are_processed_when_it_returns(outage_app, factory,
                                                                     redis_up):
    workspace = factory.workspace("outage")
    green_channel = factory.channel(workspace, kind="greenapi")
    tg_channel = factory.channel(workspace, kind="telegram")
    meta_channel = factory.channel(workspace, kind="meta")
    client = outage_app.test_client()
    iid = green_channel.id_instance
    green_headers = green.webhook_headers(green_channel.webhook_token)
    tg_url, tg_headers = (f"/webhooks/telegram/{tg_channel.bot_id}",
                          tg.webhook_headers(tg_channel.secret_token))

    # Before the outage: accepted and queued.
    before = green.incoming_message("79001234567@c.us", "help", id_instance=iid)
    assert client.post("/webhooks/greenapi", data=json.dumps(before),
                       headers=green_headers).status_code == 200
    assert pipeline_queue(outage_app).count == 1

    redis_up.stop()
    deliveries = [
        ("/webhooks/greenapi", green.incoming_message("79001234568@c.us", "help",
                                                      id_instance=iid), green_headers),
        ("/webhooks/greenapi", green.incoming_message("79001234569@c.us", "help",
                                                      kind="extendedTextMessage",
                                                      id_instance=iid), green_headers),
        ("/webhooks/greenapi", green.state_instance_changed("sleepMode", id_instance=iid),
         green_headers),
        (tg_url, tg.message_update("help"), tg_headers),
        (tg_url, tg.my_chat_member_update(new_status="administrator"), tg_headers),
    ]
    slowest = 0.0
    for url, payload, headers in deliveries:
        started = time.monotonic()
        response = client.post(url, data=json.dumps(payload), headers=headers)
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 200, (url, response.data)
    raw, headers = meta.signed_body(meta.notification(meta.entry(meta.messages_change(
        messages=[meta.text_message("7901", "help"), meta.text_message("7902", "help")],
        phone_number_id=meta_channel.phone_number_id))), META_SECRET)
    assert client.post("/webhooks/meta", data=raw, headers=headers).status_code == 200
    # A duplicate during the outage is still a duplicate.
    assert client.post(tg_url, data=json.dumps(deliveries[3][1]),
                       headers=tg_headers).status_code == 200
    assert slowest < 5, f"a webhook took {slowest:.1f}s to answer while Redis was down"

    events = all_events()
    assert len(events) == 1 + len(deliveries) + 2
    assert {e.state for e in events} == {"pending"}

    redis_up.start()  # back, and empty: even the job queued before the outage is gone
    assert pipeline_queue(outage_app).count == 0
    with outage_app.app_context():
        assert maintenance.sweep()["events"] == 0  # within PENDING_GRACE: not stale yet
    age_everything(int(maintenance.PENDING_GRACE.total_seconds()) + 5)
    with outage_app.app_context():
        assert maintenance.sweep()["events"] == len(events)
    assert sorted(pipeline_queue(outage_app).job_ids) == sorted(f"event-{e.id}"
                                                                for e in events)

    run_burst_worker(outage_app)
    processed = all_events()
    assert [(e.id, e.state) for e in processed] == [(e.id, "done") for e in events]
    assert all(e.processed_at is not None and e.attempts == 1 for e in processed)
    with outage_app.app_context():
        assert maintenance.sweep()["events"] == 0  # nothing left behind


def test_event_of_a_crashed_worker_is_picked_up_after_its_lease(outage_app, factory, redis_up):
    channel = factory.channel(factory.workspace("crash"), kind="telegram")
    client = outage_app.test_client()
    response = client.post(f"/webhooks/telegram/{channel.bot_id}",
                           data=json.dumps(tg.message_update("help")),
                           headers=tg.webhook_headers(channel.secret_token))
    assert response.status_code == 200
    [event] = all_events()

    # A worker takes the job, claims the event, and dies before finishing it.
    queue = pipeline_queue(outage_app)
    assert queue.job_ids == [f"event-{event.id}"]
    queue.empty()
    with outage_app.app_context():
        assert claim(event.id) is not None
    [stuck] = all_events()
    assert stuck.state == "processing" and stuck.attempts == 1
    age_everything(int(maintenance.PENDING_GRACE.total_seconds()) + 5)

    with outage_app.app_context():
        assert maintenance.sweep()["events"] == 0  # the lease still holds: maybe just slow
        assert claim(event.id) is None  # and no other worker may take it meanwhile
    db.session.execute(update(InboundEvent).values(
        lease_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    with outage_app.app_context():
        assert maintenance.sweep()["events"] == 1
    assert queue.job_ids == [f"event-{event.id}"]

    run_burst_worker(outage_app)
    [done] = all_events()
    assert done.state == "done" and done.attempts == 2 and done.lease_until is None
