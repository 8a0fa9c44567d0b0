"""Group commit of webhook rows (app/webhooks/groupcommit.py, persist_group.PostgresIngest).

First the leader/follower mechanics on their own (no database): one batch for the requests that
arrive while a flush runs, each with its own outcome, and no request left waiting whatever
happens. Then through the app on PostgreSQL, with the first batch held open so that the
requests sent meanwhile are written together: every request gets its own right answer (new,
duplicate inside the batch, channel deleted meanwhile, a row the database refuses), a lost
connection is replaced, and a database that cannot be reached answers 503 + Retry-After to
every request of the batch and stores nothing (nothing was acknowledged). Last, the path without
group commit (SQLite, or WEBHOOK_GROUP_COMMIT off) answers 503 the same way.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
from rq import Queue
from sqlalchemy import delete, text
from sqlalchemy import exc as sa_exc

from app.extensions import db
from app.models import Channel, InboundEvent
from app.jobs import queues
from app import store
from app.webhooks import persist_group
from app.webhooks.channels import channel_cache
from app.webhooks.groupcommit import BatchFailed, GroupCommit
from tests.conftest import BACKENDS
from tests.fakes import greenapi as green
from tests.fakes import telegram as tg
from tests.integration.webhook_support import delete_all_rows

ON_POSTGRES = BACKENDS.database_url.startswith("postgresql")


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Overrides the suite's TRUNCATE clean-up with a faster DELETE (see delete_all_rows)."""
    yield
    delete_all_rows(app)


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.002)


def in_threads(*calls) -> list[threading.Thread]:
    threads = [threading.Thread(target=call, daemon=True) for call in calls]
    for thread in threads:
        thread.start()
    return threads


def join(threads) -> None:
    for thread in threads:
        thread.join(15)
        assert not thread.is_alive(), "a request is still waiting"


# --- the mechanism alone ----------------------------------------------------------------------

class HeldFlush:
    """A flush that holds its first batch until `release()`; records every batch."""

    def __init__(self, outcome=lambda item: None):
        self.batches: list[list] = []
        self.entered, self.opened = threading.Event(), threading.Event()
        self.outcome = outcome

    def __call__(self, items):
        self.batches.append(list(items))
        if len(self.batches) == 1:
            self.entered.set()
            assert self.opened.wait(10)
        return [self.outcome(item) for item in items], list(items)

    def release(self):
        self.opened.set()


def test_a_thread_alone_is_its_own_leader():
    flushed, after = [], []
    group = GroupCommit(lambda items: (flushed.append(items) or [None] * len(items), items),
                        after=lambda extra, more_coming: after.append((extra, more_coming)))
    group.submit("a")
    group.submit("b")
    assert flushed == [["a"], ["b"]] and after == [(["a"], False), (["b"], False)]
    assert (group.batches, group.items) == (2, 2)


def test_requests_arriving_during_a_flush_share_the_next_batch_each_with_its_outcome():
    flush = HeldFlush(lambda item: ValueError(item) if item == "refused" else None)
    group = GroupCommit(flush)
    answers: dict[str, str] = {}

    def submit(item):
        def run():
            try:
                group.submit(item)
                answers[item] = "ok"
            except ValueError:
                answers[item] = "refused"
        return run

    first = in_threads(submit("first"))
    assert flush.entered.wait(5)
    others = in_threads(*(submit(item) for item in ("a", "b", "refused", "c")))
    wait_until(lambda: len(group._waiting) == 4)
    flush.release()
    join(first + others)
    assert flush.batches[0] == ["first"]
    assert sorted(flush.batches[1]) == ["a", "b", "c", "refused"] and len(flush.batches) == 2
    assert answers == {"first": "ok", "a": "ok", "b": "ok", "c": "ok", "refused": "refused"}


