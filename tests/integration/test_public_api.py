"""The public API's contract (docs/contracts.md "Public API"): contacts CRUD, sending a text,
reading a conversation, with API keys, per-plan rate limits and the documented error shape —
over HTTP through the test client, as an integration would call it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.extensions import db
from app.jobs.outbound import send_outbound
from app.models import Conversation, LinkedUser, OutboundMessage
from app.models.base import utcnow
from tests.integration.pipeline_support import post_green

CONTACT_KEYS = {"id", "name", "phone", "email", "tags", "customFields", "optedOut", "createdAt",
                "updatedAt"}


@pytest.fixture
def acme_key(factory, acme):
    return {"X-API-Key": factory.api_key(factory.member(acme, "acme-manager"))}


@pytest.fixture
def agent_key(factory, acme):
    return {"X-API-Key": factory.api_key(factory.member(acme, "acme-agent", role="agent"))}


@pytest.fixture
def globex(factory):
    workspace = factory.workspace("globex")
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "globex-manager"))}
    return workspace, key


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.data
    body = response.get_json()
    assert body["error"] is True and body["code"] == code and body["message"], body
    return body


# --- authentication and the error shape -----------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/contacts", "/api/v1/contacts/1", "/api/v1/messages/1"])
def test_no_key_and_a_wrong_key_answer_401_in_the_documented_shape(client, acme, path):
    assert_error(client.get(path), 401, "UNAUTHORIZED")
    assert_error(client.get(path, headers={"X-API-Key": "rdk_not-a-key"}), 401, "UNAUTHORIZED")
    assert_error(client.post("/api/v1/messages/send", json={"to": "1", "text": "x"}), 401,
                 "UNAUTHORIZED")


def test_a_browser_session_is_not_enough(client, manager):
    """No cookie-authenticated calls: another site cannot use a signed-in manager's session."""
    assert_error(client.get("/api/v1/contacts"), 401, "UNAUTHORIZED")


def test_the_master_admin_has_no_workspace_here(client, factory, acme):
    key = {"X-API-Key": factory.api_key(factory.admin())}
    body = assert_error(client.get("/api/v1/contacts", headers=key), 403, "FORBIDDEN")
    assert "workspace" in body["message"]


def test_a_plan_without_the_api_refuses(client, factory):
    plan = factory.plan(modules="tickets")
    workspace = factory.workspace("noapi", plan_id=plan.id)
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "noapi-manager"))}
    body = assert_error(client.get("/api/v1/contacts", headers=key), 403, "FORBIDDEN")
    assert plan.name in body["message"]


def test_every_counted_answer_carries_the_rate_limit_and_the_429_is_shaped(client, factory):
    plan = factory.plan(api_requests_per_minute=2)
    workspace = factory.workspace("tiny", plan_id=plan.id)
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "tiny-manager"))}
    first = client.get("/api/v1/contacts", headers=key)
    assert first.status_code == 200
    assert first.headers["X-RateLimit-Limit"] == "2"
    assert first.headers["X-RateLimit-Remaining"] == "1"
    client.get("/api/v1/contacts", headers=key)
    refused = client.get("/api/v1/contacts", headers=key)
    assert_error(refused, 429, "RATE_LIMITED")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


# --- contacts ------------------------------------------------------------------------------------

