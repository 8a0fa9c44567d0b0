"""Property-based fuzzing of every webhook: no 5xx for any input
(docs/contracts.md "Webhook endpoints").

Requests carry VALID authentication (the channel's token or secret, a correct Meta signature of
the exact bytes sent) so that every body reaches the parser and the normaliser. Bodies are:
random JSON documents (also non-objects), valid platform payloads mutated field by field (drop,
replace, retype, huge strings, deep nesting, long lists), and valid bodies damaged byte by byte
(invalid UTF-8, truncation, stray bytes). The answer must be 200, 400 or 413, never a 5xx, and a
refused body must store nothing. Examples are bounded so the module runs in seconds.
"""
from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func

from app.extensions import db
from app.models import InboundEvent
from tests.fakes import greenapi as green
from tests.fakes import meta
from tests.fakes import telegram as tg
from tests.integration.webhook_support import delete_all_rows

ALLOWED = {200, 400, 413}
PLATFORM_SECRET = "fuzz-platform-secret"

FUZZ = settings(max_examples=35, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@pytest.fixture(autouse=True)
def _clean_database(app):
    """Overrides the suite's TRUNCATE clean-up with a faster DELETE (see delete_all_rows)."""
    yield
    delete_all_rows(app)


# --- strategies -----------------------------------------------------------------------------

# Values that are valid JSON (or that json.dumps writes anyway) but hostile to a parser, a
# database or a normaliser: NaN/Infinity, 1e308, NUL, lone surrogates, 64-bit-plus integers.
hostile = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -0.0, 2**64,
                           -2**63 - 1, 10**40, "\u0000", "a\u0000b", "\ud800", "x\udfffy", "",
                           " ", "@g.us", "@c.us", "-1001234567890", "NaN", "textMessage",
                           "messages", "whatsapp_business_account", [], {}])
scalars = (st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
           | st.floats() | st.text(max_size=30) | hostile | hostile)