def test_the_followers_have_their_answer_before_the_leader_runs_after():
    flush = HeldFlush()
    follower_done = threading.Event()
    seen_by_after = []

    def after(items, _more_coming):
        if "follower" in items:
            seen_by_after.append(follower_done.wait(5))  # woken before the enqueue

    group = GroupCommit(flush, after=after)
    leader = in_threads(lambda: group.submit("first"))
    assert flush.entered.wait(5)

    def follower():
        group.submit("follower")
        follower_done.set()

    second = in_threads(lambda: group.submit("leader of the second batch"))
    wait_until(lambda: len(group._waiting) == 1)
    second += in_threads(follower)
    wait_until(lambda: len(group._waiting) == 2)
    flush.release()
    join(leader + second)
    assert seen_by_after == [True]


def test_a_flush_that_raises_fails_every_request_of_its_batch_and_nobody_hangs():
    def flush(items):
        raise RuntimeError("bug")

    group = GroupCommit(flush)
    with pytest.raises(BatchFailed):
        group.submit("x")
    group._flush = lambda items: ([None] * len(items), None)
    group.submit("y")  # the next batch is led normally


def test_a_follower_gives_up_after_its_timeout_and_the_group_goes_on():
    flush = HeldFlush()
    group = GroupCommit(flush, wait_timeout=0.2)
    leader = in_threads(lambda: group.submit("held"))
    assert flush.entered.wait(5)
    with pytest.raises(TimeoutError):
        group.submit("impatient")  # queued behind the held batch, never taken
    assert group._waiting == []
    flush.release()
    join(leader)
    group.submit("later")
    assert flush.batches == [["held"], ["later"]]


# --- through the app, on PostgreSQL -----------------------------------------------------------

# Group commit exists only on PostgreSQL (SQLite stores each webhook inline, tested above and
# in test_webhooks.py); CI runs on PostgreSQL (RELAYDESK_TEST_BACKENDS=real), where these run.
needs_postgres = pytest.mark.skipif(
    not ON_POSTGRES, reason="group commit is PostgreSQL-only; SQLite stores webhooks inline")


@pytest.fixture
def writer(app):
    with app.app_context():
        writer = persist_group.ingest_writer()
    assert writer is not None
    return writer


@pytest.fixture
def held(writer, monkeypatch):
    """Once armed (one_batch), the writer's next batch waits in its flush until released."""
    real = writer.group._flush
    state = HeldFlush()
    state.armed = False

    def flush(items):
        if state.armed:
            state.batches.append(len(items))
            if len(state.batches) == 1:
                state.entered.set()
                assert state.opened.wait(10)
        return real(items)

    monkeypatch.setattr(writer.group, "_flush", flush)
    return state


def poster(app, url, body, headers, answers, key):
    def run():
        response = app.test_client().post(url, data=body, headers=headers)
        answers[key] = (response.status_code, response.headers.get("Retry-After"))
    return run


def green_post(app, channel, payload, answers, key):
    return poster(app, "/webhooks/greenapi", json.dumps(payload),
                  green.webhook_headers(channel.webhook_token), answers, key)


def tg_post(app, channel, update, answers, key):
    return poster(app, f"/webhooks/telegram/{channel.bot_id}", json.dumps(update),
                  tg.webhook_headers(channel.secret_token), answers, key)


def one_batch(writer, held, first, batch):
    """Send `first`, hold its flush, send `batch` (which queues up behind it), release."""
    before = (writer.group.batches, writer.group.items)
    held.armed = True
    threads = in_threads(first)
    assert held.entered.wait(10)
    threads += in_threads(*batch)
    wait_until(lambda: len(writer.group._waiting) == len(batch))
    held.release()
    join(threads)
    return writer.group.batches - before[0], writer.group.items - before[1]


def stored() -> list[InboundEvent]:
    db.session.expire_all()
    return db.session.query(InboundEvent).order_by(InboundEvent.id).all()


def message(channel, text, chat="79001234567@c.us"):
    return green.incoming_message(chat, text, id_instance=channel.id_instance)