def test_contacts_crud_round_trip(client, acme, acme_key):
    created = client.post("/api/v1/contacts", headers=acme_key, json={
        "name": "Ana Souza", "phone": "+55 11 91234-5678", "email": "Ana@Example.com",
        "tags": ["vip", "reseller"], "customFields": {"panel_balance": 12.5, "city": "Recife"}})
    assert created.status_code == 201, created.data
    contact = created.get_json()
    assert CONTACT_KEYS <= set(contact)
    assert contact["phone"] == "5511912345678" and contact["email"] == "ana@example.com"
    assert contact["tags"] == ["vip", "reseller"] and contact["optedOut"] is False
    assert contact["customFields"] == {"panel_balance": 12.5, "city": "Recife"}
    assert contact["createdAt"].endswith("Z")
    row = db.session.get(LinkedUser, contact["id"])
    assert row.workspace_id == acme.id and row.source == "api" and row.username is None

    one = client.get(f"/api/v1/contacts/{contact['id']}", headers=acme_key)
    assert one.status_code == 200 and one.get_json() == contact

    updated = client.put(f"/api/v1/contacts/{contact['id']}", headers=acme_key,
                         json={"optedOut": True, "tags": []})
    assert updated.status_code == 200
    body = updated.get_json()
    assert body["optedOut"] is True and body["tags"] == [] and body["name"] == "Ana Souza"
    db.session.expire_all()
    assert db.session.get(LinkedUser, contact["id"]).opted_out_at is not None

    assert client.delete(f"/api/v1/contacts/{contact['id']}", headers=acme_key).status_code == 204
    assert_error(client.get(f"/api/v1/contacts/{contact['id']}", headers=acme_key), 404,
                 "NOT_FOUND")


def test_the_list_pages_searches_and_filters_by_tag(client, factory, acme, acme_key):
    for n in range(25):
        factory.linked_user(acme, f"user{n:02d}", name=f"Customer {n:02d}",
                            tags="vip" if n % 5 == 0 else "regular, vip-not")
    page = client.get("/api/v1/contacts?page=2&perPage=10", headers=acme_key).get_json()
    assert (page["page"], page["perPage"], page["total"], len(page["data"])) == (2, 10, 25, 10)
    assert client.get("/api/v1/contacts?perPage=500", headers=acme_key).get_json()["perPage"] == 100
    tagged = client.get("/api/v1/contacts?tag=vip", headers=acme_key).get_json()
    assert tagged["total"] == 5  # "vip-not" is another tag
    found = client.get("/api/v1/contacts?search=stomer 1", headers=acme_key).get_json()
    assert {c["name"] for c in found["data"]} == {f"Customer 1{n}" for n in range(10)}
    literal = client.get("/api/v1/contacts?search=%25", headers=acme_key).get_json()
    assert literal["total"] == 0  # % is a character, not a wildcard


@pytest.mark.parametrize("query,field", [
    ("page=0", "page"), ("page=abc", "page"), ("page=²", "page"), ("perPage=0", "perPage"),
    ("page=999999999999999999999", "page")])
def test_bad_paging_is_400_naming_the_parameter(client, acme, acme_key, query, field):
    body = assert_error(client.get(f"/api/v1/contacts?{query}", headers=acme_key), 400,
                        "VALIDATION_ERROR")
    assert field in body["fields"]


@pytest.mark.parametrize("payload,field", [
    ({"name": "A", "phone": "call me"}, "phone"),
    ({"name": "A", "phone": "12"}, "phone"),
    ({"name": "A", "phone": 79001234567}, "phone"),
    ({"name": "A", "email": "not-an-email"}, "email"),
    ({"name": "A", "tags": "vip"}, "tags"),
    ({"name": "A", "tags": ["a,b"]}, "tags"),
    ({"name": "A", "tags": [""]}, "tags"),
    ({"name": "A", "customFields": {"Bad Key": 1}}, "customFields"),
    ({"name": "A", "customFields": {"nested": {"a": 1}}}, "customFields"),
    ({"name": "A", "customFields": []}, "customFields"),
    ({"name": "A", "customFields": {"big": 2**70}}, "customFields"),
    ({"name": "A", "optedOut": "yes"}, "optedOut"),
    ({"name": "A", "language": "english"}, "language"),
    ({"name": "A\x00"}, "name"),
    ({"name": "x" * 256}, "name"),
    ({"name": "A", "workspace_id": 2}, "workspace_id"),
    ({}, "name"),
])
def test_refused_contact_values_are_400_naming_the_field(client, acme, acme_key, payload, field):
    body = assert_error(client.post("/api/v1/contacts", headers=acme_key, json=payload), 400,
                        "VALIDATION_ERROR")
    assert field in body["fields"]
    assert db.session.query(LinkedUser).count() == 0


