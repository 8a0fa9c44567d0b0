"""Outbound sending against the faithful fakes (docs/contracts.md "Outbound calls",
docs/external-apis.md 2-4).

Outbound: 429 and backoff honoured, long text split, permanent errors not retried, no duplicate
send after a retry.

`send_outbound(id)` is called directly (no worker): a retry it schedules with `enqueue_in` is
checked on the row (`state`, `next_attempt_at`) and in RQ's scheduled registry, then run by
moving `next_attempt_at` into the past and calling `send_outbound` again. Rate limits live in
the test run's own Redis database (flushed around every test by `redis_conn`).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import current_app
from redis import Redis
from rq.registry import ScheduledJobRegistry

import app.integrations.channels.greenapi as green_module
import app.integrations.channels.meta as meta_module
import app.integrations.channels.telegram as telegram_module
from app.extensions import db
from app.integrations.channels import client_for, split_text
from app.integrations.ratelimit import Rate, RateLimiter
from app.jobs import outbound, queues
from app.jobs.outbound import MAX_ATTEMPTS, backoff_seconds, claim, queue_message, send_outbound
from app.models import Channel, ExternalCall, OutboundMessage
from app.models.base import utcnow


# --- per-platform set-up ---------------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    kind: str
    fake_fixture: str
    chat_id: str
    limit: int
    send_path: str  # fnmatch glob of the send call on the fake
    module: Any


PLATFORMS = {
    "greenapi": Platform("greenapi", "fake_greenapi", "79001234567@c.us", 4000,
                         "*/sendMessage/*", green_module),
    "telegram": Platform("telegram", "fake_telegram", "123456789", 4096, "*/sendMessage",
                         telegram_module),
    "meta": Platform("meta", "fake_meta", "79001234567", 4096, "*/messages", meta_module),
}


@dataclass
class Setup:
    platform: Platform
    fake: Any
    channel: Channel

    @property
    def kind(self) -> str:
        return self.platform.kind

    def sent(self) -> list[str]:
        """Texts the fake accepted, in order."""
        if self.kind == "greenapi":
            return [m["message"] for m in self.fake.sent]
        if self.kind == "telegram":
            return [m["text"] for m in self.fake.sent]
        return [m["text"]["body"] for m in self.fake.sent]

    def send_calls(self) -> int:
        return self.fake.count("POST", self.platform.send_path)

    def queue(self, text: str, key: str | None = None, chat_id: str | None = None) -> int:
        return queue_message(self.channel, chat_id or self.platform.chat_id, text,
                             key or f"key-{time.monotonic_ns()}", enqueue=False)

    def secrets(self) -> list[str]:
        ch = self.channel
        return [s for s in (ch.api_token, ch.webhook_token, ch.bot_token, ch.secret_token,
                            ch.access_token, ch.app_secret) if s]


def make_channel(factory, workspace, kind: str, fake) -> Channel:
    if kind == "greenapi":
        return factory.channel(workspace, kind="greenapi", api_url=fake.url,
                               id_instance=fake.id_instance, api_token=fake.api_token)
    if kind == "telegram":
        return factory.channel(workspace, kind="telegram", bot_token=fake.token,
                               api_base=fake.url)
    return factory.channel(workspace, kind="meta", phone_number_id=fake.phone_number_id,
                           access_token=fake.access_token, app_secret="meta-app-secret-1")


def build(request, app, factory, monkeypatch, kind: str) -> Setup:
    platform = PLATFORMS[kind]
    fake = request.getfixturevalue(platform.fake_fixture)
    if kind == "meta":
        monkeypatch.setitem(app.config, "META_GRAPH_URL", fake.url)  # restored after the test
    workspace = factory.workspace(f"ws-{kind}")
    return Setup(platform, fake, make_channel(factory, workspace, kind, fake))


@pytest.fixture(params=list(PLATFORMS))
def setup(request, app, factory, redis_conn, monkeypatch) -> Setup:
    return build(request, app, factory, monkeypatch, request.param)


@pytest.fixture
def green(request, app, factory, redis_conn, monkeypatch) -> Setup:
    return build(request, app, factory, monkeypatch, "greenapi")


@pytest.fixture
def telegram(request, app, factory, redis_conn, monkeypatch) -> Setup:
    return build(request, app, factory, monkeypatch, "telegram")


@pytest.fixture
def meta(request, app, factory, redis_conn, monkeypatch) -> Setup:
    return build(request, app, factory, monkeypatch, "meta")


def row(outbound_id: int) -> OutboundMessage:
    db.session.expire_all()
    return db.session.get(OutboundMessage, outbound_id)


def make_due(outbound_id: int) -> None:
    """What the RQ scheduler does once the delay passed: the retry becomes due."""
    message = row(outbound_id)
    message.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def scheduled_retries(app) -> dict[str, Any]:
    registry = ScheduledJobRegistry(queue=app.extensions["relaydesk_queues"]["default"])
    return {job_id: registry.get_scheduled_time(job_id) for job_id in registry.get_job_ids()}


def assert_retry_scheduled(app, outbound_id: int, before, at_least: float) -> OutboundMessage:
    """The row waits at least `at_least` seconds and a delayed job is scheduled no earlier."""
    message = row(outbound_id)
    assert message.state == "retrying", (message.state, message.last_error)
    assert message.next_attempt_at >= before + timedelta(seconds=at_least), \
        (message.next_attempt_at - before, at_least)
    jobs = {k: v for k, v in scheduled_retries(app).items() if k.startswith(f"send-{outbound_id}-")}
    assert len(jobs) == 1, jobs
    scheduled = next(iter(jobs.values())).replace(tzinfo=None)
    # RQ keeps whole seconds: allow the truncation, nothing more
    assert scheduled >= before + timedelta(seconds=at_least - 1), (scheduled - before, at_least)
    return message


def long_text(n_chars: int) -> str:
    words, size, i = [], 0, 0
    while size < n_chars:
        word = f"word{i}" + ("." if i % 13 == 12 else "")
        words.append(word)
        size += len(word) + 1
        i += 1
        if i % 150 == 0:
            words.append("\n\n")
    return " ".join(words)


def small_timeout(monkeypatch, module, seconds: float = 0.5) -> None:
    real = module.call
    monkeypatch.setattr(module, "call", lambda *a, **kw: real(*a, **{**kw, "timeout": seconds}))


def fail_nth_send(setup: Setup, n: int, status: int = 500) -> None:
    """The n-th send request from now fails with `status`; the ones before it succeed."""
    seen = []
    fake = setup.fake

    def answer(req):
        seen.append(req)
        if len(seen) == n:
            return fake.error_reply(status)
        return fake._dispatch(req)

    fake.override("POST", setup.platform.send_path, answer, times=n)


# --- the happy path and the log ----------------------------------------------------------------

def test_send_reaches_the_platform_and_records_the_message_id(setup):
    outbound_id = setup.queue("Order 2274209: refill requested")
    assert send_outbound(outbound_id) == "sent"
    message = row(outbound_id)
    assert setup.sent() == ["Order 2274209: refill requested"]
    assert message.state == "sent" and message.parts_sent == message.parts_total == 1
    assert message.attempts == 1 and message.sent_at is not None
    assert message.platform_message_id and message.platform_message_ids == [
        message.platform_message_id]
    assert message.delivery_status == "sent"


def test_external_calls_are_logged_without_secrets(setup):
    setup.fake.fail_next(1, 500, path=setup.platform.send_path)
    outbound_id = setup.queue("hello there")
    send_outbound(outbound_id)
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    client_for(setup.channel).test_connection()
    calls = (db.session.query(ExternalCall).filter_by(channel_id=setup.channel.id)
             .order_by(ExternalCall.id).all())  # the send comes before test_connection's calls
    assert len(calls) >= 3
    outcomes = [c.outcome for c in calls]
    assert "ok" in outcomes and "transient" in outcomes
    secrets = setup.secrets()
    assert secrets
    for call in calls:
        assert call.service == setup.kind and call.workspace_id == setup.channel.workspace_id
        assert call.duration_ms >= 0
        for text in (call.url, call.request_body, call.response_body, call.error):
            for secret in secrets:
                assert secret not in (text or ""), (call.operation, secret)
    send = next(c for c in calls if c.outcome == "ok" and c.method == "POST")
    assert "hello there" in send.request_body  # the request itself is logged, only redacted
    if setup.kind in ("greenapi", "telegram"):  # their tokens travel in the URL path
        assert "****" in send.url


# --- long texts ---------------------------------------------------------------------------------

def test_long_text_is_split_and_sent_in_order(setup):
    text = long_text(setup.platform.limit * 2 + 500)
    expected = split_text(text, setup.platform.limit)
    assert len(expected) == 3
    outbound_id = setup.queue(text)
    assert send_outbound(outbound_id) == "sent"
    sent = setup.sent()
    assert sent == expected
    assert all(0 < len(part) <= setup.platform.limit for part in sent)
    assert " ".join(sent).split() == text.split()  # nothing lost, nothing reordered
    message = row(outbound_id)
    assert message.parts_total == message.parts_sent == 3
    assert len(message.platform_message_ids) == 3
    assert len(set(message.platform_message_ids)) == 3
    assert message.platform_message_id == message.platform_message_ids[-1]


def test_split_text_respects_each_limit_and_breaks_naturally():
    for limit in (4000, 4096):
        text = long_text(limit * 3)
        parts = split_text(text, limit)
        assert all(len(p) <= limit for p in parts)
        assert " ".join(parts).split() == text.split()
    # no break anywhere: cut hard at the limit
    parts = split_text("x" * 9000, 4000)
    assert [len(p) for p in parts] == [4000, 4000, 1000]
    # a paragraph break in the second half is preferred over a space
    text = "a " * 1500 + "\n\n" + "b " * 1500
    parts = split_text(text, 4000)
    assert parts[0].endswith("a") and parts[1].startswith("b")
    assert split_text("short", 4000) == ["short"]


# --- no duplicates --------------------------------------------------------------------------------

def test_no_duplicate_send_after_a_retry(setup):
    """Part 2 of 3 fails; the retry sends parts 2 and 3 only: each part reaches the chat once."""
    text = long_text(setup.platform.limit * 2 + 500)
    parts = split_text(text, setup.platform.limit)
    assert len(parts) == 3
    fail_nth_send(setup, 2, status=500)
    outbound_id = setup.queue(text)
    assert send_outbound(outbound_id) == "retrying"
    message = row(outbound_id)
    assert message.parts_sent == 1 and setup.sent() == parts[:1]
    assert send_outbound(outbound_id) == "skipped"  # not due yet: nothing happens
    assert setup.send_calls() == 2
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    assert setup.sent() == parts  # 1, 2, 3 exactly once each, in order
    assert setup.send_calls() == 4  # part 1, part 2 (failed), part 2, part 3
    message = row(outbound_id)
    assert message.state == "sent" and message.parts_sent == 3 and message.attempts == 2
    assert len(message.platform_message_ids) == 3


def test_sent_message_is_never_sent_again(setup):
    outbound_id = setup.queue("once only")
    assert send_outbound(outbound_id) == "sent"
    calls = setup.fake.request_count
    assert send_outbound(outbound_id) == "skipped"
    make_due(outbound_id)  # even a stale retry job finding a due time does nothing
    assert send_outbound(outbound_id) == "skipped"
    assert setup.fake.request_count == calls
    assert setup.sent() == ["once only"]


def test_queue_message_twice_with_the_same_key_makes_one_row(app, green):
    queue = app.extensions["relaydesk_queues"]["default"]
    first = queue_message(green.channel, "79001234567@c.us", "hello", "event-1:reply")
    second = queue_message(green.channel, "79001234567@c.us", "hello again", "event-1:reply")
    assert first == second
    rows = db.session.query(OutboundMessage).filter_by(channel_id=green.channel.id).all()
    assert len(rows) == 1 and rows[0].text == "hello"
    assert queue.count == 1  # the duplicate is not queued either
    other = queue_message(green.channel, "79001234567@c.us", "hello", "event-2:reply")
    assert other != first and queue.count == 2


def test_a_crashed_send_resumes_after_the_last_committed_part(green):
    """A worker died after part 1 was committed: its lease expires, the next one sends 2 and 3."""
    text = long_text(4000 * 2 + 500)
    parts = split_text(text, 4000)
    outbound_id = green.queue(text)
    message = row(outbound_id)
    message.state, message.parts_sent, message.attempts = "sending", 1, 1
    message.lease_until = utcnow() + timedelta(seconds=60)
    db.session.commit()
    assert send_outbound(outbound_id) == "skipped"  # the lease is still held
    assert green.send_calls() == 0
    message = row(outbound_id)
    message.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert send_outbound(outbound_id) == "sent"
    assert green.sent() == parts[1:]


def test_only_one_worker_claims_a_message(green):
    outbound_id = green.queue("claimed once")
    assert claim(outbound_id) is not None
    assert claim(outbound_id) is None
    assert row(outbound_id).state == "sending"


# --- 429 and back-off --------------------------------------------------------------------------

@pytest.mark.parametrize("kind,retry_after", [("greenapi", 7), ("telegram", 9), ("meta", 30)])
def test_429_retry_after_is_honoured(request, app, factory, redis_conn, monkeypatch, kind,
                                     retry_after):
    setup = build(request, app, factory, monkeypatch, kind)
    setup.fake.fail_next(1, 429, retry_after=retry_after, path=setup.platform.send_path)
    outbound_id = setup.queue("rate limited")
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    message = assert_retry_scheduled(app, outbound_id, before, retry_after)
    assert message.error_code in ("429", "130429")
    assert setup.sent() == []
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    assert setup.sent() == ["rate limited"] and setup.send_calls() == 2


def test_a_refusal_for_the_platform_rate_is_marked_throttled(setup):
    """A 429 (each platform's own shape) is `throttled`: nothing was delivered, so a paced
    sender may try again at once (app/jobs/broadcasts.py); other transient errors are not."""
    client = client_for(setup.channel)
    chat = setup.platform.chat_id
    setup.fake.fail_next(1, 429, retry_after=3, path=setup.platform.send_path)
    refused = client.send_text(chat, "too fast")
    assert (refused.ok, refused.transient, refused.throttled) == (False, True, True)
    assert refused.retry_after == 3
    setup.fake.fail_next(1, 502, path=setup.platform.send_path)
    broken = client.send_text(chat, "broken")
    assert (broken.ok, broken.transient, broken.throttled) == (False, True, False)
    assert client.send_text(chat, "fine").ok


@pytest.mark.parametrize(("code", "throttled"), [(130429, True), (131056, False),
                                                 (131057, False)])
def test_meta_throttled_is_the_numbers_throughput_only(meta, code, throttled):
    """131056 (one recipient's pair rate) and 131057 (maintenance) are not the sender's pace."""
    meta.fake.error_next(code)
    result = client_for(meta.channel).send_text(meta.platform.chat_id, "hello")
    assert result.ok is False and result.throttled is throttled


@pytest.mark.parametrize("code,first_wait", [(130429, 2), (131056, 4), (131057, 30)])
def test_meta_throughput_errors_back_off(app, meta, code, first_wait):
    meta.fake.error_next(code)
    outbound_id = meta.queue("throttled")
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    message = assert_retry_scheduled(app, outbound_id, before, first_wait)
    assert message.error_code == str(code)
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    assert meta.sent() == ["throttled"]


def test_meta_pair_rate_limit_backs_off_four_to_the_n(app, meta):
    """131056: one message per 6 s to the same user; retry after 4^n seconds."""
    meta.fake.error_next(131056, n=2)
    outbound_id = meta.queue("pair limited")
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    assert_retry_scheduled(app, outbound_id, before, 4)
    make_due(outbound_id)
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    message = row(outbound_id)
    assert message.next_attempt_at >= before + timedelta(seconds=16)
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    assert meta.sent() == ["pair limited"]


def test_backoff_grows_is_capped_and_never_undercuts_retry_after():
    for attempt in range(1, 12):
        delay = backoff_seconds(attempt)
        assert 0 < delay <= outbound.BACKOFF_CAP
        assert delay >= min(outbound.BACKOFF_CAP, outbound.BACKOFF_BASE ** attempt) / 2
        assert backoff_seconds(attempt, retry_after=700) >= 700
    assert backoff_seconds(1, retry_after=30) >= 30


def test_transient_errors_are_retried_until_max_attempts(app, green):
    green.fake.fail_next(MAX_ATTEMPTS, 503, path=green.platform.send_path)
    outbound_id = green.queue("never gets through")
    outcomes = []
    for _ in range(MAX_ATTEMPTS):
        outcomes.append(send_outbound(outbound_id))
        make_due(outbound_id)
    assert outcomes == ["retrying"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert green.send_calls() == MAX_ATTEMPTS
    message = row(outbound_id)
    assert message.state == "failed" and message.attempts == MAX_ATTEMPTS
    assert send_outbound(outbound_id) == "skipped"
    assert green.send_calls() == MAX_ATTEMPTS


# --- transient errors ------------------------------------------------------------------------

def _transient(setup: Setup, outbound_id: int) -> None:
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    message = row(outbound_id)
    assert message.state == "retrying" and message.parts_sent == 0
    assert message.next_attempt_at > before and message.last_error
    assert setup.send_calls() == 1


def test_server_errors_are_transient(setup):
    setup.fake.fail_next(1, 502, path=setup.platform.send_path)
    outbound_id = setup.queue("after a 502")
    _transient(setup, outbound_id)
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"
    assert setup.sent() == ["after a 502"]


def test_meta_generic_server_error_codes_are_transient(meta):
    meta.fake.error_next(131000)  # "Something went wrong", HTTP 500
    outbound_id = meta.queue("after 131000")
    _transient(meta, outbound_id)
    meta.fake.fail_next(1, 500)  # Graph's generic {"code": 2, "is_transient": true}
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "retrying"
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "sent"


def test_timeouts_are_transient(setup, monkeypatch):
    small_timeout(monkeypatch, setup.platform.module, 0.5)
    setup.fake.delay_next(1, seconds=3, path=setup.platform.send_path)
    outbound_id = setup.queue("slow platform")
    started = time.monotonic()
    _transient(setup, outbound_id)
    assert time.monotonic() - started < 2.5  # the client gave up; it did not wait for 3 s
    message = row(outbound_id)
    assert message.error_code == "timeout"
    call = db.session.query(ExternalCall).filter_by(channel_id=setup.channel.id).one()
    assert call.outcome == "timeout" and call.status_code is None


@pytest.mark.parametrize("garbage", ["truncated", "html", "empty"])
def test_garbage_answers_are_transient(setup, garbage):
    setup.fake.garbage_next(1, garbage, path=setup.platform.send_path)
    outbound_id = setup.queue(f"garbage {garbage}")
    _transient(setup, outbound_id)


def test_connection_refused_is_transient(green):
    channel = green.channel
    channel.api_url = "http://127.0.0.1:9"  # nothing listens there
    db.session.commit()
    outbound_id = green.queue("nobody home")
    assert send_outbound(outbound_id) == "retrying"
    assert row(outbound_id).error_code == "connection"


# --- permanent errors --------------------------------------------------------------------------

def _permanent(setup: Setup, outbound_id: int, code: str) -> OutboundMessage:
    assert send_outbound(outbound_id) == "failed"
    message = row(outbound_id)
    assert message.state == "failed" and message.error_code == code, message.error_code
    assert message.next_attempt_at is None and message.last_error
    assert setup.send_calls() == 1  # exactly one call
    assert not any(k.startswith(f"send-{outbound_id}-") for k in scheduled_retries(current_app))
    make_due(outbound_id)
    assert send_outbound(outbound_id) == "skipped"
    assert setup.send_calls() == 1
    return message


def test_green_bad_request_is_permanent(green):
    outbound_id = green.queue("to nowhere", chat_id="not-a-chat-id")
    message = _permanent(green, outbound_id, "400")
    assert green.sent() == []
    assert row(outbound_id).channel.status == "unknown"  # the channel itself is fine
    assert message.attempts == 1


@pytest.mark.parametrize("code,description", [
    (400, "Bad Request: chat not found"),
    (403, "Forbidden: bot was blocked by the user"),
])
def test_telegram_refusals_are_permanent(telegram, code, description):
    telegram.fake.set_chat_error(int(telegram.platform.chat_id), code, description)
    outbound_id = telegram.queue("refused")
    message = _permanent(telegram, outbound_id, str(code))
    assert description in message.last_error


@pytest.mark.parametrize("code", [100, 131047, 131026, 131050])
def test_meta_refusals_are_permanent(meta, code):
    meta.fake.error_next(code)
    outbound_id = meta.queue("refused")
    _permanent(meta, outbound_id, str(code))
    db.session.expire_all()
    assert db.session.get(Channel, meta.channel.id).status == "unknown"


def test_meta_190_marks_the_channel_for_reauthorisation(meta):
    meta.fake.error_next(190)
    outbound_id = meta.queue("token expired")
    _permanent(meta, outbound_id, "190")
    db.session.expire_all()
    channel = db.session.get(Channel, meta.channel.id)
    assert channel.status == "needs_reauth"
    assert "190" in channel.status_detail


@pytest.mark.parametrize("kind", ["greenapi", "telegram"])
def test_revoked_token_marks_the_channel_broken(request, app, factory, redis_conn, monkeypatch,
                                                kind):
    setup = build(request, app, factory, monkeypatch, kind)
    setup.fake.fail_next(1, 401, path=setup.platform.send_path)
    outbound_id = setup.queue("unauthorised")
    _permanent(setup, outbound_id, "401")
    db.session.expire_all()
    assert db.session.get(Channel, setup.channel.id).status == "error"


def test_disabled_channel_fails_without_a_call(green):
    outbound_id = green.queue("channel off")
    green.channel.enabled = False
    db.session.commit()
    assert send_outbound(outbound_id) == "failed"
    assert row(outbound_id).error_code == "channel_disabled"
    assert green.fake.request_count == 0


def test_a_channel_without_an_outbound_client_fails_instead_of_looping(factory, redis_conn):
    workspace = factory.workspace("webchat-ws")
    channel = factory.channel(workspace, kind="webchat")
    outbound_id = queue_message(channel, "visitor-1", "hello", "webchat-1", enqueue=False)
    assert send_outbound(outbound_id) == "failed"
    message = row(outbound_id)
    assert message.state == "failed" and message.lease_until is None


# --- rate limits shared by all workers --------------------------------------------------------

def test_telegram_sends_one_message_per_second_to_a_chat(app, telegram):
    ids = [telegram.queue(f"message {i}") for i in range(3)]
    started = time.monotonic()
    outcomes = [send_outbound(outbound_id) for outbound_id in ids]
    elapsed = time.monotonic() - started
    sent = [r for r in telegram.fake.requests if r.fault is None]
    if outcomes == ["sent"] * 3:
        assert elapsed >= 1.8, elapsed
        gaps = [b.timestamp - a.timestamp for a, b in zip(sent, sent[1:], strict=False)]
        assert all(gap >= 0.7 for gap in gaps), gaps  # unpaced, they would be ms apart
    else:  # a very slow machine: the wait exceeded BLOCKING_WAIT and the rest was rescheduled
        assert outcomes[0] == "sent" and "retrying" in outcomes
        for outbound_id, outcome in zip(ids, outcomes, strict=True):
            if outcome == "retrying":
                assert row(outbound_id).attempts == 0  # waiting for a slot is not a failure
    assert telegram.sent() == [f"message {i}" for i, o in enumerate(outcomes) if o == "sent"]


def test_send_is_rescheduled_when_the_wait_is_long(app, meta):
    """Meta: one message per 6 s per recipient after a burst of 45."""
    limiter = RateLimiter(app.extensions["relaydesk_redis"])
    rules = client_for(meta.channel).rate_rules(meta.platform.chat_id)
    for _ in range(45):
        assert limiter.try_acquire(rules) == 0.0
    outbound_id = meta.queue("46th message")
    before = utcnow()
    assert send_outbound(outbound_id) == "retrying"
    message = row(outbound_id)
    assert message.attempts == 0  # a rate-limit wait does not use up an attempt
    # longer than the in-process wait (BLOCKING_WAIT), at most the 6 s of the recipient rule
    assert message.next_attempt_at >= before + timedelta(seconds=outbound.BLOCKING_WAIT)
    assert message.next_attempt_at <= before + timedelta(seconds=7)
    assert meta.fake.request_count == 0
    # another recipient on the same number is not held back
    other = meta.queue("someone else", chat_id="79005550000")
    assert send_outbound(other) == "sent"


def test_multi_key_acquisition_consumes_nothing_on_refusal(app, redis_conn):
    limiter = RateLimiter(redis_conn)
    slow = Rate(1, 10.0)
    assert limiter.try_acquire([("t:b", slow)]) == 0.0
    wait = limiter.try_acquire([("t:a", slow), ("t:b", slow)])
    assert 8.0 < wait <= 10.0
    # "t:a" was not consumed by the refused call
    assert limiter.try_acquire([("t:a", slow)]) == 0.0
    assert limiter.try_acquire([("t:a", slow)]) > 9.0


@pytest.mark.parametrize("scripting", [True, False], ids=["script", "transaction"])
def test_a_key_given_n_times_takes_n_slots_or_none(app, redis_conn, scripting):
    """A batch asks once for all its sends: n slots of a key are granted only while the n-th
    would be (the burst), all or nothing, and count like n single calls."""
    from app.integrations import ratelimit

    burst = Rate(5, 10.0)  # 5 at once, then one every 2 s
    limiter = RateLimiter(redis_conn)
    if not scripting:
        ratelimit._no_scripting.add(id(redis_conn))
    try:
        assert limiter.try_acquire([("n:a", burst)] * 3 + [("n:b", burst)]) == 0.0
        # 3 more of "n:a" would be 6 within the burst of 5: refused, nothing taken
        wait = limiter.try_acquire([("n:a", burst)] * 3 + [("n:b", burst)])
        assert 1.5 < wait <= 2.0
        assert limiter.try_acquire([("n:b", burst)] * 4) == 0.0  # "n:b" was not consumed
        assert limiter.try_acquire([("n:a", burst)] * 2) == 0.0  # 3 + 2 = the burst
        assert limiter.try_acquire([("n:a", burst)]) > 1.5
        assert limiter.try_acquire([("n:c", burst)] * 6) > 1.5  # more than a burst: never now
    finally:
        ratelimit._no_scripting.discard(id(redis_conn))


def test_limits_are_shared_by_every_worker(app, redis_conn):
    """Ten workers (own Redis connections, own threads) race for a burst of 5: exactly 5 win."""
    url = app.config["REDIS_URL"]
    rate = Rate(5, 60.0)
    results: list[float] = []
    barrier = threading.Barrier(10)

    def worker():
        connection = Redis.from_url(url)
        try:
            limiter = RateLimiter(connection)
            barrier.wait()
            results.append(limiter.try_acquire([("shared:key", rate)]))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 10
    assert sum(1 for r in results if r == 0.0) == 5


def _burst(limiter, rules, tries: int) -> tuple[int, float, float]:
    started = time.monotonic()
    granted, last_wait = 0, 0.0
    for _ in range(tries):
        wait = limiter.try_acquire(rules)
        if wait == 0.0:
            granted += 1
        else:
            last_wait = wait
    return granted, time.monotonic() - started, last_wait


def test_platform_rate_rules(app, redis_conn, factory):
    workspace = factory.workspace("rules")
    limiter = RateLimiter(redis_conn)

    green = client_for(factory.channel(workspace, kind="greenapi"))
    granted, elapsed, _ = _burst(limiter, green.rate_rules("1@c.us"), 60)
    assert 50 <= granted <= 50 + int(elapsed * 50) + 1  # 50 requests/s per instance
    assert green.rate_rules("1@c.us") == green.rate_rules("2@c.us")  # per instance, not chat

    tg = client_for(factory.channel(workspace, kind="telegram"))
    keys = [key for key, _ in tg.rate_rules("-100123")]
    assert len(keys) == 3 and any(":group:" in k for k in keys)
    assert len(tg.rate_rules("555")) == 2  # private chats: bot + chat only
    group_only = [r for r in tg.rate_rules("-100123") if ":group:" in r[0]]
    granted, elapsed, wait = _burst(limiter, group_only, 21)
    assert 20 <= granted <= 20 + int(elapsed / 3)  # 20 a minute: then one every 3 s
    assert 0 < wait <= 3.0
    bot_only = [r for r in tg.rate_rules("777") if r[0].endswith(":bot")]
    granted, elapsed, _ = _burst(limiter, bot_only, 40)
    assert 30 <= granted <= 30 + int(elapsed * 30) + 1  # about 30 messages/s per bot

    me = client_for(factory.channel(workspace, kind="meta"))
    recipient = [r for r in me.rate_rules("7900") if ":to:" in r[0]]
    granted, elapsed, wait = _burst(limiter, recipient, 46)
    assert 45 <= granted <= 45 + int(elapsed / 6)  # bursts to 45, then one per 6 s
    assert 0 < wait <= 6.0
    number = [r for r in me.rate_rules("7900") if ":to:" not in r[0]]
    granted, elapsed, _ = _burst(limiter, number, 90)
    assert 80 <= granted <= 80 + int(elapsed * 80) + 1  # 80 messages/s per number


# --- robustness ----------------------------------------------------------------------------------

def test_telegram_send_follows_a_group_upgrade(factory, telegram):
    """Telegram answers 400 + parameters.migrate_to_chat_id: the message goes to the supergroup
    and the chat's routes and links move with it (before the migrate update even arrives)."""
    old, new = -987654321, -1001234567890
    workspace_id = telegram.channel.workspace_id
    from app.models import ProviderRoute, Workspace

    workspace = db.session.get(Workspace, workspace_id)
    provider = factory.provider(workspace, name="smmrush")
    factory.route(provider, telegram.channel, chat_id=str(old))
    telegram.fake.migrate_chat(old, new)
    outbound_id = telegram.queue("EXT-88231 refill", chat_id=str(old))
    assert send_outbound(outbound_id) == "sent"
    assert [m["chat_id"] for m in telegram.fake.sent] == [new]
    message = row(outbound_id)
    assert message.chat_id == str(new) and message.state == "sent"
    assert db.session.query(ProviderRoute).one().chat_id == str(new)


def test_unexpected_errors_are_retried_not_left_leased(green, monkeypatch):
    def explode(self, chat_id, text):
        raise RuntimeError("bug in a client")

    monkeypatch.setattr(green_module.GreenApiClient, "send_text", explode)
    outbound_id = green.queue("explodes")
    assert send_outbound(outbound_id) == "retrying"
    message = row(outbound_id)
    assert message.state == "retrying" and message.lease_until is None
    assert message.error_code == "exception" and "RuntimeError" in message.last_error


def test_a_message_reclaimed_too_often_gives_up(green):
    """Workers that keep dying on a row (lease expiry, maintenance re-enqueue) do not loop."""
    outbound_id = green.queue("poison")
    message = row(outbound_id)
    message.state, message.attempts = "sending", MAX_ATTEMPTS
    message.lease_until = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert send_outbound(outbound_id) == "failed"
    assert row(outbound_id).error_code == "too_many_attempts"
    assert green.fake.request_count == 0


# --- managers retry from the log ----------------------------------------------------------------

def _manager_of(factory, auth, channel) -> None:
    from app.models import Workspace

    factory.member(db.session.get(Workspace, channel.workspace_id), "outbound-manager")
    auth.login("outbound-manager")


def test_manager_retries_a_failed_send(app, client, auth, factory, green):
    green.fake.fail_next(1, 401, path=green.platform.send_path)
    outbound_id = green.queue("try again")
    assert send_outbound(outbound_id) == "failed"
    _manager_of(factory, auth, green.channel)
    response = client.post("/outboundmessageview/action_post", follow_redirects=True,
                           data={"action": "retry", "rowid": [str(outbound_id)]})
    assert "1 message queued again." in response.get_data(as_text=True)
    message = row(outbound_id)
    assert message.state == "retrying" and message.attempts == 0
    assert f"send-{outbound_id}" in app.extensions["relaydesk_queues"]["default"].job_ids
    assert send_outbound(outbound_id) == "sent"
    assert green.sent() == ["try again"]


def test_a_retry_queued_while_redis_is_down_is_swept_later(client, auth, factory, green,
                                                           monkeypatch):
    import app.jobs.maintenance as maintenance

    green.fake.fail_next(1, 401, path=green.platform.send_path)
    outbound_id = green.queue("swept")
    send_outbound(outbound_id)
    _manager_of(factory, auth, green.channel)
    monkeypatch.setattr(queues, "enqueue_send", lambda *a, **kw: False)  # Redis is down
    client.post("/outboundmessageview/action_post",
                data={"action": "retry", "rowid": [str(outbound_id)]})
    assert row(outbound_id).state == "retrying"
    later = utcnow() + maintenance.PENDING_GRACE + timedelta(seconds=5)
    monkeypatch.setattr(maintenance, "utcnow", lambda: later)
    assert outbound_id in maintenance.stale_outbound_ids()


def test_the_transaction_fallback_decides_like_the_script(app, redis_conn):
    """Servers without scripting get the same GCRA through WATCH/MULTI (app.integrations
    .ratelimit): same grants, same waits, nothing consumed on refusal."""
    from app.integrations import ratelimit

    slow = Rate(1, 10.0)
    scripted = RateLimiter(redis_conn)
    assert scripted.try_acquire([("s:b", slow)]) == 0.0
    scripted_wait = scripted.try_acquire([("s:a", slow), ("s:b", slow)])
    fallback = RateLimiter(redis_conn)
    ratelimit._no_scripting.add(id(redis_conn))
    try:
        assert fallback.try_acquire([("w:b", slow)]) == 0.0
        watched_wait = fallback.try_acquire([("w:a", slow), ("w:b", slow)])
        assert fallback.try_acquire([("w:a", slow)]) == 0.0
        # both paths store the same "theoretical arrival time" format: either can continue
        assert fallback.try_acquire([("s:b", slow)]) > 8.0
    finally:
        ratelimit._no_scripting.discard(id(redis_conn))
    assert 8.0 < scripted_wait <= 10.0 and 8.0 < watched_wait <= 10.0
    assert abs(scripted_wait - watched_wait) < 1.0
    assert scripted.try_acquire([("w:b", slow)]) > 8.0
