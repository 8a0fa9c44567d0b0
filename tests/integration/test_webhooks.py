"""Webhook endpoints (docs/contracts.md "Webhook endpoints", docs/external-apis.md 2-4).

Every notification kind of every platform is posted through the Flask test client as the platform
sends it (payloads from the fakes' builders) and the committed `inbound_event` row is checked field
by field; then duplicates, batches, authentication, malformed bodies, size limits and disabled
channels. Each accepted new row must also have its job (`event-<id>`) on the RQ "pipeline" queue.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rq import Queue
from sqlalchemy import delete, update

from app.extensions import db
from app.models import Channel, InboundEvent
from app.webhooks.http import MiB
from tests.fakes import greenapi as green
from tests.fakes import meta
from tests.fakes import telegram as tg
from tests.integration.webhook_support import delete_all_rows

GREEN_URL = "/webhooks/greenapi"
META_URL = "/webhooks/meta"
PLATFORM_SECRET = "platform-app-secret-0123456789"
VERIFY_TOKEN = "verify-me-please"


def rows(**filters) -> list[InboundEvent]:
    db.session.expire_all()
    return db.session.query(InboundEvent).filter_by(**filters).order_by(InboundEvent.id).all()


def queued_job_ids(redis_conn) -> list[str]:
    return Queue("pipeline", connection=redis_conn).job_ids


def as_utc(epoch: int | str) -> datetime:
    return datetime.fromtimestamp(int(epoch), tz=UTC).replace(tzinfo=None)


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Overrides the suite's TRUNCATE clean-up with a faster DELETE (see delete_all_rows)."""
    yield
    delete_all_rows(app)


@pytest.fixture
def workspace(factory):
    return factory.workspace("hooks")


@pytest.fixture
def meta_secret(app, monkeypatch):
    monkeypatch.setitem(app.config, "META_APP_SECRET", PLATFORM_SECRET)
    return PLATFORM_SECRET


# --- Green API ------------------------------------------------------------------------------

@pytest.fixture
def green_channel(factory, workspace):
    return factory.channel(workspace, kind="greenapi")


def post_green(client, channel, payload, *, bearer=False, token=None):
    headers = green.webhook_headers(token or channel.webhook_token, bearer=bearer)
    return client.post(GREEN_URL, data=json.dumps(payload), headers=headers)


def test_green_incoming_group_text_is_normalised(client, green_channel, redis_conn):
    payload = green.incoming_message("120363043968066561@g.us", "2274209 refill",
                                     sender="79001234568@c.us", sender_name="Bob",
                                     id_instance=green_channel.id_instance, timestamp=1700000000)
    response = post_green(client, green_channel, payload)
    assert response.status_code == 200 and response.get_json() == {"ok": True}

    [event] = rows()
    assert event.workspace_id == green_channel.workspace_id
    assert event.channel_id == green_channel.id
    assert (event.platform, event.kind, event.type) == ("greenapi", "message",
                                                        "incomingMessageReceived")
    assert event.dedupe_key == f"120363043968066561@g.us:{payload['idMessage']}"
    assert event.chat_id == "120363043968066561@g.us"
    assert event.sender == "79001234568@c.us"
    assert event.sender_name == "Bob"
    assert event.is_group is True and event.from_me is False and event.from_bot is False
    assert event.text == "2274209 refill"
    assert event.message_id == payload["idMessage"]
    assert event.occurred_at == as_utc(1700000000)
    assert event.payload == payload
    assert event.state == "pending" and event.attempts == 0 and event.received_at is not None
    assert queued_job_ids(redis_conn) == [f"event-{event.id}"]


def test_green_private_chat_and_bearer_token(client, green_channel):
    payload = green.incoming_message("79001234567@c.us", "balance",
                                     id_instance=green_channel.id_instance)
    assert post_green(client, green_channel, payload, bearer=True).status_code == 200
    [event] = rows()
    assert event.chat_id == event.sender == "79001234567@c.us"
    assert event.is_group is False and event.text == "balance"


def test_green_extended_and_quoted_text(client, green_channel):
    for kind in ("extendedTextMessage", "quotedMessage"):
        payload = green.incoming_message("79001234567@c.us", f"2274209 speed {kind}", kind=kind,
                                         id_instance=green_channel.id_instance)
        assert post_green(client, green_channel, payload).status_code == 200
        event = rows(message_id=payload["idMessage"])[0]
        assert event.kind == "message" and event.text == f"2274209 speed {kind}"
        assert event.payload["messageData"]["typeMessage"] == kind