@needs_postgres
def test_concurrent_requests_are_one_insert_and_each_gets_the_right_answer(
        app, factory, writer, held, redis_conn):
    workspace = factory.workspace("batch")
    channel = factory.channel(workspace, kind="greenapi")
    bot = factory.channel(workspace, kind="telegram")
    first, second, third = (message(channel, t) for t in ("first", "second", "third"))
    answers: dict = {}
    batches, items = one_batch(writer, held, green_post(app, channel, first, answers, "first"), [
        green_post(app, channel, second, answers, "second"),
        green_post(app, channel, second, answers, "second again"),  # a duplicate in the batch
        green_post(app, channel, third, answers, "third"),
        tg_post(app, bot, tg.message_update("telegram"), answers, "telegram")])
    assert (batches, items) == (2, 5) and held.batches == [1, 4]
    assert answers == {key: (200, None) for key in
                       ("first", "second", "second again", "third", "telegram")}
    events = stored()
    assert sorted(e.text for e in events) == ["first", "second", "telegram", "third"]
    assert sorted(Queue("pipeline", connection=redis_conn).job_ids) == sorted(
        f"event-{e.id}" for e in events)  # exactly one job per new row, none for the duplicate


@needs_postgres
def test_a_channel_deleted_meanwhile_refuses_only_its_own_request(app, factory, writer, held,
                                                                   redis_conn):
    workspace = factory.workspace("stale")
    kept = factory.channel(workspace, kind="greenapi")
    gone = factory.channel(workspace, kind="greenapi")
    client = app.test_client()
    for channel in (kept, gone):  # both are in this process's channel cache now
        assert client.post("/webhooks/greenapi", data=json.dumps(message(channel, "cache")),
                           headers=green.webhook_headers(channel.webhook_token)).status_code == 200
    db.session.execute(delete(Channel).where(Channel.id == gone.id))  # Core: the cache keeps it
    db.session.commit()
    answers: dict = {}
    one_batch(writer, held, green_post(app, kept, message(kept, "one"), answers, "one"), [
        green_post(app, gone, message(gone, "to the deleted channel"), answers, "gone"),
        green_post(app, kept, message(kept, "two"), answers, "two")])
    assert answers == {"one": (200, None), "gone": (403, None), "two": (200, None)}
    assert sorted(e.text for e in stored()) == ["cache", "one", "two"]


@needs_postgres
def test_a_row_the_database_refuses_fails_only_its_own_request(app, factory, writer, held,
                                                                monkeypatch, redis_conn):
    channel = factory.channel(factory.workspace("poison"), kind="greenapi")
    rows_of = store.event_rows

    def poisoned(channel, platform, events, now=None):  # violates the CHECK on `kind`
        rows = rows_of(channel, platform, events, now)
        return [dict(row, kind="bogus") if row["text"] == "poison" else row for row in rows]

    monkeypatch.setattr("app.webhooks.greenapi.event_rows", poisoned)
    answers: dict = {}
    one_batch(writer, held, green_post(app, channel, message(channel, "one"), answers, "one"), [
        green_post(app, channel, message(channel, "poison"), answers, "poison"),
        green_post(app, channel, message(channel, "two"), answers, "two")])
    assert answers == {"one": (200, None), "poison": (503, "5"), "two": (200, None)}
    events = stored()
    assert sorted(e.text for e in events) == ["one", "two"]
    assert sorted(Queue("pipeline", connection=redis_conn).job_ids) == sorted(
        f"event-{e.id}" for e in events)


def terminate(writer) -> None:
    """Kill the writer's server process, as a restart or a network cut would."""
    pid = writer._connection.get_backend_pid()
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()
    wait_until(lambda: not _backend_alive(pid))


def _backend_alive(pid: int) -> bool:
    with db.engine.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"),
                                 {"pid": pid}).scalar())


@needs_postgres
def test_a_lost_connection_is_replaced_and_the_webhook_still_stored(app, client, factory,
                                                                     writer):
    channel = factory.channel(factory.workspace("reconnect"), kind="greenapi")
    headers = green.webhook_headers(channel.webhook_token)
    assert client.post("/webhooks/greenapi", data=json.dumps(message(channel, "before")),
                       headers=headers).status_code == 200
    with app.app_context():
        terminate(writer)
    assert client.post("/webhooks/greenapi", data=json.dumps(message(channel, "after")),
                       headers=headers).status_code == 200
    assert [e.text for e in stored()] == ["before", "after"]


