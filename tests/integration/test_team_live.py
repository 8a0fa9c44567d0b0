"""The team (app/team.py): the round-robin (fair, online and present members only, never
another workspace's, safe under concurrent workers) and the per-member figures (Team figures
screen and `/api/v1/team/figures`)."""
from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import timedelta

import pytest
from flask_appbuilder.security.sqla.models import User

from app import realtime, team
from app.extensions import db
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.models import Conversation, WorkspaceMember, WorkspaceSettings
from app.models.base import utcnow
from app.store import Touch, touch_conversations
from tests.integration.pipeline_support import build_desk, post_green


@pytest.fixture
def desk(factory, fake_perfectpanel, redis_conn, monkeypatch):
    monkeypatch.setattr(realtime, "_paused_until", 0.0)
    team.forget_round_robin()
    desk = build_desk(factory, fake_perfectpanel.url)
    for name in ("ann", "bob", "cat"):
        factory.member(desk.workspace, name, "agent")
    other = factory.workspace("globex")
    factory.member(other, "gus", "agent")
    desk.other = other
    db.session.commit()
    workspace_config.forget()
    return desk


def member(username: str) -> WorkspaceMember:
    user = db.session.query(User).filter_by(username=username).one()
    return db.session.query(WorkspaceMember).filter_by(user_id=user.id).one()


def user_id(username: str) -> int:
    return db.session.query(User.id).filter_by(username=username).scalar()


def set_presence(username: str, availability: str, seen_ago: timedelta | None = timedelta()):
    row = member(username)
    row.availability = availability
    row.last_seen_at = None if seen_ago is None else utcnow() - seen_ago
    db.session.commit()


def round_robin(workspace, on: bool = True) -> None:
    settings = db.session.query(WorkspaceSettings).filter_by(workspace_id=workspace.id).one()
    settings.round_robin_enabled = on
    db.session.commit()
    team.forget_round_robin()


def chats(desk, count: int, prefix: str = "7900") -> list[tuple[int, int, str]]:
    keys = [(desk.workspace.id, desk.channel.id, f"{prefix}{n:05d}@c.us") for n in range(count)]
    touch_conversations([Touch(w, c, chat, utcnow(), True, "hi") for w, c, chat in keys])
    db.session.commit()
    return keys


def assignees() -> Counter:
    db.session.expire_all()
    return Counter(a for (a,) in db.session.query(Conversation.assignee_id))


def test_round_robin_is_off_by_default(app, desk):
    set_presence("ann", "online")
    assert team.assign_round_robin(chats(desk, 2)) == []
    assert assignees() == Counter({None: 2})


def test_round_robin_takes_turns_among_present_online_members_only(app, desk, redis_conn):
    round_robin(desk.workspace)
    set_presence("ann", "online")
    set_presence("bob", "online", seen_ago=timedelta(seconds=30))
    set_presence("cat", "away")  # away: never given one
    set_presence("gus", "online")  # another workspace's
    done = team.assign_round_robin(chats(desk, 6))
    assert len(done) == 6
    assert assignees() == Counter({user_id("ann"): 3, user_id("bob"): 3})
    given = [who for _conversation, who in done]
    assert given[0] != given[1] and given[::2] == [given[0]] * 3  # in turn
    updates = [json.loads(f[b"d"]) for _id, f in redis_conn.xrange(
        realtime.stream_key(desk.workspace.id)) if f[b"e"] == b"conversation.updated"]
    assert sorted((u["conversation_id"], u["assignee_id"]) for u in updates) == sorted(done)
    assert redis_conn.xlen(realtime.stream_key(desk.other.id)) == 0


def test_a_member_not_seen_for_two_minutes_is_skipped_and_nobody_present_leaves_it_open(
        app, desk):
    round_robin(desk.workspace)
    set_presence("ann", "online", seen_ago=timedelta(minutes=3))
    set_presence("bob", "online", seen_ago=None)
    assert team.assign_round_robin(chats(desk, 2)) == []
    assert assignees() == Counter({None: 2})
    set_presence("bob", "online")
    assert len(team.assign_round_robin(chats(desk, 2))) == 2  # the same chats, touched again
    assert assignees() == Counter({user_id("bob"): 2})


def test_assigned_resolved_group_and_suspended_logins_are_left_alone(app, desk):
    round_robin(desk.workspace)
    set_presence("ann", "online")
    set_presence("bob", "online")
    keys = chats(desk, 3)
    rows = db.session.query(Conversation).order_by(Conversation.id).all()
    rows[0].assignee_id = user_id("cat")
    rows[1].status = "resolved"
    db.session.commit()
    bob = db.session.get(User, user_id("bob"))
    bob.active = False  # a suspended login takes nothing
    db.session.commit()
    done = team.assign_round_robin(keys)
    assert [who for _c, who in done] == [user_id("ann")]
    assert assignees() == Counter({user_id("cat"): 1, None: 1, user_id("ann"): 1})


def test_the_round_robin_is_fair_under_concurrent_workers(app, desk):
    round_robin(desk.workspace)
    for name in ("ann", "bob", "cat"):
        set_presence(name, "online")
    keys = chats(desk, 24)
    parts = [keys[i::4] for i in range(4)]
    errors = []

    def worker(part):
        try:
            with app.app_context():
                team.assign_round_robin(part)
                db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(part,)) for part in parts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    counts = assignees()
    assert None not in counts and sum(counts.values()) == 24
    assert max(counts.values()) - min(counts.values()) <= 2, counts