def test_green_outgoing_echoes_are_marked_as_ours(client, green_channel):
    for from_api in (True, False):
        payload = green.outgoing_message("79001234567@c.us", "2274209 refill",
                                         from_api=from_api, id_instance=green_channel.id_instance)
        assert post_green(client, green_channel, payload).status_code == 200
        [event] = rows(message_id=payload["idMessage"])
        assert event.kind == "message" and event.type == payload["typeWebhook"]
        assert event.from_me is True  # never a command (app/jobs/events.handle_message)
        assert event.text == "2274209 refill" and event.chat_id == "79001234567@c.us"
    assert {e.type for e in rows()} == {"outgoingAPIMessageReceived", "outgoingMessageReceived"}


def test_green_message_statuses(client, green_channel):
    for status in green.OUTGOING_STATUSES:
        id_message = f"3EB0{status.upper()}"
        payload = green.outgoing_message_status("79001234567@c.us", id_message, status,
                                                id_instance=green_channel.id_instance,
                                                timestamp=1700000100)
        assert post_green(client, green_channel, payload).status_code == 200
        [event] = rows(message_id=id_message)
        assert (event.kind, event.type, event.status) == ("status", "outgoingMessageStatus",
                                                          status)
        assert event.chat_id == "79001234567@c.us"
        assert event.dedupe_key == f"status:79001234567@c.us:{id_message}:{status}"
        assert event.error_code == (None if status in ("sent", "delivered", "read") else status)
        assert event.occurred_at == as_utc(1700000100)


def test_green_successive_statuses_of_one_message_are_distinct_events(client, green_channel):
    for status in ("sent", "delivered", "read", "delivered"):
        payload = green.outgoing_message_status("79001234567@c.us", "3EB0F00D", status,
                                                id_instance=green_channel.id_instance)
        assert post_green(client, green_channel, payload).status_code == 200
    assert [e.status for e in rows()] == ["sent", "delivered", "read"]


def test_green_instance_state_changes(client, green_channel):
    for state in green.INSTANCE_STATES:
        payload = green.state_instance_changed(state, id_instance=green_channel.id_instance)
        assert post_green(client, green_channel, payload).status_code == 200
        [event] = rows(status=state)
        assert (event.kind, event.type) == ("state", "stateInstanceChanged")
        assert event.chat_id is None and event.text is None
    assert len(rows()) == len(green.INSTANCE_STATES)


def test_green_duplicates_are_one_event_and_one_job(client, green_channel, redis_conn):
    payload = green.incoming_message("79001234567@c.us", "2274209 refill",
                                     id_instance=green_channel.id_instance)
    for _ in range(3):
        response = post_green(client, green_channel, payload)
        assert response.status_code == 200 and response.get_json() == {"ok": True}
    [event] = rows()
    assert queued_job_ids(redis_conn) == [f"event-{event.id}"]
    # idMessage is unique only within a chat: the same id in another chat is another message.
    other = dict(payload, senderData=dict(payload["senderData"], chatId="79009999999@c.us"))
    assert post_green(client, green_channel, other).status_code == 200
    assert len(rows()) == 2 and len(queued_job_ids(redis_conn)) == 2


def test_green_routes_by_instance(client, factory, workspace):
    first = factory.channel(workspace, kind="greenapi")
    second = factory.channel(factory.workspace("other"), kind="greenapi")
    for channel in (first, second):
        payload = green.incoming_message("79001234567@c.us", f"for {channel.id}",
                                         id_instance=channel.id_instance)
        assert post_green(client, channel, payload).status_code == 200
    assert [(e.channel_id, e.workspace_id, e.text) for e in rows()] == [
        (first.id, first.workspace_id, f"for {first.id}"),
        (second.id, second.workspace_id, f"for {second.id}")]


def test_green_forged_or_missing_token_stores_nothing(client, factory, workspace, green_channel,
                                                      redis_conn):
    other = factory.channel(workspace, kind="greenapi")
    token = green_channel.webhook_token
    cases = {"missing": (None, 401), "empty bearer": ("Bearer ", 401), "blank": ("  ", 401),
             "wrong": ("wrong-token", 403), "other channel's token": (other.webhook_token, 403),
             "unknown instance": (token, 403), "token prefix": (token[:-1], 403),
             "token plus": (token + "x", 403), "bearer wrong": ("Bearer x" + token, 403),
             "non-ascii": ("\u00e9" * 12, 403)}
    for case, (authorization, expected) in cases.items():
        payload = green.incoming_message("79001234567@c.us", "2274209 refill",
                                         id_instance=green_channel.id_instance)
        if case == "unknown instance":
            payload["instanceData"]["idInstance"] = 9999999999
        headers = {"Content-Type": "application/json"}
        if authorization is not None:
            headers["Authorization"] = authorization
        response = client.post(GREEN_URL, data=json.dumps(payload), headers=headers)
        assert response.status_code == expected, case
        assert token not in response.get_data(as_text=True)
    assert rows() == [] and queued_job_ids(redis_conn) == []


