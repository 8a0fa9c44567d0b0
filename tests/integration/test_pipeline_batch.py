"""Batches: one pipeline job takes the events waiting in the queue (app/jobs/events.py).

* The job's own event and up to PIPELINE_BATCH_SIZE - 1 fresh events are claimed together;
  the taken events' own jobs leave the queue.
* Their rows go out as one statement per kind (the statement count grows far slower than the
  number of commands).
* Two messages of one chat are handled in order (the second sees the first's cooldown); the
  same order asked from two chats in one batch is dispatched once.
* An event that fails does not take the batch down: the others finish, the failing one is
  recorded and retried, and only the job's own failure fails the job.
"""
from __future__ import annotations

import contextlib
import re

import pytest
from sqlalchemy import event as sa_event

from app.extensions import db
from app.jobs import pipeline, workspace_config
from app.jobs.events import process_event
from app.models import CommandLog, InboundEvent, OutboundMessage
from tests.conftest import BACKENDS
from tests.integration.pipeline_support import (ADMIN_CHAT, CUSTOMER_CHAT, GROUP_CHAT,
                                                REFILL_30, build_desk, days_ago, post_green,
                                                steps)

pytestmark = pytest.mark.skipif(
    not BACKENDS.database_url.startswith("postgresql"),
    reason="batches need SKIP LOCKED (PostgreSQL); on SQLite every job takes one event")

BOB_CHAT = "79007654321@c.us"
CAROL_CHAT = "79001112233@c.us"


@pytest.fixture
def desk(factory, fake_perfectpanel, fake_greenapi, redis_conn):
    for offset, user in enumerate(["alice", "alice", "bob", "carol", "alice", "bob"]):
        fake_perfectpanel.add_order(2274209 + offset, user=user, service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{88231 + offset}",
                                    created=days_ago(5))
    desk = build_desk(factory, fake_perfectpanel.url)
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    for name, chat in (("bob", BOB_CHAT), ("carol", CAROL_CHAT)):
        factory.identity(factory.linked_user(desk.workspace, username=name), desk.channel,
                         chat_id=chat)
    db.session.commit()
    workspace_config.forget()
    return desk


def queued_jobs(app) -> list[str]:
    return app.extensions["relaydesk_queues"]["pipeline"].job_ids


def unclaim(event_ids: list[int]) -> None:
    """Put events a test claimed (to look at the batch) back in the queue's state."""
    db.session.rollback()
    db.session.query(InboundEvent).filter(InboundEvent.id.in_(event_ids)).update(
        {"state": "pending", "lease_until": None})
    db.session.commit()


def log_of(event_id: int) -> CommandLog:
    db.session.expire_all()
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()


class StatementCounter:
    def __init__(self):
        self.count = 0
        self.seen: list[str] = []

    def __call__(self, *args):
        self.count += 1
        sql = next((a for a in args if isinstance(a, str)), "?")
        self.seen.append(" ".join(sql.split())[:60])


class CountingCursor:
    """The raw psycopg2 cursor app/jobs/bulk.py writes multi-row statements with."""

    def __init__(self, real, counter: StatementCounter):
        self._real, self._counter = real, counter

    def execute(self, *args, **kwargs):
        self._counter()
        return self._real.execute(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.fixture
def statements(app, monkeypatch):
    """Counts every statement sent: SQLAlchemy's and the raw multi-row ones."""
    from app.jobs import bulk

    counter = StatementCounter()
    engine = db.engine
    real_cursor = bulk._cursor
    monkeypatch.setattr(bulk, "_cursor", lambda: CountingCursor(real_cursor(), counter))
    real_autocommit = bulk.autocommit_cursor

    @contextlib.contextmanager
    def counted_autocommit():
        with real_autocommit() as cursor:
            yield CountingCursor(cursor, counter)

    monkeypatch.setattr(bulk, "autocommit_cursor", counted_autocommit)
    sa_event.listen(engine, "before_cursor_execute", counter)
    yield counter
    sa_event.remove(engine, "before_cursor_execute", counter)


def test_one_job_takes_the_waiting_events_and_drops_their_jobs(app, client, desk,
                                                                fake_greenapi):
    ids = [post_green(client, desk.channel, "2274209 refill")[0],
           post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0],
           post_green(client, desk.channel, "2274212 details", chat=CAROL_CHAT)[0]]
    assert [f"event-{i}" for i in ids] == queued_jobs(app)

    assert process_event(ids[0]) == "dispatched"

    db.session.expire_all()
    assert {e.state for e in db.session.query(InboundEvent)} == {"done"}
    assert [log_of(i).outcome for i in ids] == ["dispatched", "dispatched", "answered"]
    assert sorted(fake_greenapi.messages_to(GROUP_CHAT)) == ["EXT-88231 refill",
                                                             "EXT-88233 refill"]
    for chat in (CUSTOMER_CHAT, BOB_CHAT, CAROL_CHAT):
        assert len(fake_greenapi.messages_to(chat)) == 1
    # the taken events' jobs are gone; only the job that ran (called directly here) is left
    assert queued_jobs(app) == [f"event-{ids[0]}"]
    assert {m.state for m in db.session.query(OutboundMessage)} == {"sent"}