def test_a_webhook_message_is_assigned_by_the_worker_after_the_batch(app, client, desk):
    round_robin(desk.workspace)
    set_presence("bob", "online")
    (event_id,) = post_green(client, desk.channel, "hello, anyone there?",
                             chat="79009998877@c.us")
    process_event(event_id)
    row = db.session.query(Conversation).filter_by(chat_id="79009998877@c.us").one()
    assert row.assignee_id == user_id("bob")
    assert member("bob").last_assigned_at is not None


def test_round_robin_is_a_manager_setting(app, client, auth, desk, factory):
    factory.member(desk.workspace, "boss", "manager")
    auth.login("boss")
    settings = db.session.query(WorkspaceSettings).filter_by(
        workspace_id=desk.workspace.id).one()
    page = client.get(f"/workspacesettingsview/edit/{settings.id}")
    assert page.status_code == 200 and b"round_robin_enabled" in page.data


# --- figures ----------------------------------------------------------------------------------

def conversation(desk, chat, who, opened_ago, responded_after=None, resolved_after=None,
                 status="open", channel=None):
    now = utcnow()
    opened = now - opened_ago
    channel = channel or desk.channel
    row = Conversation(
        workspace_id=channel.workspace_id, channel_id=channel.id, chat_id=chat,
        assignee_id=user_id(who) if who else None, status=status, opened_at=opened,
        first_response_at=opened + responded_after if responded_after else None,
        resolved_at=opened + resolved_after if resolved_after else None)
    db.session.add(row)
    return row


@pytest.fixture
def worked(desk, factory):
    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    conversation(desk, "c1", "ann", 2 * hour, minute, 10 * minute, status="resolved")
    conversation(desk, "c2", "ann", 3 * hour, 3 * minute, 30 * minute, status="resolved")
    conversation(desk, "c3", "ann", hour, 8 * minute)
    conversation(desk, "c4", "bob", 5 * minute)  # no reply yet
    conversation(desk, "c5", "bob", timedelta(days=40), minute, hour, status="resolved")
    conversation(desk, "c6", None, hour)
    globex = factory.channel(desk.other, name="Globex WhatsApp", kind="greenapi",
                             api_url="http://127.0.0.1:9", webhook_token="globex-hook")
    conversation(desk, "g1", "gus", hour, minute, minute, status="resolved", channel=globex)
    db.session.commit()
    return desk


def test_figures_per_member_over_a_period(app, worked):
    today = utcnow().date()
    found = {f.name: f.as_json() for f in team.figures(
        worked.workspace.id, *team_period(today - timedelta(days=29), today))}
    assert set(found) == {"ann Test", "bob Test", "cat Test"}
    ann = found["ann Test"]
    assert ann["open_conversations"] == 1
    assert ann["first_response"] == {"count": 3, "median_seconds": 180.0,
                                     "average_seconds": 240.0}
    assert ann["resolution"] == {"count": 2, "median_seconds": 1200.0,
                                 "average_seconds": 1200.0}
    bob = found["bob Test"]  # c5 was opened and resolved 40 days ago: outside the period
    assert bob["open_conversations"] == 1
    assert bob["first_response"]["count"] == 0 and bob["first_response"]["median_seconds"] is None
    assert bob["resolution"]["count"] == 0
    older = {f.name: f.as_json() for f in team.figures(
        worked.workspace.id, *team_period(today - timedelta(days=45), today - timedelta(days=35)))}
    assert older["bob Test"]["resolution"] == {"count": 1, "median_seconds": 3600.0,
                                               "average_seconds": 3600.0}


def team_period(first, last):
    from datetime import datetime, time

    return (datetime.combine(first, time.min),
            datetime.combine(last + timedelta(days=1), time.min))


def test_the_figures_screen_and_json(app, client, auth, worked):
    auth.login("ann")
    page = client.get("/team/figures/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "ann Test" in text and "gus" not in text
    assert "3 min" in text and "20 min" in text
    data = client.get("/api/v1/team/figures").json
    assert {m["name"] for m in data["members"]} == {"ann Test", "bob Test", "cat Test"}
    assert client.get("/api/v1/team/figures?from=2026-13-01").status_code == 400
    assert client.get("/api/v1/team/figures?from=2020-01-01&to=2026-01-01").status_code == 400
    for bad in ("to=9999-12-31", "from=0001-01-01", "from=%D9%A2%D9%A0", "to=" + "9" * 500):
        assert client.get(f"/api/v1/team/figures?{bad}").status_code == 400, bad
        assert client.get(f"/team/figures/?{bad}").status_code == 200, bad
    bad = client.get("/team/figures/?from=yesterday&to=2020-01-01")
    assert bad.status_code == 200
    text = bad.get_data(as_text=True)
    assert 'id="figures-from-error"' in text and 'value="yesterday"' in text
    auth.logout()
    auth.login("gus")  # another workspace: its own figures only
    data = client.get("/api/v1/team/figures").json
    assert [m["name"] for m in data["members"]] == ["gus Test"]
    assert data["members"][0]["resolution"]["count"] == 1