@needs_postgres
def test_database_down_answers_503_to_the_whole_batch_and_stores_nothing(
        app, factory, writer, held, monkeypatch, redis_conn):
    channel = factory.channel(factory.workspace("down"), kind="greenapi")
    client = app.test_client()
    assert client.post("/webhooks/greenapi", data=json.dumps(message(channel, "warm")),
                       headers=green.webhook_headers(channel.webhook_token)).status_code == 200
    with app.app_context():
        terminate(writer)

    def unreachable():
        raise sa_exc.OperationalError("connect", {}, Exception("connection refused"))

    monkeypatch.setattr(writer.engine, "raw_connection", unreachable)
    answers: dict = {}
    one_batch(writer, held, green_post(app, channel, message(channel, "a"), answers, "a"), [
        green_post(app, channel, message(channel, "b"), answers, "b"),
        green_post(app, channel, message(channel, "c"), answers, "c")])
    assert answers == {key: (503, "5") for key in "abc"}
    assert [e.text for e in stored()] == ["warm"]
    assert len(Queue("pipeline", connection=redis_conn).job_ids) == 1

    monkeypatch.undo()  # the database is back: the platform's next delivery is stored
    assert client.post("/webhooks/greenapi", data=json.dumps(message(channel, "a")),
                       headers=green.webhook_headers(channel.webhook_token)).status_code == 200
    assert [e.text for e in stored()] == ["warm", "a"]


def test_a_forked_process_makes_its_own_writer_and_never_closes_the_inherited_one(app,
                                                                                  monkeypatch):
    closed = []

    class Inherited:
        group = None

        def close(self):
            closed.append(True)

    inherited = Inherited()
    monkeypatch.setitem(app.extensions, "relaydesk_ingest", (-1, inherited))  # "the parent's"
    with app.app_context():
        writer = persist_group.ingest_writer()
        assert writer is not inherited
        assert app.extensions["relaydesk_ingest"][0] == persist_group.os.getpid()
        assert persist_group.ingest_writer() is writer  # one per process
    assert inherited in persist_group._INHERITED and closed == []
    persist_group._INHERITED.remove(inherited)
    if writer is not None:
        writer.close()


@needs_postgres
def test_closing_the_writer_releases_its_connection_and_the_next_webhook_opens_one(
        app, client, factory, writer):
    channel = factory.channel(factory.workspace("close"), kind="telegram")
    url, headers = f"/webhooks/telegram/{channel.bot_id}", tg.webhook_headers(channel.secret_token)
    assert client.post(url, data=json.dumps(tg.message_update("one")),
                       headers=headers).status_code == 200
    connection = writer._connection
    persist_group.close_ingest_writer(app)
    assert connection.closed
    assert client.post(url, data=json.dumps(tg.message_update("two")),
                       headers=headers).status_code == 200
    assert [e.text for e in stored()] == ["one", "two"]


# --- without group commit (SQLite, or WEBHOOK_GROUP_COMMIT off) ------------------------------