def test_green_malformed_bodies_are_400(client, green_channel):
    iid = green_channel.id_instance
    valid = json.dumps(green.incoming_message("79001234567@c.us", "TEXT", id_instance=iid))
    bodies = [
        b"", b"not json", b"[1, 2]", b'"text"', b"{}", b"null",
        b'{"typeWebhook": "incomingMessageReceived"}',
        b'{"typeWebhook": "incomingMessageReceived", "instanceData": {"idInstance": "12ab"}}',
        b'{"typeWebhook": "incomingMessageReceived", "instanceData": {"idInstance": true}}',
        b'{"typeWebhook": 5, "instanceData": {"idInstance": %s}}' % iid.encode(),
        b"\xff\xfe{}",
        valid.replace('"TEXT"', '"\ud800"').encode("utf-8", "surrogatepass"),  # not UTF-8
        valid.replace('"TEXT"', "NaN").encode(),
        valid.replace('"TEXT"', "1e999").encode(),
        valid.replace('"TEXT"', "[" * 200 + "]" * 200).encode(),
        valid.replace('"TEXT"', "[" * 100000 + "]" * 100000).encode(),
        valid[:-5].encode(),
    ]
    headers = green.webhook_headers(green_channel.webhook_token)
    for body in bodies:
        response = client.post(GREEN_URL, data=body, headers=headers)
        assert response.status_code == 400, body[:80]
    assert rows() == []


def test_green_incomplete_notifications_are_400(client, green_channel):
    iid = green_channel.id_instance
    state = green.state_instance_changed("authorized", id_instance=iid)
    del state["stateInstance"]
    status = green.outgoing_message_status("79001234567@c.us", "3EB0X", id_instance=iid)
    del status["status"]
    payloads = [state, status]
    for mutate in ("no idMessage", "no chatId", "senderData not object", "textMessageData list"):
        payload = green.incoming_message("79001234567@c.us", "hi", id_instance=iid)
        if mutate == "no idMessage":
            del payload["idMessage"]
        elif mutate == "no chatId":
            del payload["senderData"]["chatId"]
        elif mutate == "senderData not object":
            payload["senderData"] = ["79001234567@c.us"]
        else:  # text in an unexpected shape: still a message, without text
            payload["messageData"]["textMessageData"] = ["hi"]
            assert post_green(client, green_channel, payload).status_code == 200
            continue
        payloads.append(payload)
    for payload in payloads:
        assert post_green(client, green_channel, payload).status_code == 400, payload
    [event] = rows()
    assert event.text is None


def _padded(payload: dict, text_path: tuple, size: int) -> bytes:
    """The payload serialised to exactly `size` bytes by growing one ASCII text field."""
    target = payload
    for key in text_path[:-1]:
        target = target[key]
    target[text_path[-1]] = ""
    base = len(json.dumps(payload).encode())
    target[text_path[-1]] = "x" * (size - base)
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


def test_green_size_limit_is_one_mebibyte(client, green_channel):
    headers = green.webhook_headers(green_channel.webhook_token)
    text_path = ("messageData", "textMessageData", "textMessage")
    at_limit = _padded(green.incoming_message("79001234567@c.us", "",
                                              id_instance=green_channel.id_instance),
                       text_path, MiB)
    assert client.post(GREEN_URL, data=at_limit, headers=headers).status_code == 200
    over = _padded(green.incoming_message("79001234567@c.us", "",
                                          id_instance=green_channel.id_instance),
                   text_path, MiB + 1)
    assert client.post(GREEN_URL, data=over, headers=headers).status_code == 413
    [event] = rows()
    assert len(event.text) > MiB - 1000


def test_green_disabled_channel_answers_200_and_stores_nothing(client, factory, workspace,
                                                              redis_conn):
    channel = factory.channel(workspace, kind="greenapi", enabled=False)
    payload = green.incoming_message("79001234567@c.us", "2274209 refill",
                                     id_instance=channel.id_instance)
    response = post_green(client, channel, payload)
    assert response.status_code == 200 and response.get_json()["ok"] is True
    assert response.get_json().get("ignored")
    assert rows() == [] and queued_job_ids(redis_conn) == []


def test_green_text_postgres_cannot_store_is_cleaned_not_lost(client, green_channel):
    raw = json.dumps(green.incoming_message("79001234567@c.us", "TEXT",
                                            id_instance=green_channel.id_instance))
    raw = raw.replace('"TEXT"', '"a\\u0000b\\ud800c\\uDFFFd\\ud83d\\ude00"')
    response = client.post(GREEN_URL, data=raw,
                           headers=green.webhook_headers(green_channel.webhook_token))
    assert response.status_code == 200
    [event] = rows()
    assert event.text == "a\ufffdb\ufffdc\ufffdd\U0001f600"  # a valid pair stays


# --- Meta Cloud API -------------------------------------------------------------------------

@pytest.fixture
def meta_channel(factory, workspace):
    return factory.channel(workspace, kind="meta", waba_id="102290129340398")


def post_meta(client, payload, secret=PLATFORM_SECRET):
    raw, headers = meta.signed_body(payload, secret)
    return client.post(META_URL, data=raw, headers=headers)