json_values = st.recursive(
    scalars,
    lambda children: (st.lists(children, max_size=4)
                      | st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=20)

HUGE_SIZES = [1_000, 60_000, 400_000, 1_100_000, 3_200_000]
DEEP_TOKEN = "@@deep-{}@@"


def _paths(doc, prefix=()):
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


def _retyped(value, choice: int):
    options = [str(value), [value], {"value": value}, None, True, 0, -1, 1.5, "",
               value if isinstance(value, str) else json.dumps(value)[:50]]
    if isinstance(value, dict):
        options.append(list(value.values()))
    if isinstance(value, list):
        options.append(dict(enumerate(value)))
    if isinstance(value, str) and value.lstrip("-").isdigit() and len(value) < 30:
        options.append(int(value))
    return options[choice % len(options)]


def mutate(data, document, protected=()):
    """Apply 1-4 random mutations to a copy of `document`; paths in `protected` (routing fields
    that would only turn the request into a 403) are left alone."""
    doc = copy.deepcopy(document)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        candidates = [p for p in _paths(doc) if not any(p[:len(q)] == q for q in protected)]
        if not candidates:
            break
        path = data.draw(st.sampled_from(candidates), label="path")
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key, current = path[-1], parent[path[-1]]
        op = data.draw(st.sampled_from(["drop", "replace", "retype", "hostile", "huge", "nest",
                                        "deep", "repeat"]), label="op")
        if op == "drop":
            del parent[key]
        elif op == "replace":
            parent[key] = data.draw(json_values, label="value")
        elif op == "hostile":
            parent[key] = data.draw(hostile, label="hostile")
        elif op == "retype":
            parent[key] = _retyped(current, data.draw(st.integers(0, 20), label="type"))
        elif op == "huge":
            char = data.draw(st.sampled_from(["x", "\u00e9", "\U0001f600", "\\", '"']))
            size = data.draw(st.sampled_from(HUGE_SIZES), label="size")
            parent[key] = char * (size if char == "x" else size // 8)  # escapes take 2-12 bytes
        elif op == "nest":
            for _ in range(data.draw(st.integers(1, 70), label="depth")):
                current = [current] if data.draw(st.booleans()) else {"k": current}
            parent[key] = current
        elif op == "deep":  # too deep to build as objects: spliced into the text afterwards
            parent[key] = DEEP_TOKEN.format(data.draw(st.sampled_from([100, 3_000, 200_000])))
        else:
            copies = data.draw(st.integers(2, 60), label="copies")
            dumped = json.dumps(current)
            if len(dumped) > 50_000 or "@@deep-" in dumped:  # keep bodies within a few MiB
                copies = 2
            parent[key] = [current] * copies
    return doc


def serialise(doc) -> bytes:
    text = json.dumps(doc)
    for depth in (100, 3_000, 200_000):
        token = json.dumps(DEEP_TOKEN.format(depth))
        if token in text:
            text = text.replace(token, "[" * depth + "]" * depth)
    return text.encode("utf-8", "surrogatepass")


BYTE_NOISE = [b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
              b"\x00", b"\x80", b"\xe2\x82", b"{", b"]", b'"', b"\\", b"\\u12", b"NaN"]


STRING_NOISE = [b"\\u0000", b"\\ud800", b"\\udfff", b"\\ud83d\\ude00", b"\xed\xa0\x80", b"\xff",
                b"\xc0\xaf", b"\xf4\x90\x80\x80"]
NUMBER_NOISE = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" * 5000, b"0.5"]
NUMBER = re.compile(rb"(?<=: )-?\d+(?:\.\d+)?")


def damage(data, body: bytes) -> bytes:
    """Byte-level damage: insert, overwrite or truncate anywhere; bad bytes or escapes at the
    start of a string; non-JSON numbers in place of a number."""
    for _ in range(data.draw(st.integers(1, 3), label="damages")):
        position = data.draw(st.integers(0, len(body)), label="position")
        noise = data.draw(st.sampled_from(BYTE_NOISE) | st.binary(min_size=1, max_size=6),
                          label="noise")
        how = data.draw(st.sampled_from(["insert", "overwrite", "truncate", "in string",
                                         "number"]), label="how")
        quotes = [i for i, byte in enumerate(body) if byte == ord('"')]
        numbers = list(NUMBER.finditer(body))
        if how == "in string" and quotes:
            at = data.draw(st.sampled_from(quotes), label="quote") + 1
            body = body[:at] + data.draw(st.sampled_from(STRING_NOISE)) + body[at:]
        elif how == "number" and numbers:
            match = data.draw(st.sampled_from(numbers), label="number")
            body = (body[:match.start()] + data.draw(st.sampled_from(NUMBER_NOISE))
                    + body[match.end():])
        elif how == "insert":
            body = body[:position] + noise + body[position:]
        elif how == "overwrite":
            body = body[:position] + noise + body[position + len(noise):]
        else:
            body = body[:position]
    return body


# --- the three endpoints, each with valid credentials --------------------------------------

def count_rows() -> int:
    return db.session.query(func.count(InboundEvent.id)).scalar()


def check(response, before: int) -> None:
    assert response.status_code in ALLOWED, (response.status_code, response.data[:300])
    if response.status_code != 200:
        assert count_rows() == before, "a refused body stored something"


@pytest.fixture
def green_target(client, factory):
    channel = factory.channel(factory.workspace("fuzz-green"), kind="greenapi")
    iid, headers = channel.id_instance, green.webhook_headers(channel.webhook_token)

    def post(body: bytes):
        before = count_rows()
        check(client.post("/webhooks/greenapi", data=body, headers=headers), before)

    builders = [
        lambda: green.incoming_message("79001234567@c.us", "2274209 refill", id_instance=iid),
        lambda: green.incoming_message("120363043968066561@g.us", "refill 1234",
                                       kind="extendedTextMessage", id_instance=iid),
        lambda: green.incoming_message("79001234567@c.us", "x", kind="quotedMessage",
                                       id_instance=iid),
        lambda: green.outgoing_message("79001234567@c.us", "reply", id_instance=iid),
        lambda: green.outgoing_message_status("79001234567@c.us", "3EB0AB", "failed",
                                              id_instance=iid),
        lambda: green.state_instance_changed("yellowCard", id_instance=iid),
        lambda: {"typeWebhook": "deviceInfo", "instanceData": green.instance_data(iid),
                 "timestamp": 1700000000, "deviceData": {"platform": "android"}},
    ]
    return post, builders, [("instanceData",)], iid


@pytest.fixture
def meta_target(app, client, factory, monkeypatch):
    monkeypatch.setitem(app.config, "META_APP_SECRET", PLATFORM_SECRET)
    channel = factory.channel(factory.workspace("fuzz-meta"), kind="meta",
                              waba_id=meta.DEFAULT_WABA_ID)
    pnid = channel.phone_number_id

    def post(body: bytes):
        before = count_rows()
        headers = {"X-Hub-Signature-256": meta.signature(body, PLATFORM_SECRET),
                   "Content-Type": "application/json"}
        check(client.post("/webhooks/meta", data=body, headers=headers), before)

    builders = [
        lambda: meta.text_notification("79001234567", "2274209 refill", phone_number_id=pnid),
        lambda: meta.status_notification("wamid.X1", "failed", "79001234567",
                                         errors=[meta.status_error(131047)],
                                         phone_number_id=pnid),
        lambda: meta.notification(
            meta.entry(meta.messages_change(
                messages=[meta.text_message("7901", "a"), meta.text_message("7902", "b")],
                statuses=[meta.status("wamid.Y", "read", "7903")], phone_number_id=pnid),
                meta.template_status_change("PAUSED", 9, "tpl"))),
    ]
    return post, builders, [], None


@pytest.fixture
def telegram_target(client, factory):
    channel = factory.channel(factory.workspace("fuzz-telegram"), kind="telegram")
    url, headers = f"/webhooks/telegram/{channel.bot_id}", tg.webhook_headers(channel.secret_token)

    def post(body: bytes):
        before = count_rows()
        check(client.post(url, data=body, headers=headers), before)

    builders = [
        lambda: tg.message_update("2274209 refill"),
        lambda: tg.message_update("EXT-1 refill", chat_id=tg.SUPERGROUP_CHAT_ID),
        lambda: tg.edited_message_update("2274209 speed"),
        lambda: tg.channel_post_update("news"),
        lambda: tg.message_update("x", sender=tg.user(5, "Bot", "bot", is_bot=True)),
        lambda: tg.my_chat_member_update(new_status="administrator"),
        lambda: tg.migrate_to_chat_update(),
        lambda: tg.message_update(None, caption="photo caption", photo=[{"file_id": "f"}]),
    ]
    return post, builders, [], None


TARGETS = ["green_target", "meta_target", "telegram_target"]


def _routed_random_document(name: str, iid, data) -> object:
    """Random JSON where the platform's routing fields are right, so it gets past routing."""
    fields = data.draw(st.dictionaries(st.text(max_size=12), json_values, max_size=6))
    if name == "green_target":
        typed = data.draw(st.sampled_from([
            "incomingMessageReceived", "outgoingMessageReceived", "outgoingAPIMessageReceived",
            "outgoingMessageStatus", "stateInstanceChanged", "other"]))
        keys = data.draw(st.fixed_dictionaries({}, optional={
            "idMessage": json_values, "senderData": json_values, "messageData": json_values,
            "timestamp": json_values, "chatId": json_values, "status": json_values,
            "stateInstance": json_values}))
        return {**fields, **keys, "typeWebhook": typed,
                "instanceData": {"idInstance": int(iid)}}
    if name == "meta_target":
        return {**fields, "object": "whatsapp_business_account",
                "entry": data.draw(st.lists(json_values, max_size=3))}
    keys = data.draw(st.fixed_dictionaries({}, optional={
        "message": json_values, "edited_message": json_values, "my_chat_member": json_values,
        "channel_post": json_values}))
    return {**fields, **keys, "update_id": data.draw(st.integers() | json_values)}


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(data=st.data())
def test_random_json_never_5xx(request, target, data):
    post, _builders, _protected, iid = request.getfixturevalue(target)
    if data.draw(st.booleans(), label="routed"):
        document = _routed_random_document(target, iid, data)
    else:
        document = data.draw(json_values, label="document")  # also lists and scalars
    post(json.dumps(document).encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(data=st.data())
def test_mutated_payloads_never_5xx(request, target, data):
    post, builders, protected, _iid = request.getfixturevalue(target)
    base = data.draw(st.sampled_from(builders), label="base")()
    post(serialise(mutate(data, base, protected)))


@pytest.mark.parametrize("target", TARGETS)
@FUZZ
@given(data=st.data())
def test_damaged_bytes_never_5xx(request, target, data):
    post, builders, _protected, _iid = request.getfixturevalue(target)
    base = data.draw(st.sampled_from(builders), label="base")()
    post(damage(data, json.dumps(base).encode()))


@pytest.mark.parametrize("target", TARGETS)
@settings(FUZZ, max_examples=20)
@given(data=st.data())
def test_a_suspended_workspace_answers_as_before_and_skips_what_it_stored(request, target,
                                                                         data):
    """A suspended workspace's webhooks answer every body as an active one's do (its events
    are stored, 200), and the worker finishes each stored event without an error: messages
    `skipped` (reason `suspended`), the rest applied (docs/contracts.md "SaaS contracts")."""
    from app.jobs.events import process_event
    from app.models import Workspace, WorkspaceSettings

    post, builders, protected, _iid = request.getfixturevalue(target)
    db.session.query(Workspace).update({"status": "suspended"})
    db.session.query(WorkspaceSettings).update({"paused_reply_enabled": False})  # no sends
    db.session.commit()
    base = data.draw(st.sampled_from(builders), label="base")()
    post(serialise(mutate(data, base, protected)) if data.draw(st.booleans(), label="mutate")
         else json.dumps(base).encode())
    for (event_id,) in db.session.query(InboundEvent.id).filter_by(state="pending").all():
        process_event(event_id)
    db.session.expire_all()
    for kind, state, reason in db.session.query(InboundEvent.kind, InboundEvent.state,
                                                InboundEvent.skip_reason):
        if kind == "message":
            assert (state, reason) == ("skipped", "suspended")
        else:
            assert state in ("done", "ignored") and reason is None


# --- the hand-written shape checks accept exactly what the marshmallow schemas accept --------
# (app/webhooks/greenapi.py and meta.py keep the schemas as the reference; the endpoints run the
# cheaper `check_shape`.) Pure functions: no request, no database.

def _schema_accepts(schema, document) -> bool:
    if not isinstance(document, dict):  # refused before load(), as the endpoints always did
        return False
    try:
        schema.load(document)
    except Exception:  # noqa: BLE001 - ValidationError, or any error: the endpoint answered 400
        return False
    return True


def _check_accepts(check, document) -> bool:
    try:
        check(document)
    except (ValueError, TypeError, KeyError):  # what the endpoints turn into a 400
        return False
    return True


def _shapes():
    from app.webhooks import greenapi as green_hook
    from app.webhooks import meta as meta_hook

    iid = green.DEFAULT_ID_INSTANCE
    green_builders = [
        lambda: green.incoming_message("79001234567@c.us", "2274209 refill", id_instance=iid),
        lambda: green.outgoing_message_status("79001234567@c.us", "3EB0AB", "failed",
                                              id_instance=iid),
        lambda: green.state_instance_changed("yellowCard", id_instance=iid),
    ]
    meta_builders = [
        lambda: meta.text_notification("79001234567", "2274209 refill"),
        lambda: meta.notification(
            meta.entry(meta.messages_change(
                messages=[meta.text_message("7901", "a"), meta.text_message("7902", "b")],
                statuses=[meta.status("wamid.Y", "read", "7903")]),
                meta.template_status_change("PAUSED", 9, "tpl"))),
    ]
    return {"greenapi": (green_hook.check_shape, green_hook.GreenWebhookSchema(), green_builders),
            "meta": (meta_hook.check_shape, meta_hook.MetaNotificationSchema(), meta_builders)}


# Values each field's marshmallow type treats specially (fields.Integer takes "12", 1.5 and
# "1_000" but not True, "1.5" or 5000 digits; String and Dict take no None unless optional).
EDGE_VALUES = [None, True, False, 0, 12, -1, 1.5, 1e308, 2**70, "12", " 12 ", "1_000", "1.5",
               "", "x", "1" * 5000, [], [1], {}, {"a": 1}, "whatsapp_business_account"]
EDGE_PATHS = {
    "greenapi": [("typeWebhook",), ("instanceData",), ("instanceData", "idInstance"),
                 ("timestamp",), ("idMessage",), ("senderData",), ("messageData",)],
    "meta": [("object",), ("entry",), ("entry", 0), ("entry", 0, "id"), ("entry", 0, "changes"),
             ("entry", 0, "changes", 0), ("entry", 0, "changes", 0, "field"),
             ("entry", 0, "changes", 0, "value")],
}


@pytest.mark.parametrize("platform", ["greenapi", "meta"])
def test_shape_check_matches_the_schema_on_every_edge_value(platform):
    check, schema, builders = _shapes()[platform]
    for path in EDGE_PATHS[platform]:
        for value in [*EDGE_VALUES, "drop"]:
            document = builders[0]()
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if value == "drop":
                del parent[path[-1]]
            else:
                parent[path[-1]] = copy.deepcopy(value)
            assert _check_accepts(check, document) == _schema_accepts(schema, document), (
                path, value)
    too_many = builders[0]()
    if platform == "meta":
        too_many["entry"] = too_many["entry"] * 1001
        assert not _check_accepts(check, too_many) and not _schema_accepts(schema, too_many)


@pytest.mark.parametrize("platform", ["greenapi", "meta"])
@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.large_base_example])
@given(data=st.data())
def test_shape_check_matches_the_schema_on_fuzzed_documents(platform, data):
    from app.webhooks.http import BadPayload, parse_json

    check, schema, builders = _shapes()[platform]
    if data.draw(st.booleans(), label="random"):
        document = data.draw(json_values, label="document")
    else:
        document = mutate(data, data.draw(st.sampled_from(builders), label="base")())
    try:  # what the endpoint would have in hand: the body as parsed
        document = parse_json(serialise(document))
    except BadPayload:
        return
    assert _check_accepts(check, document) == _schema_accepts(schema, document)