def test_a_non_finite_number_is_refused(client, acme, acme_key):
    for number in (b"NaN", b"Infinity", b"-Infinity"):
        response = client.post("/api/v1/contacts", headers={
            **acme_key, "Content-Type": "application/json"},
            data=b'{"name": "A", "customFields": {"n": ' + number + b"}}")
        assert response.status_code == 400, (number, response.data)
        assert response.get_json()["error"] is True
    assert db.session.query(LinkedUser).count() == 0


@pytest.mark.parametrize("data", [b"[1, 2]", b"not json", b"\"text\"", b""])
def test_a_body_that_is_not_a_json_object_is_400(client, acme, acme_key, data):
    response = client.post("/api/v1/contacts", headers={**acme_key,
                                                        "Content-Type": "application/json"},
                           data=data)
    assert_error(response, 400, "BAD_REQUEST")


def test_a_phone_another_contact_has_is_409(client, factory, acme, acme_key):
    factory.linked_user(acme, "taken", phone="79001234568")
    body = assert_error(client.post("/api/v1/contacts", headers=acme_key,
                                    json={"phone": "+7 900 123 45 68"}), 409, "CONFLICT")
    assert "phone" in body["fields"]


def test_another_workspace_s_contacts_are_not_found(client, factory, acme, acme_key, globex):
    workspace, globex_key = globex
    theirs = factory.linked_user(workspace, "theirs", name="Their customer")
    for method in ("get", "put", "delete"):
        response = getattr(client, method)(f"/api/v1/contacts/{theirs.id}", headers=acme_key,
                                           json={"name": "mine now"})
        assert_error(response, 404, "NOT_FOUND")
    assert client.get("/api/v1/contacts", headers=acme_key).get_json()["total"] == 0
    db.session.expire_all()
    assert db.session.get(LinkedUser, theirs.id).name == "Their customer"
    # the same phone may exist in two workspaces
    factory.linked_user(workspace, "their-phone", phone="79001234568")
    assert client.post("/api/v1/contacts", headers=acme_key,
                       json={"phone": "79001234568"}).status_code == 201


@pytest.mark.parametrize("pk", ["abc", "0x10", "99999999999999999999999", "²"])
def test_odd_ids_are_404(client, acme, acme_key, pk):
    assert_error(client.get(f"/api/v1/contacts/{pk}", headers=acme_key), 404, "NOT_FOUND")


def test_agents_read_contacts_but_do_not_write_them(client, factory, acme, agent_key):
    contact = factory.linked_user(acme, "someone")
    assert client.get("/api/v1/contacts", headers=agent_key).status_code == 200
    assert_error(client.post("/api/v1/contacts", headers=agent_key, json={"name": "x"}), 403,
                 "FORBIDDEN")
    assert_error(client.delete(f"/api/v1/contacts/{contact.id}", headers=agent_key), 403,
                 "FORBIDDEN")


def test_the_plan_limit_counts_contacts_and_linked_users(client, factory):
    plan = factory.plan(max_linked_users=1)
    workspace = factory.workspace("small", plan_id=plan.id)
    key = {"X-API-Key": factory.api_key(factory.member(workspace, "small-manager"))}
    factory.linked_user(workspace, "already-linked")
    body = assert_error(client.post("/api/v1/contacts", headers=key, json={"name": "One more"}),
                        403, "PLAN_LIMIT")
    assert plan.name in body["message"]


# --- messages ------------------------------------------------------------------------------------

def test_send_to_a_phone_number_queues_it_and_the_platform_receives_it(
        client, acme, acme_key, green, fake_greenapi):
    response = client.post("/api/v1/messages/send", headers=acme_key,
                           json={"to": "+7 900 123-45-68", "type": "text", "text": "Hello!"})
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["status"] == "queued" and body["messageId"].startswith("out-")
    outbound_id = int(body["messageId"].removeprefix("out-"))
    message = db.session.get(OutboundMessage, outbound_id)
    assert (message.chat_id, message.purpose, message.text) == ("79001234568@c.us", "api", "Hello!")
    conversation = db.session.get(Conversation, body["conversationId"])
    assert conversation.chat_id == "79001234568@c.us" and conversation.workspace_id == acme.id
    assert send_outbound(outbound_id) == "sent"
    assert fake_greenapi.messages_to("79001234568@c.us") == ["Hello!"]

    thread = client.get(f"/api/v1/messages/{body['conversationId']}", headers=acme_key).get_json()
    assert thread["total"] == 1
    assert thread["data"][0]["id"] == body["messageId"]
    assert thread["data"][0]["status"] == "sent" and thread["data"][0]["direction"] == "out"