def test_meta_verification_challenge(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "META_VERIFY_TOKEN", VERIFY_TOKEN)
    response = client.get(META_URL, query_string=meta.verification_params(VERIFY_TOKEN, "424242"))
    assert response.status_code == 200 and response.get_data(as_text=True) == "424242"
    for params in (meta.verification_params("wrong", "777123"),
                   {"hub.verify_token": VERIFY_TOKEN, "hub.challenge": "777123"},
                   dict(meta.verification_params(VERIFY_TOKEN, "777123"),
                        **{"hub.mode": "other"})):
        response = client.get(META_URL, query_string=params)
        assert response.status_code == 403 and b"777123" not in response.data


def test_meta_verification_refused_when_no_token_is_configured(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "META_VERIFY_TOKEN", "")
    response = client.get(META_URL, query_string=meta.verification_params("", "5"))
    assert response.status_code == 403


def test_meta_text_message_is_normalised(client, meta_channel, meta_secret, redis_conn):
    payload = meta.text_notification("79001234567", "2274209 refill", name="Carol",
                                     timestamp=1700000200,
                                     phone_number_id=meta_channel.phone_number_id)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    response = post_meta(client, payload)
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    [event] = rows()
    assert (event.channel_id, event.workspace_id) == (meta_channel.id, meta_channel.workspace_id)
    assert (event.platform, event.kind, event.type) == ("meta", "message", "message:text")
    assert event.dedupe_key == message["id"] and event.message_id == message["id"]
    assert event.chat_id == event.sender == "79001234567"
    assert event.sender_name == "Carol"
    assert event.is_group is False and event.from_me is False
    assert event.text == "2274209 refill"
    assert event.occurred_at == as_utc(1700000200)
    assert event.payload["message"] == message
    assert event.payload["metadata"]["phone_number_id"] == meta_channel.phone_number_id
    assert queued_job_ids(redis_conn) == [f"event-{event.id}"]


def test_meta_statuses(client, meta_channel, meta_secret):
    for status in ("sent", "delivered", "read", "delivered"):
        payload = meta.status_notification("wamid.OUT1", status, "79001234567",
                                           timestamp=1700000300,
                                           phone_number_id=meta_channel.phone_number_id)
        assert post_meta(client, payload).status_code == 200
        [event] = rows(status=status)
        assert (event.kind, event.type) == ("status", "status")
        assert event.dedupe_key == f"wamid.OUT1:{status}" and event.message_id == "wamid.OUT1"
        assert event.chat_id == "79001234567" and event.error_code is None
        assert event.occurred_at == as_utc(1700000300)
    assert len(rows()) == 3  # the repeated "delivered" is a duplicate


def test_meta_failed_status_carries_its_error(client, meta_channel, meta_secret):
    payload = meta.status_notification("wamid.OUT2", "failed", "79001234567",
                                       errors=[meta.status_error(131026)],
                                       phone_number_id=meta_channel.phone_number_id)
    assert post_meta(client, payload).status_code == 200
    [event] = rows()
    assert (event.status, event.error_code) == ("failed", "131026")
    assert event.error_title == "Message Undeliverable"
    assert event.payload["status"]["errors"][0]["code"] == 131026


def test_meta_batch_becomes_many_events_on_the_right_channels(client, factory, meta_secret,
                                                              redis_conn):
    first_ws, second_ws = factory.workspace("first"), factory.workspace("second")
    first = factory.channel(first_ws, kind="meta", waba_id="WABA-1")
    second = factory.channel(second_ws, kind="meta", waba_id="WABA-2")
    m1 = meta.text_message("79000000001", "2274209 refill")
    m2 = meta.text_message("79000000002", "2274210 speed")
    m3 = meta.text_message("79000000003", "balance")
    stray = meta.text_message("79000000004", "to a number nobody here owns")
    payload = meta.notification(
        meta.entry(meta.messages_change(messages=[m1, m2],
                                        statuses=[meta.status("wamid.A", "sent", "79000000009")],
                                        phone_number_id=first.phone_number_id),
                   meta.messages_change(messages=[stray], phone_number_id="999000999000"),
                   waba_id="WABA-1"),
        meta.entry(meta.messages_change(messages=[m3],
                                        statuses=[meta.status("wamid.B", "delivered", "7900"),
                                                  meta.status("wamid.B", "read", "7900")],
                                        phone_number_id=second.phone_number_id),
                   meta.template_status_change("APPROVED", 5551, "order_update",
                                               reason="NONE"),
                   waba_id="WABA-2"),
    )
    assert post_meta(client, payload).status_code == 200

    on_first = rows(channel_id=first.id)
    assert [(e.kind, e.dedupe_key) for e in on_first] == [
        ("message", m1["id"]), ("message", m2["id"]), ("status", "wamid.A:sent")]
    assert {e.workspace_id for e in on_first} == {first_ws.id}
    on_second = rows(channel_id=second.id)
    assert sorted((e.kind, e.type, e.status or "") for e in on_second) == [
        ("message", "message:text", ""),
        ("other", "message_template_status_update", "APPROVED"),
        ("status", "status", "delivered"), ("status", "status", "read")]
    assert {e.workspace_id for e in on_second} == {second_ws.id}
    template = next(e for e in on_second if e.kind == "other")
    assert template.payload["value"]["message_template_id"] == 5551
    assert template.payload["entry_id"] == "WABA-2"
    assert len(rows()) == 7  # the stray number's message is dropped, not stored anywhere
    assert sorted(queued_job_ids(redis_conn)) == sorted(f"event-{e.id}" for e in rows())

    # Meta redelivers whole batches: nothing new, no new job.
    assert post_meta(client, payload).status_code == 200
    assert len(rows()) == 7 and len(queued_job_ids(redis_conn)) == 7