def test_a_batch_costs_far_fewer_statements_than_its_commands_alone(app, client, desk,
                                                                     statements):
    warm = post_green(client, desk.channel, "2274214 details", chat=BOB_CHAT)[0]
    process_event(warm)  # the workspace's configuration snapshot is loaded once, here
    (alone,) = post_green(client, desk.channel, "2274209 refill")
    statements.count = 0
    process_event(alone)
    one = statements.count

    chats = [CUSTOMER_CHAT, BOB_CHAT, CAROL_CHAT, CUSTOMER_CHAT]
    orders = ["2274210", "2274211", "2274212", "2274213"]
    ids = [post_green(client, desk.channel, f"{order} refill", chat=chat)[0]
           for order, chat in zip(orders[:3], chats[:3], strict=True)]
    statements.count, statements.seen = 0, []
    process_event(ids[0])
    three = statements.count

    assert [log_of(i).outcome for i in ids] == ["dispatched"] * 3
    print(f"statements: one command alone {one}, a batch of three {three}")
    # alone a command costs `one` statements; in a batch, what is left per command is its
    # dispatch's own mark (one autocommitted statement) and, here only, its linked user read
    # again after the first commit (this test session expires on commit; a worker's does not)
    assert three <= one + 2 * 2 < 3 * one / 2, (one, three)


def test_two_messages_of_one_chat_in_a_batch_are_handled_in_order(app, client, desk,
                                                                   fake_greenapi):
    first = post_green(client, desk.channel, "2274209 refill")[0]
    second = post_green(client, desk.channel, "2274209 refill")[0]

    process_event(first)

    assert log_of(first).outcome == "dispatched"
    assert log_of(second).outcome == "refused"
    (cooldown,) = steps(log_of(second), "cooldown")
    assert cooldown["claimed"] is False and cooldown["seconds_left"] > 0
    assert fake_greenapi.messages_to(GROUP_CHAT) == ["EXT-88231 refill"]


def test_one_order_asked_from_two_chats_in_one_batch_is_dispatched_once(app, client, desk,
                                                                         fake_greenapi):
    # the owner's admin chat and alice ask for the same refill: one wave, one claim statement
    admin = post_green(client, desk.channel, "2274209 refill", chat=ADMIN_CHAT)[0]
    alice = post_green(client, desk.channel, "2274209 refill")[0]

    process_event(admin)

    assert {log_of(admin).outcome, log_of(alice).outcome} == {"dispatched", "refused"}
    assert log_of(admin).outcome == "dispatched"  # the batch's first event claims first
    assert fake_greenapi.messages_to(GROUP_CHAT) == ["EXT-88231 refill"]
    (cooldown,) = steps(log_of(alice), "cooldown")
    assert cooldown["claimed"] is False


def break_parsing(monkeypatch, order_id: str) -> None:
    """Messages naming `order_id` make the run raise (a bug hit by one message only)."""
    real = pipeline.CommandRun._parse

    def parse(self):
        if order_id in (self.event.text or ""):
            raise RuntimeError("parser bug")
        return real(self)

    monkeypatch.setattr(pipeline.CommandRun, "_parse", parse)


def test_a_failing_event_does_not_take_the_batch_down(app, client, desk, fake_greenapi,
                                                      monkeypatch):
    break_parsing(monkeypatch, "2274211")
    ids = [post_green(client, desk.channel, "2274209 refill")[0],
           post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0],
           post_green(client, desk.channel, "2274212 refill", chat=CAROL_CHAT)[0]]

    assert process_event(ids[0]) == "dispatched"  # the job's own event went through

    db.session.expire_all()
    states = {e.id: e for e in db.session.query(InboundEvent)}
    assert states[ids[0]].state == states[ids[2]].state == "done"
    failed = states[ids[1]]
    assert failed.state == "pending" and "parser bug" in failed.last_error
    assert failed.lease_until is not None  # retried by the sweep after its back-off
    assert steps(log_of(ids[1]), "error")
    assert sorted(fake_greenapi.messages_to(GROUP_CHAT)) == ["EXT-88231 refill",
                                                             "EXT-88234 refill"]
    assert fake_greenapi.messages_to(BOB_CHAT) == []


