"""Real time (app/realtime.py, app/views/live.py): publishing after the commit, the workspace's
Server-Sent Events stream (tenancy, Last-Event-ID, heartbeat, refusals, Redis down), typing,
availability and the notification preferences."""
from __future__ import annotations

import json
import threading
import time

from collections import Counter

import pytest

from app import realtime
from app.extensions import db
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.models import Conversation, WorkspaceMember
from tests.factories import AuthActions
from tests.integration.pipeline_support import CUSTOMER_CHAT, build_desk, post_green


@pytest.fixture
def quick_streams(app, monkeypatch):
    monkeypatch.setitem(app.config, "LIVE_HEARTBEAT_SECONDS", 0.3)
    monkeypatch.setitem(app.config, "LIVE_STREAM_SECONDS", 1.2)
    monkeypatch.setattr(realtime, "_paused_until", 0.0)


@pytest.fixture
def desk(factory, fake_perfectpanel, redis_conn, quick_streams):
    desk = build_desk(factory, fake_perfectpanel.url)
    factory.member(desk.workspace, "acme-agent", "agent")
    other = factory.workspace("globex")
    factory.member(other, "globex-agent", "agent")
    desk.other = other
    db.session.commit()
    workspace_config.forget()
    return desk


def events_of(body: str) -> list[dict]:
    """The SSE events of a stream's text: [{id, event, data}] (comments left out)."""
    found = []
    for block in body.split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line and not line.startswith(":") and ": " in line:
                name, value = line.split(": ", 1)
                fields[name] = value
        if "event" in fields:
            fields["data"] = json.loads(fields.get("data") or "{}")
            found.append(fields)
    return found


def read_stream(client, **headers) -> tuple[int, str]:
    response = client.get("/inbox/stream", headers=headers)
    body = response.get_data(as_text=True)
    response.close()  # as the server does: the stream gives its place back
    return response.status_code, body


def test_a_member_receives_their_workspace_events_and_never_another_workspaces(
        app, client, auth, desk):
    realtime.publish(desk.workspace.id, "typing", {"conversation_id": 1, "user_id": 1})
    realtime.publish(desk.other.id, "typing", {"conversation_id": 2, "user_id": 2})
    auth.login("acme-agent")
    status, body = read_stream(client, **{"Last-Event-ID": "0-0"})
    assert status == 200
    assert body.startswith("retry: ")
    got = [e for e in events_of(body) if e["event"] == "typing"]
    assert [e["data"]["conversation_id"] for e in got] == [1]
    assert {e["data"].get("member_id") for e in events_of(body) if e["event"] == "presence"} \
        == {member_of("acme-agent").id}  # opening the page made the member present
    assert ": ping" in body  # a heartbeat while nothing happens
    from app.views import live

    assert live._open_streams == 0  # the ended stream gave its place back


def test_an_event_published_while_the_page_listens_arrives_at_once(app, client, auth, desk):
    auth.login("acme-agent")
    workspace_id = desk.workspace.id

    def later():
        time.sleep(0.4)
        with app.app_context():
            realtime.publish(workspace_id, "presence", {"member_id": 7, "present": True})

    thread = threading.Thread(target=later)
    thread.start()
    started = time.monotonic()
    response = client.get("/inbox/stream", buffered=False)
    seen_at = None
    text = ""
    for chunk in response.response:
        text += chunk.decode() if isinstance(chunk, bytes) else chunk
        if "event: presence" in text and seen_at is None:
            seen_at = time.monotonic() - started
    response.close()
    thread.join()
    assert seen_at is not None and seen_at < 1.0, text
    assert events_of(text)[0]["data"] == {"member_id": 7, "present": True}


def typings(body: str) -> list[dict]:
    return [e for e in events_of(body) if e["event"] == "typing"]


