"""The inbox (app/inbox.py, app/views/inbox.py, issue 16): the list and its filters, a
conversation's page and JSON, agent replies through the outbound machinery (double click sends
once), human takeover (the bot stays quiet; resumes on resolve or after the idle time), unread
counts and reopening in the workers' upsert, internal notes and @mentions, quick replies, Meta's
24-hour window, assignment rules, the plan gate, tenancy and bad input."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.inbox import failure_words
from app.jobs import workspace_config
from app.jobs.events import process_event
from app.jobs.outbound import send_outbound
from app.models import (CommandLog, Conversation, ConversationMention, ConversationNote,
                        InboundEvent, LinkedUser, OutboundMessage, QuickReply,
                        WorkspaceSettings)
from app.models.base import utcnow
from app.store import Touch, touch_conversations
from tests.integration.pipeline_support import (CUSTOMER_CHAT, REFILL_30, build_desk, days_ago,
                                                post_green)

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def desk(factory, fake_perfectpanel, fake_greenapi, redis_conn, auth):
    for offset in range(3):
        fake_perfectpanel.add_order(2274209 + offset, user="alice", service_name=REFILL_30,
                                    status="completed", external_id=f"EXT-{88231 + offset}",
                                    created=days_ago(5))
    desk = build_desk(factory, fake_perfectpanel.url)
    desk.channel.api_url = fake_greenapi.url
    desk.channel.id_instance = fake_greenapi.id_instance
    desk.channel.api_token = fake_greenapi.api_token
    desk.manager = factory.member(desk.workspace, "acme-manager", "manager")
    desk.agent = factory.member(desk.workspace, "acme-agent", "agent")
    desk.user.name = "Alice Smith"
    desk.user.tags = "vip, reseller"
    db.session.commit()
    workspace_config.forget()
    auth.login("acme-manager")
    return desk


def handle(client, desk, text: str, chat: str = CUSTOMER_CHAT) -> int:
    (event_id,) = post_green(client, desk.channel, text, chat)
    process_event(event_id)
    db.session.expire_all()
    return event_id


def conversation(chat: str = CUSTOMER_CHAT) -> Conversation:
    db.session.expire_all()
    return db.session.query(Conversation).filter_by(chat_id=chat).one()


def log_of(event_id: int) -> CommandLog:
    return db.session.query(CommandLog).filter_by(inbound_event_id=event_id).one()


def bot_replies(chat: str = CUSTOMER_CHAT) -> list[OutboundMessage]:
    db.session.expire_all()
    return (db.session.query(OutboundMessage)
            .filter_by(chat_id=chat, purpose="reply").order_by(OutboundMessage.id).all())


def api(pk) -> str:
    return f"/inbox/api/conversations/{pk}"


def reply(client, pk, text="Hello from the team", client_id="click-000001"):
    return client.post(api(pk) + "/reply", json={"text": text, "client_id": client_id})


# --- the upsert: unread, reopen, idle resume ---------------------------------------------------

def test_new_messages_count_unread_and_opening_the_page_reads_them(client, desk):
    handle(client, desk, "hello there")
    handle(client, desk, "anyone?")
    row = conversation()
    assert row.unread_count == 2 and row.status == "open" and row.opened_at is not None
    listed = client.get("/inbox/api/conversations").json["items"]
    assert [i["id"] for i in listed] == [row.id] and listed[0]["unread_count"] == 2
    assert client.get(f"/inbox/{row.id}").status_code == 200
    assert conversation().unread_count == 0


def test_a_resolved_conversation_reopens_on_a_new_message(client, desk):
    handle(client, desk, "hello there")
    row = conversation()
    assert client.post(api(row.id) + "/status", json={"status": "resolved"}).status_code == 200
    row = conversation()
    assert row.status == "resolved" and row.resolved_at is not None and row.unread_count == 0
    first_opened = row.opened_at
    handle(client, desk, "me again")
    row = conversation()
    assert row.status == "open" and row.resolved_at is None and row.first_response_at is None
    assert row.opened_at > first_opened and row.unread_count == 1


def test_a_pending_conversation_is_open_again_when_the_customer_writes(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    client.post(api(pk) + "/status", json={"status": "pending"})
    assert conversation().status == "pending"
    handle(client, desk, "here is the link")
    assert conversation().status == "open"


# --- human takeover ----------------------------------------------------------------------------

def test_an_agent_reply_goes_out_pauses_the_bot_and_assigns(client, auth, desk, fake_greenapi):
    handle(client, desk, "hello there")
    pk = conversation().id
    auth.logout()
    auth.login("acme-agent")
    response = reply(client, pk)
    assert response.status_code == 200, response.json
    row = conversation()
    assert row.bot_paused_at is not None and row.bot_paused_by_id == desk.agent.id
    assert row.assignee_id == desk.agent.id and row.first_response_at is not None
    assert row.last_agent_reply_at is not None and response.json["conversation"]["bot_paused"]
    message = db.session.get(OutboundMessage, response.json["message_id"])
    assert message.purpose == "agent" and message.text == "Hello from the team"
    assert send_outbound(message.id) == "sent"
    assert any("Hello from the team" in str(m) for m in fake_greenapi.sent), fake_greenapi.sent
    db.session.expire_all()
    items = client.get(api(pk) + "/messages").json["items"]
    mine = [i for i in items if i["kind"] == "out" and i["purpose"] == "agent"]
    assert mine and mine[0]["delivery"]["code"] == "sent"


def test_a_double_click_sends_once(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    first, second = reply(client, pk), reply(client, pk)
    assert first.status_code == second.status_code == 200
    assert first.json["message_id"] == second.json["message_id"]
    assert first.json["new"] is True and second.json["new"] is False
    assert db.session.query(OutboundMessage).filter_by(purpose="agent").count() == 1
    assert conversation().outbound_count == 1  # "hello there" got no bot reply
    other = reply(client, pk, client_id="click-000002")
    assert other.json["message_id"] != first.json["message_id"]


def test_while_paused_a_command_is_stored_and_not_run_until_resolved(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    before = len(bot_replies())
    assert reply(client, pk).status_code == 200
    event_id = handle(client, desk, "2274209 refill")
    log = log_of(event_id)
    assert log.outcome == "handled_by_person"
    assert len(bot_replies()) == before
    assert conversation().unread_count == 1
    client.post(api(pk) + "/status", json={"status": "resolved"})
    row = conversation()
    assert row.bot_paused_at is None
    event_id = handle(client, desk, "2274210 refill")
    assert log_of(event_id).outcome != "handled_by_person"
    assert len(bot_replies()) == before + 1


def test_the_bot_resumes_after_the_idle_time(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    reply(client, pk)
    row = conversation()
    row.last_agent_reply_at = utcnow() - timedelta(minutes=31)
    row.bot_paused_at = row.last_agent_reply_at
    db.session.commit()
    event_id = handle(client, desk, "2274209 refill")
    assert log_of(event_id).outcome != "handled_by_person"
    assert conversation().bot_paused_at is None  # the upsert ended the takeover


def test_idle_time_zero_waits_for_resolve(client, desk):
    settings = db.session.query(WorkspaceSettings).filter_by(
        workspace_id=desk.workspace.id).one()
    settings.inbox_resume_minutes = 0
    db.session.commit()
    workspace_config.forget()
    handle(client, desk, "hello there")
    pk = conversation().id
    reply(client, pk)
    row = conversation()
    row.last_agent_reply_at = row.bot_paused_at = utcnow() - timedelta(days=3)
    db.session.commit()
    event_id = handle(client, desk, "2274209 refill")
    assert log_of(event_id).outcome == "handled_by_person"
    assert conversation().bot_paused_at is not None


def test_take_over_and_give_back_by_hand(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    state = client.post(api(pk) + "/takeover").json
    assert state["conversation"]["bot_paused"] and state["conversation"]["assignee_id"] == \
        desk.manager.id
    assert log_of(handle(client, desk, "2274209 refill")).outcome == "handled_by_person"
    state = client.post(api(pk) + "/giveback").json
    assert not state["conversation"]["bot_paused"]
    assert log_of(handle(client, desk, "2274210 refill")).outcome != "handled_by_person"


def test_the_upsert_stays_one_statement_per_batch(app, desk, monkeypatch):
    from app.jobs import bulk

    calls = []
    real = bulk.insert_with_template
    monkeypatch.setattr("app.store.insert_with_template",
                        lambda *a, **k: calls.append(len(a[2])) or real(*a, **k))
    now = utcnow()
    touch_conversations([Touch(desk.workspace.id, desk.channel.id, f"7900{i}@c.us", now, True,
                               "hi", unread=True) for i in range(5)])
    db.session.commit()
    assert calls == [5]
    rows = db.session.query(Conversation).filter(Conversation.chat_id.like("7900%")).all()
    assert len(rows) == 5 and all(r.unread_count == 1 and r.opened_at == now for r in rows)


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("body,status", [
    ({"text": "", "client_id": "click-000001"}, 400),
    ({"text": "   ", "client_id": "click-000001"}, 400),
    ({"text": "x" * 4097, "client_id": "click-000001"}, 400),
    ({"text": "a\x00b", "client_id": "click-000001"}, 400),
    ({"text": "hello", "client_id": "short"}, 400),
    ({"text": "hello", "client_id": "../../etc"}, 400),
    ({"text": 42, "client_id": "click-000001"}, 400),
    ({"text": "/nosuchshortcut", "client_id": "click-000001"}, 400),
])
def test_bad_replies_are_refused_and_write_nothing(client, desk, body, status):
    handle(client, desk, "hello there")
    pk = conversation().id
    response = client.post(api(pk) + "/reply", json=body)
    assert response.status_code == status and response.json["message"], response.json
    assert db.session.query(OutboundMessage).filter_by(purpose="agent").count() == 0
    assert conversation().bot_paused_at is None


def test_the_longest_reply_is_accepted(client, desk):
    handle(client, desk, "hello there")
    assert reply(client, conversation().id, text="y" * 4096).status_code == 200


@pytest.mark.parametrize("path", ["", "/messages", "/quick_reply?shortcut=x"])
@pytest.mark.parametrize("pk", ["999999999", "abc", "1.5", "١٢"])
def test_unknown_conversations_are_404(client, desk, path, pk):
    response = client.get(api(pk) + path)
    assert response.status_code == 404 and response.json["message"]


@pytest.mark.parametrize("args", ["view=everyone", "status=closed", "channel=x", "before=yes",
                                  "limit=0", "limit=101", "q=" + "x" * 101, "tag=" + "t" * 61])
def test_bad_list_arguments_are_400(client, desk, args):
    response = client.get("/inbox/api/conversations?" + args)
    assert response.status_code == 400 and response.json["message"]


def test_bad_status_and_thread_cursor_are_400(client, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    assert client.post(api(pk) + "/status", json={"status": "closed"}).status_code == 400
    assert client.get(api(pk) + "/messages?after=nope").status_code == 400
    assert client.post(api(pk) + "/note", json={"text": ""}).status_code == 400
    assert client.post(api(pk) + "/note", json=["x"]).status_code == 400


def test_hostile_html_stays_text(client, desk):
    handle(client, desk, HOSTILE)
    pk = conversation().id
    assert client.post(api(pk) + "/note", json={"text": HOSTILE}).status_code == 200
    page = client.get(f"/inbox/{pk}").get_data(as_text=True)
    assert "<script>alert" not in page and "<img src=x" not in page
    items = client.get(api(pk) + "/messages").json["items"]
    assert sum(1 for i in items if i["text"] == HOSTILE) == 2


# --- the list ------------------------------------------------------------------------------

def test_list_filters_views_status_channel_tag_and_search(client, factory, desk):
    handle(client, desk, "my order is late")
    handle(client, desk, "hello", chat="79007770000@c.us")
    alice = conversation()
    other = conversation("79007770000@c.us")
    ids = lambda query: [i["id"] for i in client.get(  # noqa: E731
        "/inbox/api/conversations?" + query).json["items"]]
    assert ids("") == [other.id, alice.id]  # newest activity first
    assert ids("view=unassigned") == [other.id, alice.id]
    client.post(api(alice.id) + "/assign", json={"assignee_id": desk.manager.id})
    assert ids("view=mine") == [alice.id] and ids("view=unassigned") == [other.id]
    client.post(api(other.id) + "/status", json={"status": "pending"})
    assert ids("status=pending") == [other.id] and ids("status=open") == [alice.id]
    assert ids(f"channel={desk.channel.id}") == [other.id, alice.id]
    assert ids("channel=999999") == []
    assert ids("tag=vip") == [alice.id] and ids("tag=reseller") == [alice.id]
    assert ids("tag=vi") == []
    assert ids("q=LATE") == [alice.id] and ids("q=nothing-like-it") == []
    assert ids("q=50%25") == []  # % is literal
    reply(client, other.id, text="your refill is queued")
    assert ids("q=refill%20is%20queued") == [other.id]
    page = client.get("/inbox/api/conversations?limit=1").json
    assert len(page["items"]) == 1 and page["next"]
    rest = client.get("/inbox/api/conversations?limit=1&before=" + page["next"]).json
    assert [i["id"] for i in rest["items"]] != [i["id"] for i in page["items"]]
    assert rest["next"] is None
    assert client.get("/inbox/").status_code == 200


def test_provider_groups_are_not_in_the_inbox(client, desk):
    now = utcnow()
    touch_conversations([Touch(desk.workspace.id, desk.channel.id, desk.route.chat_id, now,
                               True, "done", is_group=True, unread=True)])
    db.session.commit()
    row = conversation(desk.route.chat_id)
    assert row.kind == "provider"
    assert client.get(api(row.id)).status_code == 404
    assert row.id not in [i["id"] for i in client.get("/inbox/api/conversations").json["items"]]


# --- notes and mentions --------------------------------------------------------------------

def test_a_note_is_never_sent_and_mentions_a_teammate(client, auth, factory, desk):
    outsider = factory.member(factory.workspace("other"), "other-manager", "manager")
    handle(client, desk, "hello there")
    pk = conversation().id
    sent_before = db.session.query(OutboundMessage).count()
    response = client.post(api(pk) + "/note", json={
        "text": "@acme-agent can you check? @other-manager @nobody @acme-manager"})
    assert response.status_code == 200
    assert db.session.query(OutboundMessage).count() == sent_before
    mentions = db.session.query(ConversationMention).all()
    assert [m.user_id for m in mentions] == [desk.agent.id]  # not outsiders, not the author
    assert outsider.id not in [m.user_id for m in mentions]
    note = db.session.query(ConversationNote).one()
    items = client.get(api(pk) + "/messages").json["items"]
    assert [i for i in items if i["kind"] == "team_note"][0]["id"] == note.id
    auth.logout()
    auth.login("acme-agent")
    listed = client.get("/inbox/api/conversations?view=mentions").json
    assert [i["id"] for i in listed["items"]] == [pk] and listed["mentions"] == 1
    assert "inbox-mention-count" in client.get("/inbox/").get_data(as_text=True)
    client.get(f"/inbox/{pk}")  # opening it: seen
    listed = client.get("/inbox/api/conversations?view=mentions").json
    assert listed["items"] == [] and listed["mentions"] == 0


# --- quick replies -------------------------------------------------------------------------

def test_a_quick_reply_expands_with_its_variables(client, desk):
    db.session.add(QuickReply(workspace_id=desk.workspace.id, shortcut="delay", title="Delay",
                              body="Hi {name} ({username}), {agent} of {workspace} here.",
                              enabled=True))
    db.session.commit()
    handle(client, desk, "hello there")
    pk = conversation().id
    suggestions = client.get("/inbox/api/quick_replies?prefix=de").json["items"]
    assert suggestions == [{"shortcut": "delay", "title": "Delay"}]
    rendered = client.get(api(pk) + "/quick_reply?shortcut=delay").json["text"]
    assert rendered.startswith("Hi Alice Smith (alice), ") and \
        rendered.endswith(" of Acme here."), rendered
    response = reply(client, pk, text="/delay")
    message = db.session.get(OutboundMessage, response.json["message_id"])
    assert message.text == rendered
    assert client.get(api(pk) + "/quick_reply?shortcut=nope").status_code == 404


# --- Meta's 24-hour window -----------------------------------------------------------------

def meta_conversation(factory, desk, last_inbound_hours_ago: float) -> Conversation:
    channel = factory.channel(desk.workspace, name="Meta", kind="meta")
    at = utcnow() - timedelta(hours=last_inbound_hours_ago)
    touch_conversations([Touch(desk.workspace.id, channel.id, "15550001111", at, True, "hi",
                               unread=True)])
    db.session.commit()
    return conversation("15550001111")


def test_meta_free_text_is_refused_outside_the_window(client, factory, desk):
    row = meta_conversation(factory, desk, 25)
    state = client.get(api(row.id)).json
    assert state["window"]["open"] is False and "24 hours" in state["window"]["message"]
    response = reply(client, row.id)
    assert response.status_code == 409 and "24 hours" in response.json["message"]
    assert db.session.query(OutboundMessage).filter_by(purpose="agent").count() == 0
    page = client.get(f"/inbox/{row.id}").get_data(as_text=True)
    assert "24 hours" in page


def test_meta_free_text_is_allowed_inside_the_window(client, factory, desk):
    row = meta_conversation(factory, desk, 23)
    assert client.get(api(row.id)).json["window"]["open"] is True
    assert reply(client, row.id).status_code == 200


def test_meta_131047_is_said_in_words():
    assert "24-hour window" in failure_words("131047", "Meta 131047: Re-engagement message")
    assert "disabled" in failure_words("channel_disabled", None)


# --- assignment, plan, tenancy -------------------------------------------------------------

def test_assignment_rules(client, auth, factory, desk):
    outsider = factory.member(factory.workspace("other"), "other-manager", "manager")
    handle(client, desk, "hello there")
    pk = conversation().id
    assert client.post(api(pk) + "/assign", json={"assignee_id": desk.agent.id}).status_code \
        == 200
    assert conversation().assignee_id == desk.agent.id
    assert client.post(api(pk) + "/assign", json={"assignee_id": outsider.id}).status_code \
        == 400
    assert client.post(api(pk) + "/assign", json={"assignee_id": "x"}).status_code == 400
    auth.logout()
    auth.login("acme-agent")
    assert client.post(api(pk) + "/assign", json={"assignee_id": desk.manager.id}).status_code \
        == 403
    assert client.post(api(pk) + "/assign", json={"assignee_id": None}).status_code == 200
    assert client.post(api(pk) + "/assign", json={"assignee_id": desk.agent.id}).status_code \
        == 200
    assert conversation().assignee_id == desk.agent.id


def test_a_plan_without_the_inbox_is_told_to_upgrade(client, factory, desk):
    plan = factory.plan(modules="api")
    desk.workspace.plan_id = plan.id
    db.session.commit()
    handle(client, desk, "hello there")
    pk = conversation().id
    page = client.get("/inbox/").get_data(as_text=True)
    assert "inbox-refusal" in page and "does not include" in page
    response = client.get("/inbox/api/conversations")
    assert response.status_code == 403 and "Upgrade" in response.json["message"]
    assert reply(client, pk).status_code == 403


def test_another_workspaces_conversation_is_404_everywhere(client, auth, factory, desk):
    handle(client, desk, "hello there")
    pk = conversation().id
    other, other_manager = factory.populated_workspace("bravo")
    auth.logout()
    auth.login(other_manager.username)
    assert client.get(f"/inbox/{pk}").status_code == 404
    for path in ("", "/messages", "/quick_reply?shortcut=x"):
        assert client.get(api(pk) + path).status_code == 404
    for path, body in (("/reply", {"text": "x", "client_id": "click-000009"}),
                       ("/note", {"text": "x"}), ("/status", {"status": "resolved"}),
                       ("/assign", {"assignee_id": other_manager.id}), ("/takeover", {}),
                       ("/giveback", {})):
        assert client.post(api(pk) + path, json=body).status_code == 404, path
    assert pk not in [i["id"] for i in client.get("/inbox/api/conversations").json["items"]]
    row = conversation()
    assert row.status == "open" and row.bot_paused_at is None
    assert db.session.query(ConversationNote).count() == 0


def test_signed_out_json_is_refused(client, auth, desk):
    handle(client, desk, "hello there")
    auth.logout()
    assert client.get("/inbox/api/conversations").status_code in (401, 403)
    assert client.post(api(conversation().id) + "/takeover").status_code in (401, 403)


def test_the_rest_twin_shows_the_inbox_fields(client, desk):
    handle(client, desk, "hello there")
    row = conversation()
    reply(client, row.id)
    shown = client.get(f"/api/v1/conversation/{row.id}").json["result"]
    for field in ("status", "assignee_id", "unread_count", "bot_paused_at", "opened_at",
                  "first_response_at", "last_agent_reply_at", "resolved_at"):
        assert field in shown, field
    assert shown["bot_paused_at"] is not None
    response = client.put(f"/api/v1/conversation/{row.id}", json={"status": "resolved"})
    assert response.status_code in (403, 404, 405)  # read-only: no edit permission
    assert conversation().status == "open"


def test_csrf_is_required_on_the_posts(app, client, desk, monkeypatch):
    handle(client, desk, "hello there")
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post(api(conversation().id) + "/takeover", json={})
    assert response.status_code == 400
    assert conversation().bot_paused_at is None


def test_the_thread_is_oldest_first_and_after_gives_what_is_newer(client, desk):
    for n in range(4):
        handle(client, desk, f"message {n}")
    pk = conversation().id
    page = client.get(api(pk) + "/messages").json
    texts = [i["text"] for i in page["items"] if i["kind"] == "in"]
    assert texts == [f"message {n}" for n in range(4)]
    cursor = page["items"][-1]["cursor"]
    assert client.get(api(pk) + "/messages?after=" + cursor).json["items"] == []
    handle(client, desk, "message 4")
    newer = client.get(api(pk) + "/messages?after=" + cursor).json["items"]
    assert [i["text"] for i in newer if i["kind"] == "in"] == ["message 4"]


def test_linked_contact_tags_only_match_whole_tags(client, factory, desk):
    other = factory.linked_user(desk.workspace, username="bob", tags="vipers")
    factory.identity(other, desk.channel, chat_id="79008880000@c.us")
    handle(client, desk, "hi", chat="79008880000@c.us")
    handle(client, desk, "hello")
    ids = [i["id"] for i in client.get("/inbox/api/conversations?tag=vip").json["items"]]
    assert ids == [conversation().id]
    ids = [i["id"] for i in client.get("/inbox/api/conversations?tag=vipers").json["items"]]
    assert ids == [conversation("79008880000@c.us").id]
    assert db.session.query(LinkedUser).count() >= 2
    assert db.session.query(InboundEvent).count() >= 2


def test_a_search_matching_many_messages_walks_the_list_instead(client, desk, monkeypatch):
    """Past SEARCH_MATCHES matching messages the search tests each conversation (EXISTS):
    the same answers either way."""
    handle(client, desk, "my order is late")
    handle(client, desk, "order is fine", chat="79007770000@c.us")
    handle(client, desk, "hello", chat="79007771111@c.us")
    ids = lambda q: [i["id"] for i in client.get(  # noqa: E731
        "/inbox/api/conversations?q=" + q).json["items"]]
    few = ids("order"), ids("late"), ids("nothing-like-it"), ids("79007771111")
    monkeypatch.setattr("app.inbox.SEARCH_MATCHES", 1)
    assert (ids("order"), ids("late"), ids("nothing-like-it"), ids("79007771111")) == few
    assert len(few[0]) == 2 and len(few[1]) == 1 and few[2] == [] and len(few[3]) == 1


def test_the_idle_time_travels_in_the_workspace_file(desk):
    from app.workspace_file.errors import WorkspaceFileInvalid
    from app.workspace_file.exporter import export_workspace
    from app.workspace_file.importer import import_text

    head = "workspace:\n  slug: idle\n  name: Idle\n"
    import_text(head + "settings:\n  inbox:\n    resume_minutes: 0\n", "idle.yaml")
    row = db.session.query(WorkspaceSettings).join(
        WorkspaceSettings.workspace).filter_by(slug="idle").one()
    assert row.inbox_resume_minutes == 0
    assert "resume_minutes: 0" in export_workspace("idle")
    with pytest.raises(WorkspaceFileInvalid) as refused:
        import_text(head + "settings:\n  inbox:\n    resume_minutes: -1\n", "idle.yaml")
    assert "settings.inbox.resume_minutes" in str(refused.value)