def test_meta_template_status_routes_by_waba_id(client, factory, workspace, meta_secret):
    channel = factory.channel(workspace, kind="meta", waba_id="WABA-TEMPLATES")
    factory.channel(factory.workspace("elsewhere"), kind="meta", waba_id="WABA-OTHER")
    payload = meta.notification(meta.entry(
        meta.template_status_change("REJECTED", 77, "promo", reason="INVALID_FORMAT"),
        waba_id="WABA-TEMPLATES"))
    assert post_meta(client, payload).status_code == 200
    [event] = rows()
    assert event.channel_id == channel.id
    assert (event.status, event.error_title) == ("REJECTED", "INVALID_FORMAT")
    unknown = meta.notification(meta.entry(meta.template_status_change("APPROVED", 78, "x"),
                                           waba_id="WABA-NOBODY"))
    assert post_meta(client, unknown).status_code == 200
    assert len(rows()) == 1


def test_meta_channel_app_secret_in_manual_mode(client, factory, workspace, app, monkeypatch):
    monkeypatch.setitem(app.config, "META_APP_SECRET", "")
    manual = factory.channel(workspace, kind="meta", app_secret="own-app-secret-123")
    payload = meta.text_notification("79001234567", "hi",
                                     phone_number_id=manual.phone_number_id)
    assert post_meta(client, payload, secret="own-app-secret-123").status_code == 200
    assert len(rows(channel_id=manual.id)) == 1


def test_meta_channel_secret_does_not_speak_for_another_channel(client, factory, meta_secret,
                                                                redis_conn):
    attacker = factory.channel(factory.workspace("attacker"), kind="meta",
                               app_secret="attacker-secret-1")
    victim = factory.channel(factory.workspace("victim"), kind="meta")
    only_victim = meta.text_notification("79001234567", "2274209 refill",
                                         phone_number_id=victim.phone_number_id)
    assert post_meta(client, only_victim, secret="attacker-secret-1").status_code == 403
    both = meta.notification(meta.entry(
        meta.messages_change(messages=[meta.text_message("7900001", "mine")],
                             phone_number_id=attacker.phone_number_id),
        meta.messages_change(messages=[meta.text_message("7900002", "2274209 cancel")],
                             phone_number_id=victim.phone_number_id)))
    assert post_meta(client, both, secret="attacker-secret-1").status_code == 200
    assert [(e.channel_id, e.text) for e in rows()] == [(attacker.id, "mine")]
    assert len(queued_job_ids(redis_conn)) == 1


def test_meta_forged_or_missing_signature_stores_nothing(client, app, meta_channel, meta_secret,
                                                         monkeypatch, redis_conn):
    payload = meta.text_notification("79001234567", "2274209 refill",
                                     phone_number_id=meta_channel.phone_number_id)
    raw, headers = meta.signed_body(payload, PLATFORM_SECRET)
    good = headers["X-Hub-Signature-256"]
    cases = {"missing": (None, 401), "empty": ("", 401),
             "wrong secret": (meta.signature(raw, "not-the-secret"), 403),
             "sha1": (good.replace("sha256", "sha1"), 403),
             "bare hex": (good[len("sha256="):], 403),
             "other body": (meta.signature(raw + b" ", PLATFORM_SECRET), 403),
             "not hex": ("sha256=" + "z" * 64, 403), "truncated": (good[:-2], 403),
             "non-ascii": ("sha256=" + "\u00e9" * 64, 403)}
    for case, (signature, expected) in cases.items():
        sent = {"Content-Type": "application/json"}
        if signature is not None:
            sent["X-Hub-Signature-256"] = signature
        response = client.post(META_URL, data=raw, headers=sent)
        assert response.status_code == expected, case
    monkeypatch.setitem(app.config, "META_APP_SECRET", "")  # nothing to check against: refuse
    response = client.post(META_URL, data=raw, headers=meta.signed_body(payload, "")[1])
    assert response.status_code == 403
    assert rows() == [] and queued_job_ids(redis_conn) == []


