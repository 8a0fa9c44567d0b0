"""Conversations (app/models/conversations.py, app/conversations.py, app/views/conversations.py):
the row each chat gets and keeps up to date (one upsert where inbound messages are handled and
outbound ones created), migration 0020's backfill, the thread (messages in and out and
dispatch notes, newest first, keyset pages, filters), Logs › Conversations, its REST twins and
their tenancy."""
from __future__ import annotations

import csv
import importlib.util
import io
from datetime import timedelta
from urllib.parse import quote

import prison
import pytest

from app.config import BASE_DIR
from app.extensions import db
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.models import (CommandLog, CommandOrder, Conversation, InboundEvent, OutboundMessage)
from app.models.base import utcnow
from app.store import Touch, preview, touch_conversations
from tests.integration.pipeline_support import (CUSTOMER_CHAT, GROUP_CHAT, PROVIDER_NAME,
                                                REFILL_30, build_desk, days_ago, post_green,
                                                reply_of)

OTHER_GROUP = "120363000000000001@g.us"


def migration():
    path = BASE_DIR / "migrations" / "versions" / "0020_conversations.py"
    spec = importlib.util.spec_from_file_location("migration_0020", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def desk(factory, fake_perfectpanel, fake_greenapi, redis_conn):
    for offset in range(3):
        fake_perfectpanel.add_order(2274209 + offset, user="alice", service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{88231 + offset}",
                                    created=days_ago(5))
    desk = build_desk(factory, fake_perfectpanel.url)
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    factory.member(desk.workspace, "acme-manager", "manager")
    db.session.commit()
    workspace_config.forget()
    return desk


def conversation(chat: str = CUSTOMER_CHAT) -> Conversation | None:
    db.session.expire_all()
    return db.session.query(Conversation).filter_by(chat_id=chat).one_or_none()


def handle(client, desk, text: str, chat: str = CUSTOMER_CHAT, sender: str | None = None):
    (event_id,) = post_green(client, desk.channel, text, chat, sender=sender)
    process_event(event_id)
    db.session.expire_all()
    return event_id


def thread_json(client, pk: int, **args):
    query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in args.items())
    return client.get(f"/api/v1/conversation/{pk}/thread" + (f"?{query}" if query else ""))


# --- the row: one upsert per batch ---------------------------------------------------------

def test_a_handled_message_and_its_reply_make_and_update_the_chats_conversation(
        app, client, desk):
    assert conversation() is None
    event_id = handle(client, desk, "2274209 refill")

    row = conversation()
    assert row is not None and row.workspace_id == desk.workspace.id
    assert (row.kind, row.linked_user_id) == ("customer", desk.user.id)
    assert (row.inbound_count, row.outbound_count) == (1, 1)  # the message and its reply
    reply = reply_of(db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one())
    assert row.last_direction == "out" and row.preview == preview(reply)
    assert row.first_seen_at <= row.last_inbound_at <= row.last_activity_at
    # the dispatch to the provider group is a note of this thread, not a conversation
    assert conversation(GROUP_CHAT) is None

    handle(client, desk, "hello there, anyone?")
    row = conversation()
    assert row.inbound_count == 2 and row.outbound_count >= 1
    assert db.session.query(Conversation).count() == 1


def test_a_message_is_counted_once_however_often_its_job_runs(app, client, desk):
    event_id = handle(client, desk, "2274209 refill")
    before = conversation()
    counts = (before.inbound_count, before.outbound_count)
    assert process_event(event_id) == "skipped"  # already done: nothing to count again
    after = conversation()
    assert (after.inbound_count, after.outbound_count) == counts


def test_group_chats_are_not_customer_conversations(app, client, desk):
    handle(client, desk, "done, thanks", chat=GROUP_CHAT, sender="79001110000@c.us")
    handle(client, desk, "hi all", chat=OTHER_GROUP, sender="79001110001@c.us")
    assert conversation(GROUP_CHAT).kind == "provider"  # a provider route's chat
    group = conversation(OTHER_GROUP)
    assert group.kind == "group" and group.contact_name is None  # a member is not the chat