def test_the_jobs_own_failure_still_fails_the_job(app, client, desk, fake_greenapi,
                                                  monkeypatch):
    break_parsing(monkeypatch, "2274209")
    own = post_green(client, desk.channel, "2274209 refill")[0]
    other = post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0]

    with pytest.raises(RuntimeError, match="parser bug"):
        process_event(own)

    db.session.expire_all()
    assert db.session.get(InboundEvent, own).state == "pending"
    assert db.session.get(InboundEvent, other).state == "done"
    assert fake_greenapi.messages_to(GROUP_CHAT) == ["EXT-88233 refill"]


def test_batch_size_one_takes_only_the_jobs_event(app, client, desk):
    app.config["PIPELINE_BATCH_SIZE"] = 1
    try:
        first = post_green(client, desk.channel, "2274209 refill")[0]
        second = post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0]
        process_event(first)
        db.session.expire_all()
        assert db.session.get(InboundEvent, first).state == "done"
        assert db.session.get(InboundEvent, second).state == "pending"
        assert f"event-{second}" in queued_jobs(app)
    finally:
        app.config["PIPELINE_BATCH_SIZE"] = 10


def test_the_panel_fetches_of_a_batch_overlap_and_are_logged(app, client, desk,
                                                             fake_perfectpanel):
    from app.models import ExternalCall

    fake_perfectpanel.latency = 0.5  # a slow panel: one after the other would take 1.5 s
    ids = [post_green(client, desk.channel, "2274209 refill")[0],
           post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0],
           post_green(client, desk.channel, "2274212 refill", chat=CAROL_CHAT)[0]]

    process_event(ids[0])

    assert [log_of(i).outcome for i in ids] == ["dispatched"] * 3
    # each request sat 0.5 s in the fake: all of them arrived before the first one was answered
    # (one after the other, they would arrive 0.5 s apart). Arrival times, not the job's wall
    # time, so a loaded machine does not decide.
    arrivals = sorted(r.timestamp for r in fake_perfectpanel.requests)
    assert len(arrivals) == 3 and arrivals[-1] - arrivals[0] < 0.5, arrivals
    # the fetches ran in other threads: their call log rows still went into the job's commit
    panel_calls = (db.session.query(ExternalCall)
                   .filter(ExternalCall.service.like("panel:%")).all())
    assert len(panel_calls) == 3 and all(c.duration_ms >= 500 for c in panel_calls)


@pytest.fixture
def slot_requests(monkeypatch):
    """Every rate-limit request (the list of rules asked for in one round trip to Redis)."""
    from app.integrations.ratelimit import RateLimiter

    asked: list[list[str]] = []
    real = RateLimiter.try_acquire

    def recording(self, rules):
        asked.append([key for key, _rate in rules])
        return real(self, rules)

    monkeypatch.setattr(RateLimiter, "try_acquire", recording)
    return asked


def test_a_batch_asks_once_for_the_rate_limit_slots_of_all_its_sends(app, client, desk,
                                                                     fake_greenapi,
                                                                     slot_requests):
    ids = [post_green(client, desk.channel, f"{order} refill", chat=chat)[0]
           for order, chat in (("2274209", CUSTOMER_CHAT), ("2274211", BOB_CHAT),
                               ("2274212", CAROL_CHAT))]
    process_event(ids[0])

    assert [log_of(i).outcome for i in ids] == ["dispatched"] * 3
    assert len(fake_greenapi.requests.filter("POST", "*/sendMessage/*")) == 6
    sends = [keys for keys in slot_requests if keys and keys[0].startswith("green:")]
    instance = f"green:{desk.channel.id_instance}"
    assert sends == [[instance] * 6]  # 3 dispatches + 3 replies, one request