def test_meta_items_without_their_ids_are_kept_not_refused(client, meta_channel, meta_secret):
    """One message or status without the ids it needs never refuses the whole delivery: it is
    stored as an `other` event (nothing acts on it) beside the rest."""
    pnid = meta_channel.phone_number_id
    no_id = meta.text_notification("79001234567", "x", phone_number_id=pnid)
    del no_id["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    no_status = meta.status_notification("wamid.X", "read", "7900", phone_number_id=pnid)
    del no_status["entry"][0]["changes"][0]["value"]["statuses"][0]["status"]
    for body in (no_id, no_status):
        raw, headers = meta.signed_body(body, PLATFORM_SECRET)
        assert client.post(META_URL, data=raw, headers=headers).status_code == 200
    assert [(e.kind, e.type) for e in rows()] == [("other", "message:unidentified"),
                                                   ("other", "status:unidentified")]


def test_meta_malformed_bodies_are_400(client, meta_channel, meta_secret):
    pnid = meta_channel.phone_number_id
    bad_metadata = meta.text_notification("79001234567", "x", phone_number_id=pnid)
    bad_metadata["entry"][0]["changes"][0]["value"]["messages"] = "not a list of messages"
    valid = json.dumps(meta.text_notification("79001234567", "TEXT", phone_number_id=pnid))
    bodies = [
        b"", b"not json", b"[1, 2]", b"null",
        {"object": "page", "entry": []},
        {"object": "whatsapp_business_account"},
        {"object": "whatsapp_business_account", "entry": {"id": "1"}},
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": 1}]}]},
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",
                                                                        "value": []}]}]},
        bad_metadata,
        valid.replace('"TEXT"', "Infinity").encode(),
        valid.replace('"TEXT"', "[" * 100000 + "]" * 100000).encode(),
    ]
    for payload in bodies:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"X-Hub-Signature-256": meta.signature(raw, PLATFORM_SECRET),
                   "Content-Type": "application/json"}
        assert client.post(META_URL, data=raw, headers=headers).status_code == 400, payload
    assert rows() == []


def test_meta_size_limit_is_three_mebibytes(client, meta_channel, meta_secret):
    def body_of(size):
        payload = meta.text_notification("79001234567", "",
                                         phone_number_id=meta_channel.phone_number_id)
        return _padded(payload, ("entry", 0, "changes", 0, "value", "messages", 0, "text", "body"),
                       size)

    # Bigger than the 1 MiB of the other platforms, still accepted.
    for size, expected in ((2 * MiB, 200), (3 * MiB, 200), (3 * MiB + 1, 413)):
        raw = body_of(size)
        headers = {"X-Hub-Signature-256": meta.signature(raw, PLATFORM_SECRET)}
        assert client.post(META_URL, data=raw, headers=headers).status_code == expected, size
    assert len(rows()) == 2


def test_meta_disabled_channel_answers_200_and_stores_nothing(client, factory, workspace,
                                                              meta_secret, redis_conn):
    channel = factory.channel(workspace, kind="meta", enabled=False)
    payload = meta.text_notification("79001234567", "2274209 refill",
                                     phone_number_id=channel.phone_number_id)
    assert post_meta(client, payload).status_code == 200
    assert rows() == [] and queued_job_ids(redis_conn) == []


# --- Telegram -------------------------------------------------------------------------------

@pytest.fixture
def tg_channel(factory, workspace):
    return factory.channel(workspace, kind="telegram")


def post_tg(client, channel, update, secret=None):
    return client.post(f"/webhooks/telegram/{channel.bot_id}", data=json.dumps(update),
                       headers=tg.webhook_headers(secret or channel.secret_token))


def test_telegram_private_message_is_normalised(client, tg_channel, redis_conn):
    update = tg.message_update("2274209 refill", chat_id=tg.PRIVATE_CHAT_ID, date=1700000400,
                               message_id=42)
    response = post_tg(client, tg_channel, update)
    assert response.status_code == 200 and response.get_json() == {"ok": True}
    [event] = rows()
    assert (event.channel_id, event.workspace_id) == (tg_channel.id, tg_channel.workspace_id)
    assert (event.platform, event.kind, event.type) == ("telegram", "message", "message")
    assert event.dedupe_key == f"update:{update['update_id']}"
    assert event.chat_id == event.sender == str(tg.PRIVATE_CHAT_ID)
    assert event.sender_name == "Alice"
    assert event.is_group is False and event.from_bot is False and event.from_me is False
    assert event.text == "2274209 refill" and event.message_id == "42"
    assert event.occurred_at == as_utc(1700000400)
    assert event.payload == update
    assert queued_job_ids(redis_conn) == [f"event-{event.id}"]