def test_the_same_idempotency_key_sends_once(client, acme, acme_key, green):
    headers = {**acme_key, "Idempotency-Key": "order-42-notice"}
    first = client.post("/api/v1/messages/send", headers=headers,
                        json={"to": "79001234568", "text": "Once"}).get_json()
    second = client.post("/api/v1/messages/send", headers=headers,
                         json={"to": "79001234568", "text": "Once"}).get_json()
    assert first["messageId"] == second["messageId"]
    assert db.session.query(OutboundMessage).count() == 1


def test_send_into_a_conversation_and_read_it_oldest_first(
        client, app, factory, acme, acme_key, telegram, fake_telegram):
    conversation = Conversation(workspace_id=acme.id, channel_id=telegram.id, chat_id="-100123",
                                kind="group", last_inbound_at=utcnow())
    db.session.add(conversation)
    db.session.commit()
    for n in range(3):
        response = client.post("/api/v1/messages/send", headers=acme_key, json={
            "conversationId": conversation.id, "text": f"Update {n}"})
        assert response.status_code == 201
        assert response.get_json()["conversationId"] == conversation.id
    first = client.get(f"/api/v1/messages/{conversation.id}?perPage=2", headers=acme_key)
    page = first.get_json()
    assert page["total"] == 3 and [m["text"] for m in page["data"]] == ["Update 0", "Update 1"]
    assert all(m["status"] == "queued" for m in page["data"])
    rest = client.get(f"/api/v1/messages/{conversation.id}?perPage=2&page=2",
                      headers=acme_key).get_json()
    assert [m["text"] for m in rest["data"]] == ["Update 2"]


def test_inbound_messages_are_read_with_the_replies(client, app, acme, acme_key, green):
    post_green(client, green, "hi there", chat="79001234568@c.us")
    conversation_id = client.post("/api/v1/messages/send", headers=acme_key, json={
        "to": "79001234568", "text": "Hello Ana"}).get_json()["conversationId"]
    data = client.get(f"/api/v1/messages/{conversation_id}", headers=acme_key).get_json()["data"]
    assert [(m["direction"], m["text"]) for m in data] == [("in", "hi there"),
                                                           ("out", "Hello Ana")]
    assert data[0]["status"] == "received"


def test_meta_free_text_only_within_24_hours(client, factory, acme, acme_key, meta):
    chat = "5511912345678"
    refused = assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "to": chat, "channelId": meta.id, "text": "Hi"}), 400, "OUTSIDE_24H_WINDOW")
    assert "24 hours" in refused["message"]
    conversation = Conversation(workspace_id=acme.id, channel_id=meta.id, chat_id=chat,
                                last_inbound_at=utcnow() - timedelta(hours=25))
    db.session.add(conversation)
    db.session.commit()
    assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "conversationId": conversation.id, "text": "Hi"}), 400, "OUTSIDE_24H_WINDOW")
    conversation.last_inbound_at = utcnow() - timedelta(hours=23)
    db.session.commit()
    assert client.post("/api/v1/messages/send", headers=acme_key, json={
        "conversationId": conversation.id, "text": "Hi"}).status_code == 201
    assert db.session.query(OutboundMessage).count() == 1


def test_an_opted_out_contact_gets_nothing(client, factory, acme, acme_key, green):
    factory.linked_user(acme, "quiet", phone="79001234568", opted_out=True)
    assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "to": "+79001234568", "text": "Sale!"}), 403, "OPTED_OUT")
    assert db.session.query(OutboundMessage).count() == 0