def test_last_event_id_resumes_after_the_events_already_seen(app, client, auth, desk):
    workspace_id = desk.workspace.id
    for n in range(3):
        realtime.publish(workspace_id, "typing", {"conversation_id": n, "user_id": 1})
    auth.login("acme-agent")
    _status, body = read_stream(client, **{"Last-Event-ID": "0-0"})
    first = typings(body)
    assert [e["data"]["conversation_id"] for e in first] == [0, 1, 2]
    realtime.publish(workspace_id, "typing", {"conversation_id": 3, "user_id": 1})
    _status, body = read_stream(client, **{"Last-Event-ID": first[1]["id"]})
    assert [e["data"]["conversation_id"] for e in typings(body)] == [2, 3]
    # the query parameter does the same (a page reconnecting by itself after a refusal)
    response = client.get(f"/inbox/stream?last_event_id={first[2]['id']}")
    assert [e["data"]["conversation_id"]
            for e in typings(response.get_data(as_text=True))] == [3]
    response.close()
    # without one: only what comes next; a malformed one counts as none
    _status, body = read_stream(client, **{"Last-Event-ID": "garbage event: x"})
    assert typings(body) == []


def test_a_trimmed_stream_tells_the_page_to_reload(app, client, auth, desk, redis_conn,
                                                   monkeypatch):
    monkeypatch.setattr(realtime, "STREAM_LENGTH", 3)
    key = realtime.stream_key(desk.workspace.id)
    for n in range(6):
        redis_conn.xadd(key, {"e": "typing", "d": json.dumps({"n": n})}, id=f"{n + 1}-0")
    redis_conn.xtrim(key, maxlen=3, approximate=False)
    auth.login("acme-agent")
    _status, body = read_stream(client, **{"Last-Event-ID": "1-0"})
    assert [e["event"] for e in events_of(body)] == ["reset"]


def test_the_stream_refuses_strangers_the_master_admin_and_other_roles(app, client, auth,
                                                                       desk, factory):
    status, body = read_stream(client)
    assert status == 401 and "Sign in" in body
    factory.admin("root")
    auth.login("root")
    status, body = read_stream(client)
    assert status == 403 and "members of a workspace" in body
    auth.logout()
    factory.user("translator", "Translator")
    db.session.commit()
    auth.login("translator")
    status, _body = read_stream(client)
    assert status == 403


def test_streams_beyond_the_process_cap_are_refused_with_retry_after(app, client, auth, desk,
                                                                     monkeypatch):
    monkeypatch.setitem(app.config, "LIVE_STREAMS_PER_PROCESS", 1)
    auth.login("acme-agent")
    held = client.get("/inbox/stream", buffered=False)  # open, not read: holds the place
    other = app.test_client()
    AuthActions(other).login("acme-agent")
    response = other.get("/inbox/stream")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    response.close()
    held.close()  # closed before its first byte was read: the place is given back
    from app.views import live

    assert live._open_streams == 0


@pytest.mark.parametrize("cap", ["LIVE_STREAMS_PER_USER", "LIVE_STREAMS_PER_WORKSPACE"])
def test_one_login_or_one_workspace_cannot_take_every_place(app, client, auth, desk,
                                                             monkeypatch, cap):
    """A member opening streams in a loop is refused beyond their own (or their workspace's)
    share of the process, while another workspace's member still gets one."""
    from app.views import live

    monkeypatch.setitem(app.config, "LIVE_STREAMS_PER_PROCESS", 10)
    monkeypatch.setitem(app.config, cap, 2)
    agent = db.session.query(WorkspaceMember).join(WorkspaceMember.user).filter_by(
        username="acme-agent").one()
    # two streams of this login (of this workspace) already open in this process
    monkeypatch.setattr(live, "_streams_by_user", Counter({agent.user_id: 2}))
    monkeypatch.setattr(live, "_streams_by_workspace", Counter({agent.workspace_id: 2}))
    monkeypatch.setattr(live, "_open_streams", 2)
    auth.login("acme-agent")
    refused = client.get("/inbox/stream")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    refused.close()
    auth.logout()
    auth.login("globex-agent")
    answer = client.get("/inbox/stream", buffered=False)
    assert answer.status_code == 200
    answer.close()  # its place given back, the others' counts untouched
    assert live._open_streams == 2
    assert dict(live._streams_by_user) == {agent.user_id: 2}
    assert dict(live._streams_by_workspace) == {agent.workspace_id: 2}