def test_telegram_supergroup_message_keeps_64_bit_ids(client, tg_channel):
    update = tg.message_update("EXT-1 done", chat_id=tg.SUPERGROUP_CHAT_ID,
                               sender=tg.user(5000000001, "Dave", "dave"))
    assert post_tg(client, tg_channel, update).status_code == 200
    [event] = rows()
    assert event.chat_id == "-1001234567890" and event.is_group is True
    assert event.sender == "5000000001" and event.sender_name == "Dave"


def test_telegram_edited_message_and_channel_post(client, tg_channel):
    edited = tg.edited_message_update("2274209 speed", chat_id=tg.GROUP_CHAT_ID)
    post = tg.channel_post_update("news")
    for tg_update in (edited, post):
        assert post_tg(client, tg_channel, tg_update).status_code == 200
    first, second = rows()
    assert (first.kind, first.type, first.text) == ("message", "edited_message", "2274209 speed")
    assert first.chat_id == str(tg.GROUP_CHAT_ID) and first.is_group is True
    assert (second.kind, second.type, second.text) == ("message", "channel_post", "news")
    assert second.chat_id == str(tg.CHANNEL_CHAT_ID) and second.is_group is False


def test_telegram_caption_is_the_text(client, tg_channel):
    update = tg.message_update(None, caption="2274209 refill", photo=[{"file_id": "f"}])
    assert post_tg(client, tg_channel, update).status_code == 200
    assert rows()[0].text == "2274209 refill"


def test_telegram_bot_messages_are_flagged(client, tg_channel):
    update = tg.message_update("2274209 refill", chat_id=tg.GROUP_CHAT_ID,
                               sender=tg.user(999, "OtherBot", "other_bot", is_bot=True))
    assert post_tg(client, tg_channel, update).status_code == 200
    [event] = rows()
    assert event.from_bot is True and event.kind == "message"  # ignored as a command


def test_telegram_my_chat_member(client, tg_channel):
    for new_status in ("member", "administrator", "left", "kicked"):
        update = tg.my_chat_member_update(tg.SUPERGROUP_CHAT_ID, title="Rush provider",
                                          new_status=new_status, by=tg.user(77, "Eve", "eve"))
        assert post_tg(client, tg_channel, update).status_code == 200
        [event] = rows(dedupe_key=f"update:{update['update_id']}")
        assert (event.kind, event.type, event.status) == ("membership", "my_chat_member",
                                                          new_status)
        assert event.chat_id == str(tg.SUPERGROUP_CHAT_ID) and event.is_group is True
        assert event.sender == "77" and event.sender_name == "Eve"


def test_telegram_migrate_to_chat_id(client, tg_channel):
    update = tg.migrate_to_chat_update(tg.GROUP_CHAT_ID, tg.SUPERGROUP_CHAT_ID)
    assert post_tg(client, tg_channel, update).status_code == 200
    [event] = rows()
    assert (event.kind, event.type, event.status) == ("membership", "migrate_to_chat_id",
                                                      "migrated")
    assert event.chat_id == str(tg.GROUP_CHAT_ID)
    assert event.payload["message"]["migrate_to_chat_id"] == tg.SUPERGROUP_CHAT_ID


def test_telegram_duplicates_are_one_event(client, tg_channel, redis_conn):
    update = tg.message_update("2274209 refill")
    for _ in range(3):
        assert post_tg(client, tg_channel, update).status_code == 200
    [event] = rows()
    assert queued_job_ids(redis_conn) == [f"event-{event.id}"]


def test_telegram_update_ids_are_per_bot(client, factory, workspace, tg_channel):
    other_bot = factory.channel(workspace, kind="telegram")
    update = tg.message_update("2274209 refill")
    assert post_tg(client, tg_channel, update).status_code == 200
    assert post_tg(client, other_bot, update).status_code == 200
    assert sorted(e.channel_id for e in rows()) == sorted([tg_channel.id, other_bot.id])


def test_telegram_forged_or_missing_secret_stores_nothing(client, factory, workspace, tg_channel,
                                                          redis_conn):
    other = factory.channel(workspace, kind="telegram")
    own, secret = tg_channel.bot_id, tg_channel.secret_token
    cases = {"missing": (own, None, 401), "empty": (own, "", 401),
             "wrong": (own, "not-the-secret", 403),
             "other bot's secret": (own, other.secret_token, 403),
             "secret for the other bot": (other.bot_id, secret, 403),
             "unknown bot": ("424242", secret, 403), "not a bot id": ("abc", secret, 403),
             "huge bot id": ("9" * 40, secret, 403), "secret prefix": (own, secret[:-1], 403),
             "non-ascii": (own, "\u00e9" * 8, 403)}
    for case, (bot_id, given, expected) in cases.items():
        headers = {"Content-Type": "application/json"}
        if given is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = given
        response = client.post(f"/webhooks/telegram/{bot_id}",
                               data=json.dumps(tg.message_update("2274209 refill")),
                               headers=headers)
        assert response.status_code == expected, case
    assert rows() == [] and queued_job_ids(redis_conn) == []