@pytest.mark.parametrize("payload,field", [
    ({"text": "no recipient"}, "to"),
    ({"to": "79001234568"}, "text"),
    ({"to": "79001234568", "text": "   "}, "text"),
    ({"to": "79001234568", "text": "x" * 4097}, "text"),
    ({"to": "79001234568", "text": "a\x00b"}, "text"),
    ({"to": "79001234568", "text": "hi", "type": "image"}, "type"),
    ({"to": "call me", "text": "hi"}, "to"),
    ({"to": "79001234568", "text": "hi", "channelId": "1"}, "channelId"),
    ({"to": "79001234568", "text": "hi", "channelId": True}, "channelId"),
    ({"conversationId": "1", "text": "hi"}, "conversationId"),
    ({"to": "79001234568", "text": "hi", "sendAt": "later"}, "sendAt"),
])
def test_refused_sends_are_400_naming_the_field(client, acme, acme_key, green, payload, field):
    body = assert_error(client.post("/api/v1/messages/send", headers=acme_key, json=payload), 400,
                        "VALIDATION_ERROR")
    assert field in body["fields"]
    assert db.session.query(OutboundMessage).count() == 0


def test_two_channels_need_a_channel_id_and_foreign_ones_are_not_found(
        client, factory, acme, acme_key, green, telegram, globex):
    body = assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "to": "79001234568", "text": "hi"}), 400, "VALIDATION_ERROR")
    assert "channelId" in body["fields"]
    workspace, _key = globex
    theirs = factory.channel(workspace, kind="greenapi", name="Their WhatsApp")
    assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "to": "79001234568", "text": "hi", "channelId": theirs.id}), 404, "NOT_FOUND")
    their_chat = Conversation(workspace_id=workspace.id, channel_id=theirs.id,
                              chat_id="79001234568@c.us")
    db.session.add(their_chat)
    db.session.commit()
    assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "conversationId": their_chat.id, "text": "hi"}), 404, "NOT_FOUND")
    assert_error(client.get(f"/api/v1/messages/{their_chat.id}", headers=acme_key), 404,
                 "NOT_FOUND")
    assert db.session.query(OutboundMessage).count() == 0


def test_agents_send_and_read(client, acme, agent_key, green):
    response = client.post("/api/v1/messages/send", headers=agent_key,
                           json={"to": "79001234568", "text": "From an agent"})
    assert response.status_code == 201
    conversation_id = response.get_json()["conversationId"]
    assert client.get(f"/api/v1/messages/{conversation_id}", headers=agent_key).status_code == 200


def test_the_openapi_document_lists_the_public_paths(client, factory, acme, acme_key):
    spec = client.get("/api/v1/_openapi", headers=acme_key).get_json()
    for path, method in (("/api/v1/contacts", "get"), ("/api/v1/contacts", "post"),
                         ("/api/v1/contacts/{pk}", "put"), ("/api/v1/contacts/{pk}", "delete"),
                         ("/api/v1/messages/send", "post"), ("/api/v1/messages/{pk}", "get")):
        assert method in spec["paths"][path], path


def test_a_providers_group_is_not_a_conversation_here(client, factory, acme, acme_key, green):
    provider_chat = Conversation(workspace_id=acme.id, channel_id=green.id, kind="provider",
                                 chat_id="120363555555555555@g.us")
    db.session.add(provider_chat)
    db.session.commit()
    assert_error(client.get(f"/api/v1/messages/{provider_chat.id}", headers=acme_key), 404,
                 "NOT_FOUND")
    assert_error(client.post("/api/v1/messages/send", headers=acme_key, json={
        "conversationId": provider_chat.id, "text": "hi"}), 404, "NOT_FOUND")


@pytest.mark.parametrize("query", ["search=a%00b", "tag=vip%00", "search=%00"])
def test_a_nul_in_search_or_tag_is_no_error(client, acme, acme_key, query):
    response = client.get(f"/api/v1/contacts?{query}", headers=acme_key)
    assert response.status_code == 200 and response.get_json()["total"] == 0
