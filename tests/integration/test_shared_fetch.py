"""Order fetches shared across jobs (app/jobs/shared_fetch.py): fetches of several jobs that
wait for the same panel's slot are served by one call, each gets only its own orders, a
failure reaches every one of them, and a fetch whose taker vanished still gets its answer.

Each "job" is a thread with its own application context, as in a worker."""
from __future__ import annotations

import threading
import time

import pytest

from app.extensions import db
from app.integrations.panels import panel_rate, rate_key
from app.integrations.panels.registry import adapter_for
from app.integrations.ratelimit import RateLimiter
from app.jobs import shared_fetch
from app.jobs.drivers import fetch_all
from app.jobs.pipeline import NeedFetch
from tests.integration.pipeline_support import REFILL_30

ORDERS = {"alice": ["4000001", "4000002"], "bob": ["4000003"], "carol": ["4000004"]}


@pytest.fixture
def rental(factory, fake_rentalpanel, redis_conn):
    for user, ids in ORDERS.items():
        for number in ids:
            fake_rentalpanel.add_order(int(number), username=user, service=REFILL_30)
    panel = factory.panel(factory.workspace("share"), panel_type="rentalpanel_v1",
                          url=fake_rentalpanel.url, api_key="rp-admin-key",
                          requests_per_second=2.0)
    db.session.commit()
    return panel


def jobs_fetching(app, panel, asks: dict[str, list[str]]) -> dict[str, tuple]:
    """Each ask fetched by its own job, all at once, while the panel's slot is taken (so they
    all wait for the next one); returns each job's (result, error, ms)."""
    adapter = adapter_for(panel)
    key, rate = rate_key(adapter.http.settings), panel_rate(panel.requests_per_second)
    assert RateLimiter(app.extensions["relaydesk_redis"]).try_acquire_fair(
        key, rate, "0:someone") == 0.0
    answers: dict[str, tuple] = {}

    def job(user, ids):
        with app.app_context():
            try:
                need = NeedFetch(adapter_for(db.session.get(type(panel), panel.id)), ids,
                                 user, chat=f"1:{user}")
                answers[user] = fetch_all([need])[0]
            finally:
                db.session.remove()

    threads = [threading.Thread(target=job, args=item) for item in asks.items()]
    for thread in threads:
        thread.start()
        time.sleep(0.02)  # they ask in this order
    for thread in threads:
        thread.join(30)
    return answers


def test_jobs_waiting_for_the_same_slot_share_one_call(app, rental, fake_rentalpanel):
    before = len(fake_rentalpanel.requests)
    answers = jobs_fetching(app, rental, ORDERS)
    assert len(fake_rentalpanel.requests) - before == 1
    calls = fake_rentalpanel.requests[before:]
    assert sorted(calls[0].params["orders"].split(",")) == sorted(
        i for ids in ORDERS.values() for i in ids)
    for user, ids in ORDERS.items():
        result, error, _ms = answers[user]
        assert error is None and sorted(result.orders) == ids, (user, result, error)
        assert result.coalesced == 3
        assert all(o.username == user for o in result.orders.values())
    # exactly one of them made the call
    assert sorted(r.calls for r, _e, _ms in answers.values()) == [0, 0, 1]
    # nobody is left waiting for a slot, nor asking
    limiter = RateLimiter(app.extensions["relaydesk_redis"])
    assert limiter.waiting(rate_key(adapter_for(rental).http.settings)) == 0
    assert not list(app.extensions["relaydesk_redis"].scan_iter(f"{shared_fetch.PREFIX}*"))


def test_a_failed_call_fails_every_fetch_it_served(app, rental, fake_rentalpanel):
    fake_rentalpanel.fail_next(3, 401)  # a wrong key: not retried
    before = len(fake_rentalpanel.requests)
    answers = jobs_fetching(app, rental, ORDERS)
    assert len(fake_rentalpanel.requests) - before == 1
    assert {(e.kind if e else None) for _r, e, _ms in answers.values()} == {"auth"}


def test_an_ask_whose_taker_vanished_is_fetched_by_its_own_job(app, rental, fake_rentalpanel,
                                                                redis_conn):
    """A taker that died after taking leaves no reply: the job gets the next slot itself."""
    adapter = adapter_for(rental)
    need = NeedFetch(adapter, ORDERS["bob"], "bob", chat="1:bob")
    real_rpush = redis_conn.__class__.rpush
    taken = []

    def rpush_then_vanish(self, key, *values):  # another job takes the ask and dies
        taken.extend(values)
        return 1

    before = len(fake_rentalpanel.requests)
    with app.app_context():
        redis = app.extensions["relaydesk_redis"]
        redis.__class__.rpush = rpush_then_vanish
        try:
            result, error, _ms = fetch_all([need])[0]
        finally:
            redis.__class__.rpush = real_rpush
    assert taken and error is None and sorted(result.orders) == ORDERS["bob"]
    assert len(fake_rentalpanel.requests) - before == 1


def test_redis_trouble_falls_back_to_a_call_of_its_own(app, rental, fake_rentalpanel,
                                                       monkeypatch):
    def broken(*_a, **_kw):
        raise ConnectionError("redis went away")

    monkeypatch.setattr(shared_fetch, "asks_key", broken)
    result, error, _ms = fetch_all([NeedFetch(adapter_for(rental), ORDERS["carol"], "carol",
                                              chat="1:carol")])[0]
    assert error is None and sorted(result.orders) == ORDERS["carol"]


def test_answers_survive_the_trip_through_redis(app, rental):
    """Every field of an order, dates included, comes back as it went."""
    from datetime import datetime

    from app.integrations.panels.base import OrdersResult, PanelOrder

    order = PanelOrder(id="7", status="completed", raw_status="Completed", username="a",
                       service_id="3", service_name="Likes", provider="p.example",
                       external_id="EXT-7", created_at=datetime(2026, 1, 2, 3, 4, 5),
                       panel_now=datetime(2026, 1, 3), start_count=10, remains=0,
                       quantity=100, charge="1.20", link="https://x.example/p",
                       actions={"refill": True})
    back, error = shared_fetch.decode(shared_fetch.encode(
        OrdersResult(orders={"7": order}, missing=["8"], calls=1, coalesced=2), None))
    assert error is None and back.orders == {"7": order} and back.missing == ["8"]
    assert back.calls == 0 and back.coalesced == 2