def test_the_upsert_keeps_the_newest_message_whatever_the_order(app, factory):
    ws = factory.workspace("order")
    channel = factory.channel(ws)
    now = utcnow()
    touch_conversations([Touch(ws.id, channel.id, "c1", now, True, "newest", False, "Ann")])
    touch_conversations([Touch(ws.id, channel.id, "c1", now - timedelta(minutes=5), False,
                               "older  \n reply")])
    db.session.commit()
    row = conversation("c1")
    assert (row.preview, row.last_direction, row.contact_name) == ("newest", "in", "Ann")
    assert row.first_seen_at == now - timedelta(minutes=5) and row.last_activity_at == now
    assert (row.inbound_count, row.outbound_count) == (1, 1)
    assert preview("a\n\n b" + "x" * 300).startswith("a bxx") and len(preview("y" * 300)) == 160


# --- the migration's backfill ----------------------------------------------------------------

def _event(ws, channel, chat, text, at, **kw):
    row = InboundEvent(workspace_id=ws.id, channel_id=channel.id, platform="greenapi",
                       kind=kw.pop("kind", "message"), type="incomingMessageReceived",
                       dedupe_key=f"{chat}-{text}-{at.isoformat()}", chat_id=chat, text=text,
                       received_at=at, payload={}, state="done", **kw)
    db.session.add(row)
    db.session.flush()
    return row


def _outbound(ws, channel, chat, text, at, purpose="reply", event=None):
    row = OutboundMessage(workspace_id=ws.id, channel_id=channel.id, chat_id=chat, text=text,
                          idempotency_key=f"{purpose}:{chat}:{text}", purpose=purpose,
                          state="sent", created_at=at,
                          inbound_event_id=event.id if event is not None else None)
    db.session.add(row)
    db.session.flush()
    return row


def test_the_backfill_fills_conversations_from_the_stored_messages(app, factory):
    ws = factory.workspace("fill")
    channel = factory.channel(ws)
    user = factory.linked_user(ws, username="bea")
    factory.identity(user, channel, chat_id="bea-chat")
    provider = factory.provider(ws, name="Prov")
    factory.route(provider, channel, chat_id="prov@g.us")
    t = utcnow() - timedelta(hours=1)
    _event(ws, channel, "bea-chat", "first", t, sender_name="Bea")
    _event(ws, channel, "bea-chat", None, t + timedelta(minutes=1), kind="status")
    _outbound(ws, channel, "bea-chat", "answer", t + timedelta(minutes=2))
    _event(ws, channel, "bea-chat", "second", t + timedelta(minutes=3), sender_name="Bea")
    _outbound(ws, channel, "prov@g.us", "Order 1 refill", t + timedelta(minutes=4),
              purpose="dispatch")
    _event(ws, channel, "prov@g.us", "done", t + timedelta(minutes=5), is_group=True,
           sender_name="Staff")
    _outbound(ws, channel, "quiet-chat", "broadcast", t + timedelta(minutes=6),
              purpose="broadcast")
    db.session.query(Conversation).delete()
    db.session.commit()

    migration().backfill(db.session.connection())
    db.session.commit()

    bea = conversation("bea-chat")
    assert (bea.kind, bea.linked_user_id, bea.contact_name) == ("customer", user.id, "Bea")
    assert (bea.inbound_count, bea.outbound_count) == (2, 1)  # the status is not a message
    assert (bea.preview, bea.last_direction) == ("second", "in")
    assert bea.first_seen_at == t and bea.last_activity_at == t + timedelta(minutes=3)
    prov = conversation("prov@g.us")
    assert (prov.kind, prov.inbound_count, prov.outbound_count) == ("provider", 1, 0)
    assert prov.contact_name is None
    quiet = conversation("quiet-chat")
    assert (quiet.preview, quiet.last_direction, quiet.inbound_count) == ("broadcast", "out", 0)
    # run again on a filled table: nothing doubles
    migration().backfill(db.session.connection())
    db.session.commit()
    assert conversation("bea-chat").inbound_count == 2
    assert db.session.query(Conversation).filter_by(workspace_id=ws.id).count() == 3