def test_redis_down_neither_fails_the_caller_nor_the_stream(app, client, auth, desk,
                                                            monkeypatch):
    from redis import Redis

    broken = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    monkeypatch.setitem(app.extensions, "relaydesk_redis", broken)
    assert realtime.publish(desk.workspace.id, "typing", {"conversation_id": 1}) is False
    assert realtime._paused_until > time.monotonic()  # the next ones are not even tried
    started = time.monotonic()
    assert realtime.publish(desk.workspace.id, "typing", {"conversation_id": 1}) is False
    assert time.monotonic() - started < 0.05
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    auth.login("acme-agent")
    status, body = read_stream(client)
    assert status == 200 and ": unavailable" in body  # the page retries later


def test_a_webhook_message_is_published_with_its_conversation_after_the_commit(
        app, client, desk, redis_conn):
    (event_id,) = post_green(client, desk.channel, "hello, where is my order?")
    key = realtime.stream_key(desk.workspace.id)
    assert redis_conn.xlen(key) == 0  # stored, not yet handled: nothing to show
    process_event(event_id)
    entries = redis_conn.xrange(key)
    news = [json.loads(f[b"d"]) for _id, f in entries if f[b"e"] == b"message.new"]
    conversation = db.session.query(Conversation).filter_by(chat_id=CUSTOMER_CHAT).one()
    inbound = [n for n in news if n["direction"] == "in"]
    assert inbound == [{
        "conversation_id": conversation.id, "channel_id": desk.channel.id,
        "chat_id": CUSTOMER_CHAT, "direction": "in", "message_id": event_id,
        "source": "message", "kind": "customer", "status": conversation.status,
        "assignee_id": None, "unread": conversation.unread_count,
        "preview": "hello, where is my order?"}]
    # the bot's reply, created by the same job, is published too, never another workspace's
    assert all(n["conversation_id"] == conversation.id for n in news)
    assert redis_conn.xlen(realtime.stream_key(desk.other.id)) == 0


def test_nothing_is_published_when_the_transaction_rolls_back(app, desk, redis_conn):
    realtime.defer(db.session, desk.workspace.id, "typing", {"conversation_id": 1})
    db.session.rollback()
    db.session.commit()
    assert redis_conn.xlen(realtime.stream_key(desk.workspace.id)) == 0
    realtime.defer(db.session, desk.workspace.id, "typing", {"conversation_id": 2})
    db.session.commit()
    assert redis_conn.xlen(realtime.stream_key(desk.workspace.id)) == 1


def test_a_long_preview_is_cut_and_events_are_small(app):
    text = "word " * 200
    assert len(realtime.short(text)) == 160
    with pytest.raises(ValueError):
        realtime.publish_many([(1, "secret.dump", {})])


# --- typing, availability, preferences ------------------------------------------------------

def test_typing_is_published_for_the_members_own_conversations_and_rate_limited(
        app, client, auth, desk, redis_conn):
    (event_id,) = post_green(client, desk.channel, "hello")
    process_event(event_id)
    mine = db.session.query(Conversation).filter_by(workspace_id=desk.workspace.id).first()
    auth.login("acme-agent")
    assert client.post("/inbox/typing", data={"conversation_id": mine.id}).status_code == 204
    again = client.post("/inbox/typing", data={"conversation_id": mine.id})
    assert again.status_code == 429 and again.headers["Retry-After"] == "2"
    typing = [json.loads(f[b"d"]) for _id, f in redis_conn.xrange(
        realtime.stream_key(desk.workspace.id)) if f[b"e"] == b"typing"]
    assert len(typing) == 1 and typing[0]["conversation_id"] == mine.id
    auth.logout()
    auth.login("globex-agent")  # another workspace's conversation: as if it did not exist
    assert client.post("/inbox/typing", data={"conversation_id": mine.id}).status_code == 404
    assert client.post("/inbox/typing", data={"conversation_id": "x1"}).status_code == 400
    assert client.post("/inbox/typing", data={}).status_code == 400


