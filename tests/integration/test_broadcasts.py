"""Broadcasts (issue 14): audience, one message per recipient through one identity, pause,
resume, cancel, opt-out by chat, plan modules and mediums, tenancy, the REST resource.

The sending goes through the real outbound machinery against the fake Green API; the runner
function is called here directly (the worker-killed case is tests/integration/
test_broadcast_crash.py)."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from app.domain.replies import PLAIN_REPLIES
from app.extensions import db
from app.jobs import broadcasts as runner
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.models import Broadcast, BroadcastRecipient, LinkedUser, OutboundMessage
from app.models.base import utcnow
from tests.integration.pipeline_support import post_green

API = "/api/v1/broadcast/"


@pytest.fixture
def shop(factory, fake_greenapi, redis_conn):
    """Workspace "shop": a Green API channel on the fake, a Telegram channel that cannot be
    reached, five linked users (bob opted out; carol speaks Spanish, tagged vip)."""
    ws = factory.workspace("shop")
    green = factory.channel(ws, kind="greenapi", name="WhatsApp", api_url=fake_greenapi.url,
                            id_instance=fake_greenapi.id_instance,
                            api_token=fake_greenapi.api_token, webhook_token="shop-hook")
    telegram = factory.channel(ws, kind="telegram", name="Bot", api_base="http://127.0.0.1:9")
    users = {}
    for n, (name, language, tags) in enumerate([("alice", "en", "vip, reseller"),
                                                 ("bob", "en", ""), ("carol", "es", "VIP"),
                                                 ("dave", "ru", "reseller"),
                                                 ("erin", "en", "")]):
        user = factory.linked_user(ws, username=name, language=language, tags=tags)
        factory.identity(user, green, chat_id=f"7900000000{n}@c.us")
        users[name] = user
    # alice has a second identity: she still gets one message
    factory.identity(users["alice"], telegram, chat_id="123456789")
    users["bob"].opted_out = True
    db.session.commit()
    workspace_config.forget()
    return ws, green, telegram, users


@pytest.fixture
def manager(factory, shop, auth):
    factory.member(shop[0], "shop-manager")
    auth.login("shop-manager")


def make(ws, **kw) -> Broadcast:
    kw.setdefault("name", "News")
    kw.setdefault("text", "Hello {username}, new services!")
    broadcast = Broadcast(workspace_id=ws.id, **kw)
    db.session.add(broadcast)
    db.session.commit()
    return broadcast


def fresh(broadcast) -> Broadcast:
    db.session.expire_all()
    return db.session.get(Broadcast, broadcast.id)


def states(broadcast) -> dict[str, str]:
    db.session.expire_all()
    return {r.username: r.state for r in db.session.query(BroadcastRecipient)
            .filter_by(broadcast_id=broadcast.id)}


def test_everyone_not_opted_out_gets_one_message_with_their_name(shop, fake_greenapi):
    ws, _green, _tg, _users = shop
    broadcast = make(ws)
    runner.start(broadcast)
    summary = runner.run_workspace(ws.id)

    assert summary["sent"] == 4
    texts = sorted(m["message"] for m in fake_greenapi.sent)
    assert texts == [f"Hello {name}, new services!" for name in ("alice", "carol", "dave",
                                                                  "erin")]
    assert Counter(m["chatId"] for m in fake_greenapi.sent).most_common(1)[0][1] == 1
    assert states(broadcast) == {"alice": "sent", "bob": "skipped", "carol": "sent",
                                 "dave": "sent", "erin": "sent"}
    done = fresh(broadcast)
    assert (done.status, done.total, done.sent, done.failed, done.skipped, done.remaining) == \
        ("done", 5, 4, 0, 1, 0)
    keys = {m.idempotency_key for m in db.session.query(OutboundMessage)}
    assert len(keys) == 4 and all(k.startswith(f"broadcast:{broadcast.id}:") for k in keys)
    # a second run (a second worker, a retry) sends nothing again
    runner.run_workspace(ws.id)
    assert len(fake_greenapi.sent) == 4


@pytest.mark.parametrize(("audience", "expected"), [
    ({"languages": ["es", "ru"]}, {"carol", "dave"}),
    ({"tags": ["vip"]}, {"alice", "carol"}),
    ({"tags": ["reseller"], "languages": ["en"]}, {"alice"}),
    ({"channel_kinds": ["telegram"]}, {"alice"}),
])
def test_audience_by_language_tag_and_channel_kind(shop, audience, expected):
    ws, *_ = shop
    broadcast = make(ws, audience=audience)
    runner.start(broadcast)
    runner.prepare(broadcast.id)
    assert set(states(broadcast)) == expected


def test_pause_resume_and_cancel(shop, fake_greenapi, monkeypatch):
    ws, *_ = shop
    monkeypatch.setattr(runner, "BATCH_MIN", 1)
    monkeypatch.setattr(runner, "BATCH_MAX", 1)
    broadcast = make(ws)
    runner.start(broadcast)
    runner.prepare(broadcast.id)
    runner.send_batch(broadcast.id)
    assert len(fake_greenapi.sent) == 1

    runner.pause(broadcast)
    runner.run_workspace(ws.id)
    assert len(fake_greenapi.sent) == 1 and fresh(broadcast).status == "paused"
    with pytest.raises(runner.BroadcastRefusal):
        runner.pause(fresh(broadcast))

    runner.resume(fresh(broadcast))
    runner.send_batch(broadcast.id)
    assert len(fake_greenapi.sent) == 2
    runner.cancel(fresh(broadcast))
    runner.run_workspace(ws.id)
    assert len(fake_greenapi.sent) == 2
    canceled = fresh(broadcast)
    assert canceled.status == "canceled" and canceled.remaining == 0
    assert sorted(states(broadcast).values()) == ["sent", "sent", "skipped", "skipped",
                                                  "skipped"]
    with pytest.raises(runner.BroadcastRefusal):
        runner.resume(canceled)


def test_scheduled_broadcast_waits_for_its_time(shop, fake_greenapi):
    ws, *_ = shop
    broadcast = make(ws, scheduled_at=utcnow() + timedelta(hours=1))
    assert runner.start(broadcast).status == "scheduled"
    runner.run_workspace(ws.id)
    assert fake_greenapi.sent == []
    assert runner.interval(ws.id) == runner.IDLE_INTERVAL
    broadcast = fresh(broadcast)
    broadcast.scheduled_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert runner.run_workspace(ws.id)["started"] == 1
    assert len(fake_greenapi.sent) == 4 and fresh(broadcast).status == "done"


def test_stop_keyword_opts_out_and_start_opts_back_in(client, shop, fake_greenapi):
    ws, green, _tg, users = shop
    chat = "79000000004@c.us"  # erin
    for text, opted in (("STOP", True), ("start!", False), ("Стоп", True)):
        (event_id,) = post_green(client, green, text, chat)
        process_event(event_id)
        db.session.expire_all()
        assert db.session.get(LinkedUser, users["erin"].id).opted_out is opted
    replies = fake_greenapi.messages_to(chat)
    assert replies[0] == PLAIN_REPLIES["opted_out"] and replies[1] == PLAIN_REPLIES["opted_in"]
    broadcast = make(ws)
    runner.start(broadcast)
    runner.run_workspace(ws.id)
    assert states(broadcast)["erin"] == "skipped"
    assert fake_greenapi.messages_to(chat) == replies  # no broadcast for erin


def test_stop_inside_a_sentence_is_not_an_opt_out(client, shop):
    ws, green, _tg, users = shop
    (event_id,) = post_green(client, green, "please stop the refill of 2274209",
                             "79000000004@c.us")
    process_event(event_id)
    db.session.expire_all()
    assert db.session.get(LinkedUser, users["erin"].id).opted_out is False


def test_plan_without_the_broadcasts_module_refuses(factory, shop, manager, client):
    ws, *_ = shop
    ws.plan = factory.plan(modules="api", mediums="greenapi,meta,telegram,webchat")
    db.session.commit()
    answer = client.post(API, json={"name": "x", "text": "hi"})
    assert answer.status_code == 403
    assert "does not include broadcasts" in answer.get_json()["message"]
    assert runner.run_workspace(ws.id)["state"] == "skipped"
    assert "broadcasts" in runner.enabled_reason(ws.id)


def test_plan_mediums_and_monthly_limit(factory, shop, manager, client, fake_greenapi):
    ws, *_ = shop
    ws.plan = factory.plan(modules="api,broadcasts", mediums="greenapi",
                           max_broadcasts_per_month=1)
    db.session.commit()
    refused = client.post(API, json={"name": "tg", "text": "hi",
                                     "audience": {"channel_kinds": ["telegram"]}})
    assert refused.status_code == 403 and "Telegram" in refused.get_json()["message"]
    first = client.post(API, json={"name": "one", "text": "hi {username}"}).get_json()["id"]
    second = client.post(API, json={"name": "two", "text": "hi"}).get_json()["id"]
    assert client.post(f"{API}{first}/start").status_code == 200
    limited = client.post(f"{API}{second}/start")
    assert limited.status_code == 403 and "broadcasts a month" in limited.get_json()["message"]
    runner.run_workspace(ws.id)
    # alice's Telegram identity is not used: the plan has no Telegram
    assert {m["chatId"] for m in fake_greenapi.sent} >= {"79000000000@c.us"}
    assert len(fake_greenapi.sent) == 4


def test_rest_resource_and_actions(shop, manager, client):
    created = client.post(API, json={"name": "Promo", "text": "Hi {username}",
                                     "audience": {"languages": ["en"], "tags": ["vip"]}})
    assert created.status_code == 201, created.get_json()
    pk = created.get_json()["id"]
    shown = client.get(f"{API}{pk}").get_json()["result"]
    assert shown["audience"] == {"channel_kinds": [], "languages": ["en"], "tags": ["vip"]}
    assert (shown["status"], shown["total"], shown["remaining"]) == ("draft", 0, 0)
    assert client.put(f"{API}{pk}", json={"name": "Promo 2"}).status_code == 200
    assert client.get(f"{API}{pk}").get_json()["result"]["audience"]["tags"] == ["vip"]
    assert client.post(f"{API}{pk}/pause").status_code == 409
    assert client.post(f"{API}{pk}/explode").status_code == 404
    started = client.post(f"{API}{pk}/start")
    assert started.status_code == 200 and started.get_json()["status"] == "running"
    assert client.put(f"{API}{pk}", json={"name": "late"}).status_code == 422
    assert client.post(f"{API}{pk}/pause").get_json()["status"] == "paused"
    assert client.post(f"{API}{pk}/resume").get_json()["status"] == "running"
    assert client.post(f"{API}{pk}/cancel").get_json()["status"] == "canceled"


@pytest.mark.parametrize("body", [
    {"name": "x", "text": "Hi {user}"},
    {"name": "x", "text": "Hi {username"},
    {"name": "x", "text": "hi", "audience": {"languages": ["klingon"]}},
    {"name": "x", "text": "hi", "audience": {"channel_kinds": "greenapi"}},
    {"name": "x", "text": "hi", "audience": {"planets": ["mars"]}},
    {"name": "x", "text": "hi", "audience": [1, 2]},
    {"name": "<b>x</b>", "text": "hi"},
    {"text": "hi"},
])
def test_bad_values_are_refused_with_422(shop, manager, client, body):
    answer = client.post(API, json=body)
    assert answer.status_code == 422, answer.get_json()
    assert db.session.query(Broadcast).count() == 0


def test_another_workspace_never_sees_nor_drives_it(factory, shop, client, auth):
    ws, *_ = shop
    broadcast = make(ws)
    other = factory.workspace("other")
    factory.member(other, "other-manager")
    auth.login("other-manager")
    assert client.get(f"{API}{broadcast.id}").status_code == 404
    assert client.post(f"{API}{broadcast.id}/start").status_code == 404
    assert client.get(f"/broadcastview/show/{broadcast.id}").status_code == 404
    assert client.get(f"/broadcastview/progress/{broadcast.id}").status_code == 404
    assert client.post(f"/broadcastview/action/{broadcast.id}/start").status_code in (400, 404)
    assert client.get(API).get_json()["count"] == 0
    assert fresh(broadcast).status == "draft"


def test_screen_add_show_and_start(shop, manager, client, fake_greenapi):
    page = client.post("/broadcastview/add", data={
        "name": "Screen news", "text": "Hi {username}", "channel_kinds": ["greenapi"],
        "languages": ["en", "es"], "tags": "", "scheduled_at": ""}, follow_redirects=True)
    assert page.status_code == 200
    broadcast = db.session.query(Broadcast).one()
    assert (broadcast.channel_kinds, broadcast.languages) == ("greenapi", "en,es")
    shown = client.get(f"/broadcastview/show/{broadcast.id}")
    assert b"broadcast-progress" in shown.data and b"broadcast-start" in shown.data
    bad = client.post("/broadcastview/add", data={"name": "Bad", "text": "Hi {nobody}"})
    assert b"Unknown placeholder" in bad.data
    assert client.get(f"/broadcastview/progress/{broadcast.id}").get_json()["status"] == "draft"


def test_a_message_refused_for_the_rate_is_sent_again_in_the_same_run(shop, fake_greenapi):
    """A 429 (jitter on the platform's side) does not wait for the outbound retry: the message
    takes a new paced moment after Retry-After and goes out in the same run, once."""
    ws, *_ = shop
    fake_greenapi.fail_next(1, 429, retry_after=1, path="*/sendMessage/*")
    broadcast = make(ws)
    runner.start(broadcast)
    summary = runner.run_workspace(ws.id)

    assert summary["sent"] == 4 and summary.get("retried", 0) == 0
    assert sum(1 for r in fake_greenapi.requests if r.status == 429) == 1
    assert len(fake_greenapi.sent) == 4
    assert Counter(m["chatId"] for m in fake_greenapi.sent).most_common(1)[0][1] == 1
    assert fresh(broadcast).status == "done"
