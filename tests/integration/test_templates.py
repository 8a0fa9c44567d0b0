"""Safe templates end to end (issue 10, "Templates can exhaust memory"; issue 11, templates saved
without complaint): every template kind is refused on save by its screen (the error beside the
field, naming the placeholder, in the user's language) and by its REST API (422), and a stored
template that is not valid (a row written before these checks) never reaches a customer or a
provider: the pipeline and the Playground use the built-in text instead and say so in the trace.
"""
from __future__ import annotations

from html import unescape

import pytest
from markupsafe import escape

from app.domain.replies import DEFAULT_REPLIES
from app.domain.templates import ROUTE_LINE_LIMIT
from app.extensions import db
from app.models import (CustomCommand, DetectedChat, GlobalReplyTemplate, ProviderRoute,
                        QuickReply, ReplyTemplate)
from tests.form_errors import api_message
from tests.form_errors import raw_field_error as field_error
from tests.integration.pipeline_support import (GROUP_CHAT, REFILL_30, build_desk, days_ago,
                                                seed_refill_order,
                                                dispatches, line, reply_of, send, steps)

ORDER = "2274209"
EXTERNAL = "EXT-88231"
HUGE_SPEC = "{order_ids:>20000000}"  # rendered a 20 MB page before
EIGHTEEN = "{order_id:_>40000}"  # an 18-character route template that made 40,000 characters



# --- helpers ------------------------------------------------------------------------------------

def count(model) -> int:
    db.session.expire_all()
    return db.session.query(model).count()


@pytest.fixture
def acme(factory, auth):
    """A signed-in manager of a workspace with a channel and a provider."""
    workspace, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    route = db.session.query(ProviderRoute).filter_by(workspace_id=workspace.id).one()
    return workspace, route


# --- screens and REST, every workspace template kind --------------------------------------------

def _kinds(workspace, route):
    """(screen base, API base, model, template field, a valid form, a valid API body)."""
    return {
        "reply": ("/replytemplateview", "/api/v1/reply_template", ReplyTemplate, "body",
                  {"key": "refill_ok", "language": "es", "body": "Hecho: {order_ids}"},
                  {"key": "refill_ok", "language": "tr", "body": "Tamam: {order_ids}"}),
        "custom": ("/customcommandview", "/api/v1/custom_command", CustomCommand, "reply",
                   {"keyword": "hours", "reply": "9-18 {{weekdays}}", "enabled": "y"},
                   {"keyword": "prices", "reply": "See the panel", "enabled": True}),
        "quick": ("/quickreplyview", "/api/v1/quick_reply", QuickReply, "body",
                  {"shortcut": "delay", "title": "Delays", "enabled": "y",
                   "body": "Hello {name}, your order is on its way. {agent} from {workspace}"},
                  {"shortcut": "thanks", "title": "Thanks", "enabled": True,
                   "body": "Thank you, {username}!"}),
        "route": ("/providerrouteview", "/api/v1/provider_route", ProviderRoute, "template",
                  {"provider": str(route.provider_id), "channel": str(route.channel_id),
                   "chat_id": "120363999@g.us", "template": "{external_id} {action} x{quantity}",
                   "actions": "refill", "enabled": "y"},
                  {"provider": route.provider_id, "channel": route.channel_id,
                   "chat_id": "120363998@g.us", "template": "{action}: {external_ids}",
                   "actions": "refill", "enabled": True}),
    }


# (kind, bad template, what the error must quote, what it must say)
REFUSED = [
    ("reply", HUGE_SPEC, HUGE_SPEC, "Formatting after a colon"),
    ("reply", "Done {order_ids.__class__}", "{order_ids.__class__}", "Attribute and index"),
    ("reply", "Done {order_ids[0]}", "{order_ids[0]}", "Attribute and index"),
    ("reply", "Done {order_ids!r}", "{order_ids!r}", "Conversions"),
    ("reply", "Done {0}", "{0}", "needs a name"),
    ("reply", "Done {username}", "{username}", "use {order_ids}"),  # not a refill_ok value
    ("reply", "Done {order_ids", "{order_ids", "is not closed"),
    ("custom", "Hello {name}", "{name}", "takes no placeholders"),
    ("custom", "Open } now", "}", "a lone"),
    ("quick", "Hello {name:>9999999}", "{name:>9999999}", "Formatting after a colon"),
    ("quick", "Order {order_id} is late", "{order_id}", "use {name}, {username}, {agent}"),
    ("quick", "Hello {name.__class__}", "{name.__class__}", "Attribute and index"),
    ("route", EIGHTEEN, EIGHTEEN, "Formatting after a colon"),
    ("route", "{external} {action} {nonsense", "{external}", "Unknown placeholder"),
    ("route", "{external_id} {action} {nonsense", "{nonsense", "is not closed"),
    ("route", "{external_ids} {quantity}", "{quantity}", "cannot be used with {external_ids}"),
    ("route", "{order_id} {action}", None, "Must contain {external_id}"),
]