def test_typing_and_the_toggles_need_the_csrf_token(app, client, auth, desk, redis_conn):
    (event_id,) = post_green(client, desk.channel, "hello")
    process_event(event_id)
    mine = db.session.query(Conversation).filter_by(workspace_id=desk.workspace.id).first()
    auth.login("acme-agent")  # signed in first: the sign-in form is not under test here
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/inbox/typing",
                           data={"conversation_id": mine.id}).status_code == 400
        assert client.post("/inbox/availability",
                           data={"availability": "online"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert redis_conn.xlen(realtime.stream_key(desk.workspace.id)) >= 1
    assert not [f for _id, f in redis_conn.xrange(realtime.stream_key(desk.workspace.id))
                if f[b"e"] in (b"typing", b"presence")]
    assert member_of("acme-agent").availability == "away"


def member_of(username: str) -> WorkspaceMember:
    db.session.expire_all()
    from flask_appbuilder.security.sqla.models import User

    user = db.session.query(User).filter_by(username=username).one()
    return db.session.query(WorkspaceMember).filter_by(user_id=user.id).one()


def test_availability_from_the_header_and_the_rest_api(app, client, auth, desk, redis_conn):
    auth.login("acme-agent")
    page = client.get("/conversationview/list/")
    assert b'id="availability-online"' in page.data and b"js/live.js" in page.data
    assert b'id="relaydesk-live"' in page.data
    response = client.post("/inbox/availability", data={"availability": "online"},
                           headers={"Referer": "http://localhost/conversationview/list/"})
    assert response.status_code == 302 and response.location.endswith(
        "/conversationview/list/")
    member = member_of("acme-agent")
    assert member.availability == "online" and member.last_seen_at is not None
    presence = [json.loads(f[b"d"]) for _id, f in redis_conn.xrange(
        realtime.stream_key(desk.workspace.id)) if f[b"e"] == b"presence"]
    assert presence[-1]["availability"] == "online"
    for elsewhere in ("//evil.example/x", "/\\evil.example/x", "https://evil.example/"):
        response = client.post("/inbox/availability",
                               data={"availability": "online", "next": elsewhere})
        assert response.status_code == 302 and "evil" not in response.location
    assert client.post("/inbox/availability",
                       data={"availability": "busy"}).status_code == 302
    assert member_of("acme-agent").availability == "online"  # refused, nothing changed
    # the REST twin
    assert client.get("/api/v1/team/me").json["availability"] == "online"
    response = client.put("/api/v1/team/me", json={"availability": "away",
                                                   "notify_sound": True})
    assert response.status_code == 200, response.data
    assert response.json["availability"] == "away" and response.json["notify_sound"] is True
    bad = client.put("/api/v1/team/me", json={"availability": "asleep", "notify_desktop": "yes",
                                              "password": "x"})
    assert bad.status_code == 422
    assert set(bad.json["message"]) == {"availability", "notify_desktop", "password"}
    assert client.put("/api/v1/team/me", data="[]",
                      content_type="application/json").status_code == 400


def test_the_notification_preferences_are_the_members_own(app, client, auth, desk):
    auth.login("acme-agent")
    response = client.post("/inbox/preferences", data={"sound": "1", "desktop": "1"})
    assert response.status_code == 302
    member = member_of("acme-agent")
    assert member.notify_sound and member.notify_desktop
    assert not member_of("globex-agent").notify_sound
    page = client.get("/conversationview/list/")
    assert b'data-sound="1"' in page.data and b'data-desktop="1"' in page.data
    assert b"sounds/new-message.wav" in page.data
    client.post("/inbox/preferences", data={"sound": "1"})
    member = member_of("acme-agent")
    assert member.notify_sound and not member.notify_desktop
    assert client.get("/static/sounds/new-message.wav").status_code == 200


def test_the_master_admin_has_no_toggles_and_no_rest_self(app, client, auth, desk, factory):
    factory.admin("root")
    auth.login("root")
    assert client.post("/inbox/availability", data={"availability": "online"}).status_code == 403
    assert client.get("/api/v1/team/me").status_code == 403
    page = client.get("/conversationview/list/")
    assert page.status_code == 200 and b"availability-menu" not in page.data