def test_telegram_malformed_bodies_are_400(client, tg_channel):
    bodies = [
        b"", b"not json", b"[]", b"{}", b"null", b'{"update_id": "12"}', b'{"update_id": true}',
        b'{"update_id": 1.5}', b'{"update_id": 5, "message": "hi"}',
        b'{"update_id": 5, "message": {"text": "no chat"}}',
        b'{"update_id": 5, "message": {"chat": {"id": "abc"}}}',
        b'{"update_id": 5, "message": {"chat": {"id": 1, "type": []}}}',
        b'{"update_id": 5, "my_chat_member": []}', b'{"update_id": 5, "x": NaN}',
        b'{"update_id": 5, "x": -Infinity}', b'{"update_id": 5, "x": "\xc3\x28"}',
        b'{"update_id": 5, "x": ' + b"{\"a\": " * 5000 + b"1" + b"}" * 5000 + b"}",
    ]
    for body in bodies:
        response = client.post(f"/webhooks/telegram/{tg_channel.bot_id}", data=body,
                               headers=tg.webhook_headers(tg_channel.secret_token))
        assert response.status_code == 400, body[:80]
    assert rows() == []


def test_telegram_size_limit_is_one_mebibyte(client, tg_channel):
    headers = tg.webhook_headers(tg_channel.secret_token)
    url = f"/webhooks/telegram/{tg_channel.bot_id}"
    at_limit = _padded(tg.message_update(""), ("message", "text"), MiB)
    assert client.post(url, data=at_limit, headers=headers).status_code == 200
    over = _padded(tg.message_update(""), ("message", "text"), MiB + 1)
    assert client.post(url, data=over, headers=headers).status_code == 413
    assert len(rows()) == 1


def test_telegram_disabled_channel_answers_200_and_stores_nothing(client, factory, workspace,
                                                                  redis_conn):
    channel = factory.channel(workspace, kind="telegram", enabled=False)
    response = post_tg(client, channel, tg.message_update("2274209 refill"))
    assert response.status_code == 200 and response.get_json().get("ignored")
    assert rows() == [] and queued_job_ids(redis_conn) == []


def test_webhook_touches_channel_last_webhook_at(client, tg_channel):
    assert tg_channel.last_webhook_at is None
    assert post_tg(client, tg_channel, tg.message_update("hi")).status_code == 200
    db.session.refresh(tg_channel)
    assert tg_channel.last_webhook_at is not None


# --- the per-process channel cache never changes an answer -----------------------------------
# Writes below go through Core (no ORM event), as another process's writes would look here.

def test_rotated_token_works_at_once_and_the_old_one_stops(client, green_channel):
    old_token = green_channel.webhook_token
    first = green.incoming_message("79001234567@c.us", "one", id_instance=green_channel.id_instance)
    assert post_green(client, green_channel, first).status_code == 200  # now cached
    db.session.execute(update(Channel).where(Channel.id == green_channel.id)
                       .values(webhook_token="rotated-token-123"))
    db.session.commit()
    second = green.incoming_message("79001234567@c.us", "two",
                                    id_instance=green_channel.id_instance)
    assert post_green(client, green_channel, second, token="rotated-token-123").status_code == 200
    third = green.incoming_message("79001234567@c.us", "three",
                                   id_instance=green_channel.id_instance)
    response = client.post(GREEN_URL, data=json.dumps(third),
                           headers=green.webhook_headers(old_token))
    assert response.status_code == 403
    assert [e.text for e in rows()] == ["one", "two"]


def test_channel_deleted_while_cached_is_refused_not_a_server_error(client, tg_channel,
                                                                    redis_conn):
    assert post_tg(client, tg_channel, tg.message_update("cached")).status_code == 200
    secret, bot_id = tg_channel.secret_token, tg_channel.bot_id
    db.session.execute(delete(Channel).where(Channel.id == tg_channel.id))
    db.session.commit()
    response = client.post(f"/webhooks/telegram/{bot_id}",
                           data=json.dumps(tg.message_update("after delete")),
                           headers=tg.webhook_headers(secret))
    assert response.status_code == 403
    assert rows() == []  # the first row went with its channel (ON DELETE CASCADE)


def test_channel_disabled_in_this_process_is_ignored_at_once(client, green_channel):
    payload = green.incoming_message("79001234567@c.us", "1", id_instance=green_channel.id_instance)
    assert post_green(client, green_channel, payload).status_code == 200  # now cached
    green_channel.enabled = False
    db.session.commit()
    later = green.incoming_message("79001234567@c.us", "2", id_instance=green_channel.id_instance)
    response = post_green(client, green_channel, later)
    assert response.status_code == 200 and response.get_json().get("ignored")
    assert [e.text for e in rows()] == ["1"]