@pytest.mark.parametrize("kind, bad, quoted, says", REFUSED)
def test_screen_refuses_a_bad_template_beside_its_field(client, acme, kind, bad, quoted, says):
    base, _api, model, column, form, _body = _kinds(*acme)[kind]
    before = count(model)
    page = client.post(f"{base}/add", data={**form, column: bad}).get_data(as_text=True)
    error = field_error(page, column)
    assert error is not None, f"no error beside {column}"
    assert str(escape(says)) in error
    if quoted:
        assert str(escape(quoted)) in error
    assert count(model) == before
    assert escape(bad) in page  # the input is kept for correcting


def test_the_quoted_placeholder_is_escaped_on_the_page(client, acme):
    """FAB prints field errors through `_()`, which Jinja marks safe; the error quotes the
    user's text, so markup in it must arrive escaped, never as markup."""
    page = client.post("/customcommandview/add", data={
        "keyword": "x", "reply": "{<img src=x onerror=alert(1)>}", "enabled": "y"})
    html = page.get_data(as_text=True)
    assert "<img src=x onerror=alert(1)>" not in html
    assert "{&lt;img src=x onerror=alert(1)&gt;}" in field_error(html, "reply")


@pytest.mark.parametrize("kind", ["reply", "custom", "quick", "route"])
def test_screen_accepts_a_good_template_and_edits_are_checked_too(client, acme, kind):
    base, _api, model, column, form, _body = _kinds(*acme)[kind]
    before = count(model)
    response = client.post(f"{base}/add", data=form)
    assert response.status_code == 302, field_error(response.get_data(as_text=True), column)
    assert count(model) == before + 1
    row = db.session.query(model).order_by(model.id.desc()).first()
    bad = {"reply": HUGE_SPEC, "custom": "{x}", "quick": "{order_ids}", "route": EIGHTEEN}[kind]
    page = client.post(f"{base}/edit/{row.id}", data={**form, column: bad})
    assert field_error(page.get_data(as_text=True), column) is not None
    db.session.expire_all()
    assert getattr(db.session.get(model, row.id), column) == form[column]


@pytest.mark.parametrize("kind, bad, quoted, says", REFUSED)
def test_rest_api_refuses_a_bad_template_with_422(client, acme, kind, bad, quoted, says):
    _base, api, model, column, _form, body = _kinds(*acme)[kind]
    before = count(model)
    response = client.post(f"{api}/", json={**body, column: bad})
    assert response.status_code == 422, response.json
    assert says in api_message(response)
    if quoted:
        assert quoted in api_message(response)
    assert count(model) == before


@pytest.mark.parametrize("kind", ["reply", "custom", "quick", "route"])
def test_rest_api_accepts_a_good_template_and_checks_updates(client, acme, kind):
    _base, api, model, column, _form, body = _kinds(*acme)[kind]
    response = client.post(f"{api}/", json=body)
    assert response.status_code == 201, response.json
    pk = response.json["id"]
    bad = {"reply": HUGE_SPEC, "custom": "{x}", "quick": "{order_ids}", "route": EIGHTEEN}[kind]
    response = client.put(f"{api}/{pk}", json={column: bad})
    assert response.status_code == 422 and bad in api_message(response)
    db.session.expire_all()
    assert getattr(db.session.get(model, pk), column) == body[column]


def test_unknown_reply_keys_are_refused(client, acme):
    before = count(ReplyTemplate)
    response = client.post("/api/v1/reply_template/",
                           json={"key": "nonsense", "language": "en", "body": "Hi"})
    assert response.status_code == 422
    assert api_message(response).startswith("Unknown reply nonsense: use one of refill_ok")
    page = client.post("/replytemplateview/add",
                       data={"key": "nonsense", "language": "en", "body": "Hi"})
    assert "Unknown reply nonsense" in field_error(page.get_data(as_text=True), "key")
    assert count(ReplyTemplate) == before


def test_the_key_decides_which_placeholders_a_reply_takes(client, acme):
    ok = client.post("/api/v1/reply_template/",
                     json={"key": "link_sent", "language": "en", "body": "Code sent to {username}"})
    assert ok.status_code == 201, ok.json
    refused = client.post("/api/v1/reply_template/",
                          json={"key": "help", "language": "en", "body": "Hi {username}"})
    assert refused.status_code == 422
    assert "this text takes no placeholders" in api_message(refused)