def test_when_the_batch_would_wait_each_send_asks_for_itself(app, client, desk, fake_greenapi,
                                                             slot_requests, monkeypatch):
    from app.integrations.channels import greenapi
    from app.integrations.ratelimit import Rate

    # an instance allowed 3 sends at once, then 1/s: the batch's 4 sends never fit together, and
    # the fourth cannot slip through on time a loaded machine spent between the sends (at 10/s a
    # CI run once took 100 ms over the first three)
    monkeypatch.setattr(greenapi, "INSTANCE_RATE", Rate(1, 1.0, burst=3))
    ids = [post_green(client, desk.channel, f"{order} refill", chat=chat)[0]
           for order, chat in (("2274209", CUSTOMER_CHAT), ("2274211", BOB_CHAT))]

    process_event(ids[0])

    assert [log_of(i).outcome for i in ids] == ["dispatched"] * 2
    instance = f"green:{desk.channel.id_instance}"
    sends = [keys for keys in slot_requests if keys and keys[0] == instance]
    assert sends[0] == [instance] * 4  # refused as a whole: nothing taken
    # then each send for itself: three at once, the fourth after a wait (in-process: under
    # BLOCKING_WAIT), so at least one refused try before it
    assert all(keys == [instance] for keys in sends[1:]) and len(sends) >= 6
    assert len(fake_greenapi.requests.filter("POST", "*/sendMessage/*")) == 4
    db.session.expire_all()
    assert {m.state for m in db.session.query(OutboundMessage)} == {"sent"}


def test_commands_of_one_chat_share_a_wave_and_keep_their_order(app, client, desk,
                                                                fake_greenapi):
    from app.jobs.events import claim_batch, waves

    ids = [post_green(client, desk.channel, "2274209 refill")[0],
           post_green(client, desk.channel, "2274211 refill", chat=BOB_CHAT)[0],
           post_green(client, desk.channel, "2274210 refill")[0],
           post_green(client, desk.channel, "2274209 refill")[0]]  # asked again: cooldown
    assert [[e.id for e in wave] for wave in waves(claim_batch(ids[0]))] == [ids]
    unclaim(ids)

    process_event(ids[0])

    assert [log_of(i).outcome for i in ids] == ["dispatched", "dispatched", "dispatched",
                                                "refused"]
    assert sorted(fake_greenapi.messages_to(GROUP_CHAT)) == [
        "EXT-88231 refill", "EXT-88232 refill", "EXT-88233 refill"]
    # alice's three replies, in the order she asked
    replies = fake_greenapi.messages_to(CUSTOMER_CHAT)
    assert len(replies) == 3
    assert "2274209" in replies[0] and "2274210" in replies[1] and "2274209" in replies[2]


def test_a_verify_is_committed_before_the_next_message_of_its_chat_is_read(
        app, client, desk, fake_greenapi, fake_perfectpanel):
    from app.jobs.events import claim_batch, waves
    from tests.integration.pipeline_support import STRANGER_CHAT, send

    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    (ticket,) = fake_perfectpanel.tickets.values()
    code = re.search(r"\b(\d{6})\b", ticket["messages"][0]["message"]).group(1)
    ids = [post_green(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)[0],
           post_green(client, desk.channel, "2274212 refill", chat=STRANGER_CHAT)[0],
           post_green(client, desk.channel, "2274212 details", chat=STRANGER_CHAT)[0]]
    # the verify first, alone; the two commands after it together
    assert [[e.id for e in wave] for wave in waves(claim_batch(ids[0]))] == [
        ids[:1], ids[1:]]
    unclaim(ids)

    process_event(ids[0])

    # carol's order, asked from the chat the verify had just linked to her
    assert [log_of(i).outcome for i in ids] == ["answered", "dispatched", "answered"]
    assert fake_greenapi.messages_to(GROUP_CHAT) == ["EXT-88234 refill"]