# --- the thread ------------------------------------------------------------------------------

def test_the_thread_interleaves_messages_replies_and_dispatch_notes_newest_first(
        app, client, desk, auth):
    handle(client, desk, "2274209 refill")
    handle(client, desk, "2274210 refill")
    row = conversation()
    auth.login("acme-manager")

    answer = thread_json(client, row.id)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    items = answer.get_json()["items"]
    kinds = [item["kind"] for item in items]
    assert kinds == ["out", "note", "in", "out", "note", "in"], kinds
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    note = items[1]
    assert (note["order_id"], note["action"], note["provider"], note["external_id"]) == (
        "2274210", "refill", PROVIDER_NAME, "EXT-88232")
    log = db.session.query(CommandLog).filter_by(id=note["command_log_id"]).one()
    assert items[2]["command_log_id"] == log.id and items[2]["text"] == "2274210 refill"
    assert items[0]["inbound_event_id"] == log.inbound_event_id  # the reply to it

    page = client.get(f"/conversationview/show/{row.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"Order 2274210 refill → {PROVIDER_NAME} as EXT-88232" in html
    assert f"/commandlogview/show/{log.id}" in html
    assert f"/inboundeventview/show/{log.inbound_event_id}" in html
    assert html.index("2274210 refill") < html.index("2274209 refill")  # newest first


def test_the_thread_filters_by_outcome_and_order(app, client, desk, auth):
    handle(client, desk, "2274209 refill")
    handle(client, desk, "2274210 refill")
    handle(client, desk, "hello")
    row = conversation()
    auth.login("acme-manager")

    only = thread_json(client, row.id, order_id="2274209").get_json()["items"]
    assert [i["kind"] for i in only] == ["out", "note", "in"]
    assert {i.get("order_id") for i in only if i["kind"] == "note"} == {"2274209"}
    assert only[2]["text"] == "2274209 refill"
    outcome = only[2]["outcome"]
    by_outcome = thread_json(client, row.id, outcome=outcome).get_json()["items"]
    assert {i["text"] for i in by_outcome if i["kind"] == "in"} == {"2274209 refill",
                                                                     "2274210 refill"}
    assert thread_json(client, row.id, outcome="no-such").get_json()["items"] == []
    page = client.get(f"/conversationview/show/{row.id}?order_id=999")
    assert "No message of this chat matches these filters" in page.get_data(as_text=True)


def test_the_thread_pages_by_keyset_without_gaps_or_repeats(app, client, factory, auth):
    ws = factory.workspace("busy")
    factory.member(ws, "busy-manager", "manager")
    channel = factory.channel(ws)
    t = utcnow() - timedelta(hours=2)
    made = set()
    for n in range(23):
        at = t + timedelta(seconds=n // 2)  # pairs share a time: the keyset breaks the tie
        made.add(("in", _event(ws, channel, "busy-chat", f"m{n}", at).id))
        if n % 3 == 0:
            made.add(("out", _outbound(ws, channel, "busy-chat", f"r{n}", at).id))
    _event(ws, channel, "another-chat", "not this chat", t)
    touch_conversations([Touch(ws.id, channel.id, "busy-chat", t, True, "x")])
    db.session.commit()
    row = conversation("busy-chat")
    auth.login("busy-manager")

    seen, cursor, pages = [], None, 0
    while True:
        args = {"limit": 5, **({"before": cursor} if cursor else {})}
        answer = thread_json(client, row.id, **args).get_json()
        seen += [(i["kind"], i["id"], i["at"]) for i in answer["items"]]
        pages += 1
        cursor = answer["next"]
        if cursor is None:
            break
    assert pages == 7 and len(seen) == len(made) == 31
    assert {(k, i) for k, i, _at in seen} == made
    assert [at for *_k, at in seen] == sorted((at for *_k, at in seen), reverse=True)
    screen = client.get(f"/conversationview/show/{row.id}?limit=5")
    assert 'id="thread-older"' in screen.get_data(as_text=True)


@pytest.mark.parametrize("query", ["before=yesterday", "before=2026-01-01T00:00:00_7_1",
                                   "limit=0", "limit=abc", "limit=999",
                                   "order_id=%27%3B--", "outcome=" + "x" * 61])
def test_bad_thread_arguments_answer_400(app, client, desk, auth, query):
    handle(client, desk, "hello")
    row = conversation()
    auth.login("acme-manager")
    assert client.get(f"/api/v1/conversation/{row.id}/thread?{query}").status_code == 400
    assert client.get(f"/conversationview/show/{row.id}?{query}").status_code == 400


# --- the list, its export and tenancy ------------------------------------------------------

def test_the_list_filters_by_username_and_exports_csv(app, client, desk, factory, auth):
    handle(client, desk, "2274209 refill")
    stranger = factory.linked_user(desk.workspace, username="zed")
    factory.identity(stranger, desk.channel, chat_id="79009990000@c.us")
    handle(client, desk, "zed here", chat="79009990000@c.us")
    auth.login("acme-manager")

    menu = client.get("/commandlogview/list/").get_data(as_text=True)  # the menu
    assert "/conversationview/list/?_flt_0_kind=customer" in menu
    everyone = client.get("/conversationview/list/?_flt_0_kind=customer").get_data(as_text=True)
    assert CUSTOMER_CHAT in everyone and "79009990000@c.us" in everyone
    alice = client.get(f"/conversationview/list/?_flt_0_linked_user={desk.user.username}")
    html = alice.get_data(as_text=True)
    assert CUSTOMER_CHAT in html and "79009990000@c.us" not in html
    assert "/api/v1/conversation/export.csv" in html

    flt = prison.dumps({"filters": [{"col": "chat_id", "opr": "eq", "value": CUSTOMER_CHAT}]})
    export = client.get(f"/api/v1/conversation/export.csv?q={quote(flt, safe='')}")
    assert export.status_code == 200 and export.is_streamed
    rows = list(csv.reader(io.StringIO(export.get_data(as_text=True))))
    assert len(rows) == 2 and CUSTOMER_CHAT in rows[1]
    assert "chat_id" in rows[0] and "preview" in rows[0]


def test_another_workspaces_conversation_answers_404_like_a_made_up_one(app, client, desk,
                                                                        factory, auth):
    handle(client, desk, "hello")
    theirs = conversation()
    other = factory.workspace("other")
    factory.member(other, "other-manager", "manager")
    auth.login("other-manager")
    for pk in (theirs.id, 987654321):
        assert client.get(f"/conversationview/show/{pk}").status_code == 404
        assert client.get(f"/api/v1/conversation/{pk}/thread").status_code == 404
        assert client.get(f"/api/v1/conversation/{pk}").status_code == 404
    assert client.get("/conversationview/show/abc").status_code == 404
    assert client.get("/conversationview/show/²").status_code == 404  # a digit int() refuses
    listed = client.get("/api/v1/conversation/").get_json()
    assert listed["count"] == 0
    auth.logout()
    auth.login("acme-manager")
    assert client.get(f"/api/v1/conversation/{theirs.id}/thread?limit=²").status_code == 400


def test_an_agent_reads_conversations_and_the_master_admin_sees_every_workspace(
        app, client, desk, factory, auth):
    handle(client, desk, "hello")
    row = conversation()
    factory.member(desk.workspace, "acme-agent", "agent")
    auth.login("acme-agent")
    assert client.get(f"/conversationview/show/{row.id}").status_code == 200
    assert thread_json(client, row.id).status_code == 200
    auth.logout()
    factory.admin("root")
    auth.login("root")
    html = client.get("/adminconversationview/list/").get_data(as_text=True)
    assert CUSTOMER_CHAT in html and "Acme" in html
    page = client.get(f"/adminconversationview/show/{row.id}").get_data(as_text=True)
    assert "/admininboundeventview/show/" in page


def test_dispatch_notes_come_from_the_chats_commands_only(app, client, desk):
    handle(client, desk, "2274209 refill")
    notes = db.session.query(CommandOrder).filter(CommandOrder.provider_id.isnot(None)).count()
    assert notes == 1
    from app.conversations import thread

    items = thread(conversation()).items
    assert [i.kind for i in items].count("note") == 1