def test_the_error_is_in_the_users_language(client, acme):
    assert client.get("/lang/ru").status_code == 302
    page = client.post("/replytemplateview/add",
                       data={"key": "refill_ok", "language": "ru", "body": HUGE_SPEC})
    error = field_error(page.get_data(as_text=True), "body")
    assert error == str(escape(f"Недопустимо: {HUGE_SPEC}. Форматирование после двоеточия "
                               "не поддерживается."))
    response = client.post("/api/v1/custom_command/", json={"keyword": "x", "reply": "{a.b}"})
    assert response.status_code == 422
    assert api_message(response).startswith("Недопустимо: {a.b}.")


def test_template_fields_describe_their_placeholders(client, acme):
    page = client.get("/providerrouteview/add").get_data(as_text=True)
    for name in ("{external_id}", "{action}", "{order_id}", "{quantity}", "{link}",
                 "{external_ids}", "{order_ids}"):
        assert name in page, name
    assert "the provider's id of the order" in unescape(page)
    page = client.get("/replytemplateview/add").get_data(as_text=True)
    for name in ("{order_ids}", "{time_left}", "{status}", "{max_ids}", "{balance}",
                 "{username}"):
        assert name in page, name
    assert "cooldown — These {count} orders were requested recently; you can ask again in " \
        "{time_left}" in page
    assert "cooldown_one — This order was requested recently" in page  # the singular, apart
    assert "Plain text without placeholders." in \
        client.get("/customcommandview/add").get_data(as_text=True)
    info = client.get("/api/v1/provider_route/_info").json
    described = {f["name"]: f.get("description", "") for f in info["add_columns"]}
    assert "{external_ids}" in described["template"]
    client.get("/lang/tr")
    page = client.get("/customcommandview/add").get_data(as_text=True)
    assert "Yer tutucusuz düz metin." in page


def test_assigning_a_detected_chat_checks_the_route_template(client, acme):
    workspace, route = acme
    chat = DetectedChat(workspace_id=workspace.id, channel_id=route.channel_id,
                        chat_id="120363555@g.us", title="Peakerr group", chat_type="group")
    db.session.add(chat)
    db.session.commit()
    before = count(ProviderRoute)
    page = client.post(f"/detectedchatview/assign/{chat.id}", data={
        "target": "provider", "provider_id": route.provider_id, "actions": ["refill"],
        "template": EIGHTEEN})
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert escape(f"Not allowed: {EIGHTEEN}. Formatting after a colon is not supported.") in html
    assert f'value="{escape(EIGHTEEN)}"' in html  # kept for correcting
    assert count(ProviderRoute) == before


# --- the platform's default replies (master admin, translators; no REST API) --------------------

