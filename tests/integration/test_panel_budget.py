"""The panel budget (issue 14, point 6): every call to a workspace's panel draws on its configured
rate; chat commands first, background callers (ticket polling, service refreshes) with what is
left; fair order across chats; a customer whose command will wait long is told it is queued.

The fakes record when each request arrived: that is what "calls per second seen by the panel"
is measured on (any window of one second, not only whole seconds).
"""
from __future__ import annotations

import threading
import time

import pytest

from app.extensions import db
from app.integrations.panels import (ANY_CHAT, panel_chat, panel_priority, panel_rate,
                                     rate_key)
from app.integrations.panels.registry import adapter_for
from app.integrations.ratelimit import CHATS_SEPARATOR, RateLimiter
from app.jobs import workspace_config
from app.jobs.events import claim_batch, process_event
from app.models import CommandLog, ServiceRule
from tests.conftest import BACKENDS
from tests.fakes.server import max_per_second
from tests.integration.pipeline_support import (CUSTOMER_CHAT, REFILL_30, build_desk, days_ago,
                                                post_green)

OTHER_CHAT = "79007654321@c.us"


def test_max_per_second_counts_any_window():
    assert max_per_second([0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # [0.5, 1.5)
    assert max_per_second([0.0, 0.1, 0.2, 0.3, 0.4, 0.5]) == 6
    assert max_per_second([0.0, 1.0, 2.0]) == 1


def in_app(app, work):
    """Run `work()` in a thread with its own application context (a worker, in short)."""
    def body():
        with app.app_context():
            try:
                work()
            finally:
                db.session.remove()
    return threading.Thread(target=body)


@pytest.fixture
def budget_desk(factory, fake_perfectpanel, fake_smmapi, fake_greenapi, redis_conn):
    """A workspace whose panel allows 5 calls/s (the default), with a services list on the
    same panel's reseller API (cached service rules) and a Green API channel."""
    for offset, user in enumerate(["alice"] * 20 + ["bob"] * 5):
        fake_perfectpanel.add_order(5000001 + offset, user=user, service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{offset}",
                                    created=days_ago(3))
    desk = build_desk(factory, fake_perfectpanel.url)
    desk.panel.requests_per_second = 5.0
    desk.panel.user_api_key = fake_smmapi.api_key
    desk.panel.service_rules_mode = "cached"
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    factory.identity(factory.linked_user(desk.workspace, username="bob"), desk.channel,
                     chat_id=OTHER_CHAT)
    db.session.commit()
    workspace_config.forget()
    return desk


def test_chats_tickets_and_a_refresh_together_never_exceed_the_rate(app, budget_desk,
                                                                    fake_perfectpanel,
                                                                    fake_smmapi, monkeypatch):
    """Chat commands (three chats), two background pollers (the ticket runner's calls) and a
    services refresh, all at once against one panel allowing 5 calls/s: the panel never sees
    more than 5 in any second; every chat call is answered before the background callers get
    more than the slot they may have taken before the chats asked; the refresh completes."""
    from app.jobs.services import refresh_services

    # the same panel also serves its reseller API (as real panels do): one host, one budget
    from tests.fakes.smmapi import API_PATH
    fake_perfectpanel.route("*", API_PATH, fake_smmapi._call)
    workspace_id = budget_desk.workspace.id
    panel_id = budget_desk.panel.id
    chat_done: list[float] = []
    background_calls: list[float] = []
    refreshed: list[dict] = []
    errors: list[BaseException] = []

    def adapter():
        from app.models import PanelConnection
        return adapter_for(db.session.get(PanelConnection, panel_id))

    def chat(n: int):
        def work():
            try:
                with panel_chat(f"1:chat-{n}"):
                    panel = adapter()
                    for i in range(4):
                        panel.get_orders([str(5000001 + n * 4 + i)], username="alice")
                chat_done.append(time.time())
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
        return work

    def poller():
        try:
            with panel_priority("background"):
                panel = adapter()
                for _ in range(3):
                    panel.list_tickets()
                    background_calls.append(time.time())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def refresh():
        refreshed.append(refresh_services(workspace_id))

    started = time.time()
    chats = [in_app(app, chat(n)) for n in range(3)]
    for thread in chats:
        thread.start()
    time.sleep(0.3)  # the chats are waiting for slots now
    others = [in_app(app, poller), in_app(app, poller), in_app(app, refresh)]
    for thread in others:
        thread.start()
    for thread in chats + others:
        thread.join(60)

    assert not errors, errors
    stamps = [r.timestamp for r in fake_perfectpanel.requests if r.timestamp >= started]
    assert len(stamps) == 3 * 4 + 2 * 3 + 1
    assert max_per_second(stamps) <= 5, sorted(stamps)
    # chats first: the background callers waited until the chats were served
    last_chat = max(chat_done)
    assert sum(1 for moment in background_calls if moment < last_chat - 0.05) == 0, \
        (background_calls, last_chat)
    assert refreshed and refreshed[0]["state"] == "ok", refreshed
    assert db.session.query(ServiceRule).filter_by(workspace_id=workspace_id).count() > 0


def test_a_burst_from_one_chat_delays_another_by_at_most_one_slot(app, budget_desk,
                                                                 redis_conn):
    """Ten calls of one chat wait for the panel; another chat's call, asked after all of them,
    gets the next slot but one at the latest (the slot being taken as it asks)."""
    settings = adapter_for(budget_desk.panel).settings
    key, rate = rate_key(settings), panel_rate(settings.requests_per_second)
    limiter = RateLimiter(redis_conn)
    granted: dict[str, list[float]] = {"burst": [], "other": []}
    asked_at: list[float] = []

    def caller(who: str, bucket: str):
        def work():
            limiter.acquire_fair(key, rate, who, max_wait=30)
            granted[bucket].append(time.monotonic())
        return work

    burst = [threading.Thread(target=caller("1:burst", "burst")) for _ in range(10)]
    for thread in burst:
        thread.start()
    time.sleep(0.5)  # the burst is served and waiting
    asked_at.append(time.monotonic())
    other = threading.Thread(target=caller("1:other", "other"))
    other.start()
    for thread in [*burst, other]:
        thread.join(30)
    waited = granted["other"][0] - asked_at[0]
    assert waited <= 2 * rate.interval + 0.05, waited
    # it did not wait for the burst: most of the burst came after it
    assert sum(1 for moment in granted["burst"] if moment > granted["other"][0]) >= 5


def test_background_callers_wait_while_a_chat_waits(app, budget_desk, redis_conn):
    """A chat waiting for a slot holds the background callers back (the demand marker);
    when no chat waits they use the slots."""
    settings = adapter_for(budget_desk.panel).settings
    key, rate = rate_key(settings), panel_rate(settings.requests_per_second)
    limiter = RateLimiter(redis_conn)
    assert limiter.try_acquire_fair(key, rate, "1:first") == 0.0
    assert limiter.try_acquire_fair(key, rate, "1:second") > 0  # waits, and says so
    assert limiter.waiting(key) == 1
    time.sleep(rate.interval + 0.01)
    assert limiter.try_acquire_fair(key, rate, None) > 0  # a chat is waiting: not for us
    assert limiter.try_acquire_fair(key, rate, "1:second") == 0.0
    assert limiter.waiting(key) == 0
    time.sleep(rate.interval + 0.01)
    assert limiter.try_acquire_fair(key, rate, None) == 0.0  # nobody waits: background goes


def test_a_merged_call_waits_its_turn_as_every_chat_it_serves(app, budget_desk, redis_conn):
    """A merged fetch serves several chats: it is as deserving as the least recently served of
    them (not as its first chat, just served, which made a full batch yield again and again),
    and taking the slot counts as serving each of them."""
    settings = adapter_for(budget_desk.panel).settings
    key, rate = rate_key(settings), panel_rate(settings.requests_per_second)
    limiter = RateLimiter(redis_conn)
    merged = CHATS_SEPARATOR.join(["1:alice", "1:bob", "1:carol"])
    assert limiter.try_acquire_fair(key, rate, "1:alice") == 0.0  # alice was just served
    assert limiter.try_acquire_fair(key, rate, "1:dave") > 0  # dave waits: served never
    assert limiter.try_acquire_fair(key, rate, merged) > 0  # waits too, but bob never was
    time.sleep(rate.interval + 0.01)
    # dave and the merged call tie on "never served": the one waiting longer (dave) goes first
    assert limiter.try_acquire_fair(key, rate, merged) > 0
    assert limiter.try_acquire_fair(key, rate, "1:dave") == 0.0
    time.sleep(rate.interval + 0.01)
    assert limiter.try_acquire_fair(key, rate, merged) == 0.0
    # now bob and carol were served too: erin (never served) goes before any of them
    assert limiter.try_acquire_fair(key, rate, "1:bob") > 0
    assert limiter.try_acquire_fair(key, rate, "1:erin") > 0
    time.sleep(rate.interval + 0.01)
    assert limiter.try_acquire_fair(key, rate, "1:bob") > 0
    assert limiter.try_acquire_fair(key, rate, "1:erin") == 0.0


def test_callers_tied_on_served_take_turns_never_all_deferring(app, budget_desk, redis_conn):
    """Merged calls of the same chats tie on "served": the one waiting longest goes, whatever
    order Redis lists the waiting callers in (each once deferred to a caller listed before
    its own entry, and none ever went)."""
    settings = adapter_for(budget_desk.panel).settings
    key, rate = rate_key(settings), panel_rate(settings.requests_per_second)
    limiter = RateLimiter(redis_conn)
    chats = [f"{n % 5 + 1}:7911{n:07d}@c.us" for n in range(20)]
    callers = [CHATS_SEPARATOR.join(chats[k:] + chats[:k]) for k in (3, 7, 11)]
    assert limiter.try_acquire_fair(key, rate, callers[0]) == 0.0
    for caller in callers:
        assert limiter.try_acquire_fair(key, rate, caller) > 0  # in line, in this order
    served = []
    for _turn in range(3):
        time.sleep(rate.interval + 0.01)
        granted = [n for n, caller in enumerate(callers) if n not in served
                   and limiter.try_acquire_fair(key, rate, caller) == 0.0]
        assert len(granted) == 1, granted
        served += granted
    assert served == [0, 1, 2]


def test_claims_take_chats_in_turn(app, client, budget_desk, fake_greenapi, monkeypatch):
    """A batch takes each chat's oldest waiting event before any chat's second: a burst of one
    chat does not fill the batch while another chat's command waits behind it."""
    if not BACKENDS.database_url.startswith("postgresql"):
        pytest.skip("batches need SKIP LOCKED (PostgreSQL)")
    monkeypatch.setitem(app.config, "PIPELINE_BATCH_SIZE", 4)
    monkeypatch.setitem(app.config, "PIPELINE_BATCH_MAX", 4)
    burst = [post_green(client, budget_desk.channel, f"{5000001 + i} refill")[0]
             for i in range(8)]
    (other,) = post_green(client, budget_desk.channel, "5000021 refill", chat=OTHER_CHAT)
    batch = claim_batch(burst[0])
    assert other in [event.id for event in batch]
    assert len(batch) == 4


def test_a_backlog_makes_bigger_batches(app, client, budget_desk, monkeypatch):
    """Only when a full batch was waiting does a job take more, up to PIPELINE_BATCH_MAX."""
    if not BACKENDS.database_url.startswith("postgresql"):
        pytest.skip("batches need SKIP LOCKED (PostgreSQL)")
    monkeypatch.setitem(app.config, "PIPELINE_BATCH_SIZE", 3)
    monkeypatch.setitem(app.config, "PIPELINE_BATCH_MAX", 6)
    ids = [post_green(client, budget_desk.channel, f"{5000001 + i}")[0] for i in range(8)]
    first = claim_batch(ids[0])
    assert len(first) == 6 and len({e.id for e in first}) == 6
    second = claim_batch(ids[-1])
    assert len(second) == 2  # what was left: no full batch, no growth


def test_a_long_wait_tells_the_customer_at_once_then_answers(app, client, budget_desk,
                                                             fake_greenapi, redis_conn):
    """With 60 chats waiting for a panel allowing 5 calls/s (about 13 s), the customer gets
    the `queued` reply before the panel is asked, then the answer."""
    settings = adapter_for(budget_desk.panel).settings
    key, rate = rate_key(settings), panel_rate(settings.requests_per_second)
    limiter = RateLimiter(redis_conn)
    for n in range(60):
        limiter.try_acquire_fair(key, rate, f"9:waiting-{n}")
    assert limiter.waiting(key) >= 59
    (event_id,) = post_green(client, budget_desk.channel, "5000001 refill")
    process_event(event_id)
    db.session.expire_all()
    sent = [r.json["message"] for r in fake_greenapi.requests.filter("POST", "*sendMessage*")
            if r.json.get("chatId") == CUSTOMER_CHAT]
    assert len(sent) == 2, sent
    assert sent[0].startswith("Your request is queued"), sent
    assert "5000001" in sent[1]
    log = db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()
    queued = [s for s in log.trace if s["step"] == "queued"]
    assert queued and queued[0]["wait_s"] > 10 and queued[0].get("outbound")
    assert log.outcome == "dispatched"

    # run again (a retry): the customer is not told twice
    process_event(event_id)
    sent_again = [r for r in fake_greenapi.requests.filter("POST", "*sendMessage*")
                  if r.json.get("chatId") == CUSTOMER_CHAT]
    assert len(sent_again) == 2


def test_a_short_wait_says_nothing_extra(app, client, budget_desk, fake_greenapi):
    (event_id,) = post_green(client, budget_desk.channel, "5000001 refill")
    process_event(event_id)
    sent = [r.json["message"] for r in fake_greenapi.requests.filter("POST", "*sendMessage*")
            if r.json.get("chatId") == CUSTOMER_CHAT]
    assert len(sent) == 1 and not sent[0].startswith("Your request is queued")


def test_priority_levels_are_checked():
    with pytest.raises(ValueError):
        with panel_priority("urgent"):
            pass
    assert ANY_CHAT