def test_a_batch_sends_to_different_chats_side_by_side(app, client, desk, fake_greenapi,
                                                        monkeypatch):
    from sqlalchemy import func, select

    from app.jobs import outbound

    import time

    ids = [post_green(client, desk.channel, f"{order} refill", chat=chat)[0]
           for order, chat in (("2274209", CUSTOMER_CHAT), ("2274211", BOB_CHAT),
                               ("2274212", CAROL_CHAT))]
    fake_greenapi.latency = 0.3  # every send takes 0.3 s
    seen_sent = []  # before each dispatch: how many dispatches others can already see sent
    real_transmit = outbound._transmit

    def transmit(item, client):
        if item.purpose == "dispatch":
            with db.engine.connect() as other:  # a connection of its own: committed rows only
                seen_sent.append(other.execute(
                    select(func.count()).select_from(OutboundMessage)
                    .where(OutboundMessage.purpose == "dispatch",
                           OutboundMessage.state == "sent")).scalar())
        return real_transmit(item, client)

    monkeypatch.setattr(outbound, "_transmit", transmit)
    started = time.monotonic()
    process_event(ids[0])
    took = time.monotonic() - started

    assert [log_of(i).outcome for i in ids] == ["dispatched"] * 3
    # one after the other, the 6 sends would take 1.8 s; side by side, the provider group's
    # three dispatches (in order, one chat) set the pace: 0.9 s
    assert took < 1.5, took
    assert fake_greenapi.messages_to(GROUP_CHAT) == ["EXT-88231 refill", "EXT-88233 refill",
                                                     "EXT-88234 refill"]
    db.session.expire_all()
    dispatches = (db.session.query(OutboundMessage).filter_by(purpose="dispatch")
                  .order_by(OutboundMessage.id).all())
    assert {m.state for m in db.session.query(OutboundMessage)} == {"sent"}
    # each dispatch was marked sent as soon as its own answer came, not with its chat's last
    gaps = [(b.sent_at - a.sent_at).total_seconds()
            for a, b in zip(dispatches, dispatches[1:], strict=False)]
    assert all(gap > 0.2 for gap in gaps), gaps
    # ... and committed then, while the group's next ones were on their way: the third found
    # at least the first one sent (the job's thread marks it while the send thread goes on)
    assert seen_sent[0] == 0 and seen_sent[2] >= 1, seen_sent


def test_a_batch_merges_the_fetches_one_call_can_serve(app, factory, fake_perfectpanel,
                                                       fake_rentalpanel):
    """Fetches of one customer on a Perfect Panel share its `GET /orders?user=` page; every
    fetch of a Rental Panel shares one `getOrders-by-id`; each run gets only its own ids."""
    from app.integrations.panels.registry import adapter_for
    from app.jobs.drivers import fetch_all
    from app.jobs.pipeline import NeedFetch

    for number, user in ((3000001, "dora"), (3000002, "dora"), (3000003, "eve")):
        fake_perfectpanel.add_order(number, user=user, service_name=REFILL_30,
                                    external_id=f"EXT-{number}", created=days_ago(2))
        fake_rentalpanel.add_order(number, username=user, service=REFILL_30)
    perfect = adapter_for(factory.panel(
        factory.workspace("north"), panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
        api_key="pp-admin-key", requests_per_second=200.0))
    before = len(fake_perfectpanel.requests)
    answers = fetch_all([NeedFetch(perfect, ["3000001"], "dora", chat="1:a"),
                         NeedFetch(perfect, ["3000002", "3999999"], "dora", chat="1:b"),
                         NeedFetch(perfect, ["3000003"], "eve", chat="1:c")])
    assert [sorted(r.orders) for r, _e, _ms in answers] == [["3000001"], ["3000002"],
                                                             ["3000003"]]
    assert [r.missing for r, _e, _ms in answers] == [[], ["3999999"], []]
    assert [r.coalesced for r, _e, _ms in answers] == [2, 2, 1]
    paths = [r.path for r in fake_perfectpanel.requests[before:]]
    # dora: one list page, then the unknown id alone; eve: her one order
    assert sorted(paths) == sorted(["/adminapi/v2/orders", "/adminapi/v2/orders/3999999",
                                    "/adminapi/v2/orders/3000003"]), paths

    rental = adapter_for(factory.panel(
        factory.workspace("south"), panel_type="rentalpanel_v1", url=fake_rentalpanel.url,
        api_key="rp-admin-key", requests_per_second=200.0))
    before = len(fake_rentalpanel.requests)
    answers = fetch_all([NeedFetch(rental, ["3000001"], "dora"),
                         NeedFetch(rental, ["3000003"], "eve")])
    assert [sorted(r.orders) for r, _e, _ms in answers] == [["3000001"], ["3000003"]]
    assert len(fake_rentalpanel.requests) - before == 1


def test_a_command_that_cannot_be_read_early_only_splits_its_chat(app, client, desk,
                                                                  fake_greenapi, monkeypatch):
    """Deciding the waves reads the commands; if that fails (the configuration cannot be
    loaded, say), the chat's events simply take one wave each, as before."""
    from app.jobs.events import claim_batch, waves

    ids = [post_green(client, desk.channel, "2274209 refill")[0],
           post_green(client, desk.channel, "2274210 refill")[0]]

    def broken(event):
        raise RuntimeError("database went away")

    monkeypatch.setattr(pipeline, "changes_identity", broken)
    assert [[e.id for e in wave] for wave in waves(claim_batch(ids[0]))] == [ids[:1], ids[1:]]
    unclaim(ids)

    process_event(ids[0])
    assert [log_of(i).outcome for i in ids] == ["dispatched", "dispatched"]