def test_default_replies_screen_refuses_bad_texts_on_add_and_edit(client, factory, auth):
    admin = factory.admin()
    auth.login(admin.username)
    page = client.post("/globalreplytemplateview/add",
                       data={"key": "cooldown", "language": "de", "body": "Wait {time_left!s}"})
    assert "{time_left!s}" in field_error(page.get_data(as_text=True), "body")
    page = client.post("/globalreplytemplateview/add",
                       data={"key": "no_such_reply", "language": "de", "body": "Hi"})
    assert "Unknown reply no_such_reply" in field_error(page.get_data(as_text=True), "key")
    assert count(GlobalReplyTemplate) == 0

    response = client.post("/globalreplytemplateview/add", data={
        "key": "cooldown", "language": "de", "body": "Warte {time_left}: {order_ids}"})
    assert response.status_code == 302
    row = db.session.query(GlobalReplyTemplate).one()
    # the edit form has the text only: the key comes from the row being edited
    page = client.post(f"/globalreplytemplateview/edit/{row.id}",
                       data={"body": "Warte {balance}"})
    error = field_error(page.get_data(as_text=True), "body")
    assert error == "Unknown placeholder {balance}: use {order_ids}, {time_left}, {count}."
    response = client.post(f"/globalreplytemplateview/edit/{row.id}",
                           data={"body": "Bitte warte {time_left}"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(GlobalReplyTemplate, row.id).body == "Bitte warte {time_left}"


def test_translators_get_the_same_checks(client, factory, auth):
    translator = factory.translator()
    auth.login(translator.username)
    page = client.post("/globalreplytemplateview/add",
                       data={"key": "refill_ok", "language": "de", "body": HUGE_SPEC})
    assert escape(HUGE_SPEC) in field_error(page.get_data(as_text=True), "body")
    assert count(GlobalReplyTemplate) == 0


# --- legacy rows: stored before the checks, harmless when used ---------------------------------

@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, EXTERNAL)


@pytest.fixture
def desk(factory, pp, redis_conn):
    return build_desk(factory, pp.url)


def test_a_stored_invalid_reply_answers_with_the_built_in_text(client, factory, desk):
    factory.reply_template(desk.workspace, key="refill_ok", language="en", body=HUGE_SPEC)
    log = send(client, desk.channel, f"{ORDER} refill")
    assert reply_of(log) == line("refill_ok", order_ids=ORDER)
    (note,) = steps(log, "template_fallback")
    assert note["template"] == "refill_ok" and note["source"] == "workspace"
    assert HUGE_SPEC in note["error"]
    assert log.state == "done" and log.outcome == "dispatched"


def test_a_stored_invalid_workspace_text_gives_way_to_the_platform_default(client, factory,
                                                                           desk):
    factory.reply_template(desk.workspace, key="refill_ok", language="en",
                           body="Done {order_ids.__class__.__mro__}")
    db.session.add(GlobalReplyTemplate(key="refill_ok", language="en",
                                       body="Platform says: {order_ids}"))
    db.session.add(GlobalReplyTemplate(key="help", language="en", body="Help {0}"))
    db.session.commit()
    assert reply_of(send(client, desk.channel, f"{ORDER} refill")) == f"Platform says: {ORDER}"
    log = send(client, desk.channel, "help")
    assert reply_of(log) == DEFAULT_REPLIES["help"]
    assert steps(log, "template_fallback")[0]["source"] == "platform"


def test_a_stored_invalid_route_template_sends_the_default_command(client, desk):
    route = db.session.get(ProviderRoute, desk.route.id)
    route.template = EIGHTEEN  # written before routes were checked
    db.session.commit()
    log = send(client, desk.channel, f"{ORDER} refill")
    (dispatch,) = dispatches(log)
    assert (dispatch.chat_id, dispatch.text) == (GROUP_CHAT, f"{EXTERNAL} refill")
    (note,) = steps(log, "template_fallback")
    assert note["template"] == f"route:{route.id}" and EIGHTEEN in note["error"]
    assert reply_of(log) == line("refill_ok", order_ids=ORDER)


def test_a_stored_valid_route_template_renders_within_bounds(client, desk, pp):
    for number in range(40):
        pp.add_order(3_000_000 + number, user="alice", service_name=REFILL_30,
                     status="completed", external_id="X" * 60 + str(number),
                     created=days_ago(5))
    route = db.session.get(ProviderRoute, desk.route.id)
    route.template = "{action} {external_ids}"
    db.session.commit()
    ids = " ".join(str(3_000_000 + n) for n in range(40))
    log = send(client, desk.channel, f"{ids} refill")
    (dispatch,) = dispatches(log)
    lines = dispatch.text.splitlines()
    assert len(lines) > 1 and all(len(text) <= ROUTE_LINE_LIMIT for text in lines)
    sent = [i for text in lines for i in text.removeprefix("refill ").split(", ")]
    assert sent == ["X" * 60 + str(n) for n in range(40)]


def test_a_stored_custom_reply_with_braces_is_shown_as_written(client, factory, desk):
    factory.custom_command(desk.workspace, keyword="prices", reply="Prices: {see the panel}")
    factory.custom_command(desk.workspace, keyword="hours", reply="Open 9-18 {{weekdays}}")
    log = send(client, desk.channel, "prices")
    assert reply_of(log) == "Prices: {see the panel}"
    assert steps(log, "template_fallback")[0]["template"] == "custom:prices"
    assert reply_of(send(client, desk.channel, "hours")) == "Open 9-18 {weekdays}"


def test_the_playground_shows_the_built_in_texts_for_stored_invalid_ones(client, factory, auth):
    from app.demo import ensure_demo_workspace
    from app.models import Channel, Workspace
    from tests.factories import password_for

    ensure_demo_workspace()
    workspace = db.session.query(Workspace).filter_by(slug="demo").one()
    manager = factory.sm.find_user(username="demo-manager")
    factory.sm.reset_password(manager.id, password_for("demo-manager"))
    channel = db.session.query(Channel).filter_by(workspace_id=workspace.id,
                                                  kind="greenapi").one()
    factory.reply_template(workspace, key="refill_ok", language="en", body=HUGE_SPEC)
    for route in db.session.query(ProviderRoute).filter_by(workspace_id=workspace.id):
        route.template = EIGHTEEN
    db.session.commit()
    auth.login("demo-manager")
    page = client.post("/playground/", data={"channel_id": channel.id,
                                             "chat_id": "79001234567@c.us",
                                             "text": f"{ORDER} refill"}).get_data(as_text=True)
    assert "Refill requested: 2274209" in page
    assert f"{EXTERNAL} refill" in page
    assert "template_fallback" in page
    assert len(page) < 200_000  # not a 20 MB page