@pytest.fixture
def inline(app, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_GROUP_COMMIT", False)
    monkeypatch.delitem(app.extensions, "relaydesk_ingest", raising=False)
    return app


def test_without_group_commit_a_failed_commit_answers_503_and_stores_nothing(
        inline, client, factory, monkeypatch, redis_conn):
    channel = factory.channel(factory.workspace("inline"), kind="telegram")
    url, headers = f"/webhooks/telegram/{channel.bot_id}", tg.webhook_headers(channel.secret_token)
    assert client.post(url, data=json.dumps(tg.message_update("stored")),
                       headers=headers).status_code == 200
    with inline.app_context():
        assert inline.extensions["relaydesk_ingest"][1] is None  # the session path

    def commit_fails():
        raise sa_exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(db.session, "commit", commit_fails)
    response = client.post(url, data=json.dumps(tg.message_update("lost")), headers=headers)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    monkeypatch.undo()
    assert [e.text for e in stored()] == ["stored"]
    assert len(Queue("pipeline", connection=redis_conn).job_ids) == 1


def test_database_unreachable_at_the_channel_lookup_answers_503(client, factory, monkeypatch):
    channel = factory.channel(factory.workspace("lookup"), kind="greenapi")
    channel_cache.clear()

    def unreachable(_id_instance):
        raise sa_exc.OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr("app.webhooks.greenapi._load", unreachable)
    response = client.post("/webhooks/greenapi", data=json.dumps(message(channel, "x")),
                           headers=green.webhook_headers(channel.webhook_token))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.get_json() == {"ok": False, "error": "temporarily unavailable"}


@needs_postgres
def test_a_batch_leaves_its_jobs_to_the_batch_right_behind_it(app, factory, writer, held,
                                                               monkeypatch, redis_conn):
    channel = factory.channel(factory.workspace("defer"), kind="greenapi")
    calls = []
    real = queues.enqueue_events

    def recording(ids):
        calls.append(sorted(ids))
        return real(ids)

    monkeypatch.setattr(queues, "enqueue_events", recording)
    answers: dict = {}
    one_batch(writer, held, green_post(app, channel, message(channel, "1"), answers, "1"), [
        green_post(app, channel, message(channel, "2"), answers, "2"),
        green_post(app, channel, message(channel, "3"), answers, "3")])
    assert answers == {key: (200, None) for key in "123"}
    events = stored()
    assert calls == [sorted(e.id for e in events)]  # one round trip for both batches
    assert sorted(Queue("pipeline", connection=redis_conn).job_ids) == sorted(
        f"event-{e.id}" for e in events)


def test_jobs_are_what_rq_enqueue_writes(app, redis_conn):
    """enqueue_events writes each job with RQ's own create_job/save and pushes all the ids at
    once: the stored job must be the one Queue.enqueue would have written."""
    queue = app.extensions["relaydesk_queues"]["pipeline"]
    with app.app_context():
        assert queues.enqueue_events([101, 102]) == 2
    queue.enqueue(queues.PROCESS_EVENT, 103, job_id="event-103", result_ttl=300,
                  failure_ttl=86400, description=f"{queues.PROCESS_EVENT}(103)")
    assert queue.job_ids == ["event-101", "event-102", "event-103"]
    assert queue.key.encode() in redis_conn.smembers("rq:queues")

    def stored_job(job_id):
        fields = redis_conn.hgetall(f"rq:job:{job_id}")
        for moment in (b"created_at", b"enqueued_at"):
            assert fields.pop(moment)
        return fields

    ours, theirs = stored_job("event-102"), stored_job("event-103")
    assert ours.pop(b"description") == b"app.jobs.events.process_event(102)"
    assert theirs.pop(b"description") == b"app.jobs.events.process_event(103)"
    assert queue.fetch_job("event-102").args == (102,)
    ours.pop(b"data"), theirs.pop(b"data")
    assert ours == theirs
    assert redis_conn.ttl("rq:job:event-102") == redis_conn.ttl("rq:job:event-103") == -1


def test_webhooks_neither_read_nor_write_a_browser_session(app, client, factory):
    from flask.sessions import SecureCookieSessionInterface

    assert isinstance(app.session_interface, SecureCookieSessionInterface)  # the rest of the app
    channel = factory.channel(factory.workspace("no-session"), kind="telegram")
    client.set_cookie(app.config.get("SESSION_COOKIE_NAME", "session"), "not-even-signed")
    response = client.post(f"/webhooks/telegram/{channel.bot_id}",
                           data=json.dumps(tg.message_update("hello")),
                           headers=tg.webhook_headers(channel.secret_token))
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    from flask import request

    with app.test_request_context("/webhooks/greenapi", method="POST",
                                  headers={"Cookie": "session=not-even-signed"}):
        session = app.session_interface.open_session(app, request)
        assert dict(session) == {}
        session["written"] = "by a hook"  # allowed, and thrown away
