"""Issue 11 point 3: every check refuses through every door a value comes in by.

* the screen: the form comes back (200) with what was typed still there and the error beside
  the field (`.form-group.has-error .help-block`), nothing stored;
* the REST twin: 422 `{"message": {field: [text]}}`, nothing stored;
* the workspace file: the import is refused with the problem at the field's path.

Workspaces and invoices have no REST write (workspaces have no REST API; invoices are read-only
there) and plans and invoices are not part of a workspace file: those doors do not exist, so they
are not tested. Plans and their prices through the screens and the REST API: test_plans.py.
"""
from __future__ import annotations

import pytest

from app.extensions import db as _db
from app.models import (Channel, Invoice, LinkedUser, PanelConnection, Plan, Provider,
                        ProviderRoute, ReplyTemplate, Workspace, WorkspaceSettings)
from app.views.contacts import LinkedUserView
from app.views.workspace import (ChannelView, ProviderRouteView, ProviderView,
                                 WorkspaceSettingsView)
from app.workspace_file.errors import WorkspaceFileInvalid, format_path
from app.workspace_file.importer import import_text
from tests.form_errors import field_error, field_value

GROUP = "120363000000000001@g.us"


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.query(model).count()


def blank_form(view, **values) -> dict:
    data = {c: "" for c in view.add_columns}
    for column in list(data):  # a checkbox left off sends nothing
        if column in ("enabled", "allow_partial_refill", "fallback_reply_enabled", "is_public"):
            del data[column]
    data.update({k: str(v) for k, v in values.items()})
    return data


def refused_on_screen(response, field: str, says: str, kept: dict) -> None:
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    error = field_error(page, field)
    assert error is not None, f"no error beside {field}"
    assert says in error, error
    for name, value in kept.items():
        assert field_value(page, name) == str(value), name


def refused_by_api(response, field: str, says: str) -> None:
    assert response.status_code == 422, (response.status_code, response.json)
    message = response.json["message"]
    assert isinstance(message, dict) and field in message, message
    assert any(says in m for m in message[field]), message


def file_problems(text: str) -> dict[str, str]:
    with pytest.raises(WorkspaceFileInvalid) as refused:
        import_text(text, "acme.yaml")
    return {format_path(p.path): p.message for p in refused.value.problems}


@pytest.fixture
def acme(factory, auth):
    workspace, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    channel = _db.session.query(Channel).filter_by(workspace_id=workspace.id).one()
    provider = _db.session.query(Provider).filter_by(workspace_id=workspace.id).one()
    return workspace, channel, provider


FILE_HEAD = "workspace: {slug: acme, name: Acme}\n"
FILE_CHANNEL = ("channels:\n  - {name: acme WhatsApp, kind: greenapi, "
                "api_url: 'https://api.green-api.com', id_instance: '1101234567', "
                "api_token: tok}\n")


# --- channels -----------------------------------------------------------------------------------

GREEN = {"kind": "greenapi", "api_url": "https://api.green-api.com", "id_instance": "1109998887",
         "api_token": "secret-token-1"}


@pytest.mark.parametrize("field, bad, says", [
    ("id_instance", "abc", "Use digits only"),
    ("api_url", "not a url", "Enter a full web address"),
])
def test_channel_fields_are_refused_through_every_door(client, acme, field, bad, says):
    before = count(Channel)
    values = dict(GREEN, **{field: bad})
    screen = client.post("/channelview/add", data=blank_form(ChannelView, name="Second",
                                                             enabled="y", **values))
    kept = {"name": "Second", field: bad}
    refused_on_screen(screen, field, says, kept)
    api = client.post("/api/v1/channel/", json={"name": "Second", **values})
    refused_by_api(api, field, says)
    assert count(Channel) == before
    text = FILE_HEAD + FILE_CHANNEL.replace(
        "id_instance: '1101234567'" if field == "id_instance"
        else "api_url: 'https://api.green-api.com'", f"{field}: '{bad}'")
    problems = file_problems(text)
    assert says in problems[f"channels[0].{field}"], problems


def test_missing_platform_fields_are_named_beside_each_field(client, acme):
    before = count(Channel)
    screen = client.post("/channelview/add", data=blank_form(
        ChannelView, name="Half", kind="greenapi", notes="typed notes"))
    page = screen.get_data(as_text=True)
    assert screen.status_code == 200
    for field in ("id_instance", "api_token"):
        assert field_error(page, field) == "Required for this platform.", field
    assert "api_url, id_instance, api_token" not in page  # no internal names
    assert (field_value(page, "name"), field_value(page, "notes")) == ("Half", "typed notes")
    api = client.post("/api/v1/channel/", json={"name": "Half", "kind": "meta"})
    assert api.status_code == 422
    assert set(api.json["message"]) == {"phone_number_id", "access_token"}
    assert count(Channel) == before


def test_a_typed_secret_is_not_echoed_back_and_the_field_says_so(client, acme):
    screen = client.post("/channelview/add", data=blank_form(
        ChannelView, name="Second", **dict(GREEN, id_instance="abc", api_token="s3cret-typed")))
    page = screen.get_data(as_text=True)
    assert "s3cret-typed" not in page
    assert field_value(page, "api_token") in (None, "")
    assert "enter it again" in (field_error(page, "api_token") or "")
    assert "Use digits only" in field_error(page, "id_instance")


def test_a_duplicate_channel_name_is_named_beside_the_name(client, acme):
    _workspace, channel, _provider = acme
    screen = client.post("/channelview/add", data=blank_form(
        ChannelView, name=channel.name, kind="webchat", notes="kept"))
    refused_on_screen(screen, "name", "already used", {"name": channel.name, "notes": "kept"})
    api = client.post("/api/v1/channel/", json={"name": channel.name, "kind": "webchat"})
    refused_by_api(api, "name", "already used")


# --- provider routes ----------------------------------------------------------------------------

@pytest.mark.parametrize("field, bad, says", [
    ("chat_id", "hello world", "Not a WhatsApp chat id"),
    ("chat_id", "-1001234567890", "Not a WhatsApp chat id"),  # a Telegram id on WhatsApp
    ("actions", "refil, boost", "Unknown action: refil, boost"),
    ("template", "{external} {action} {nonsense", "Unknown placeholder {external}"),
])
def test_route_fields_are_refused_through_every_door(client, acme, field, bad, says):
    _workspace, channel, provider = acme
    before = count(ProviderRoute)
    values = {"provider": provider.id, "channel": channel.id, "chat_id": GROUP,
              "template": "{external_id} {action}", "actions": "refill, speed", field: bad}
    screen = client.post("/providerrouteview/add",
                         data=blank_form(ProviderRouteView, enabled="y", **values))
    refused_on_screen(screen, field, says, {field: bad, "chat_id": values["chat_id"]})
    api = client.post("/api/v1/provider_route/", json=values)
    refused_by_api(api, field, says)
    assert count(ProviderRoute) == before
    route = {"channel": "acme WhatsApp", "chat_id": GROUP, field: bad}
    if field == "actions":
        route["actions"] = [a.strip() for a in bad.split(",")]
    items = ", ".join(f"{k}: {v!r}" if not isinstance(v, list) else f"{k}: [{', '.join(v)}]"
                      for k, v in route.items())
    problems = file_problems(FILE_HEAD + FILE_CHANNEL
                             + f"providers:\n  - name: p\n    route: {{{items}}}\n")
    found = " ".join(m for path, m in problems.items() if path.startswith("providers[0].route"))
    assert found, problems


def test_a_telegram_route_takes_a_negative_group_id(client, acme, factory):
    workspace, _channel, provider = acme
    telegram = factory.channel(workspace, name="Bot", kind="telegram")
    ok = client.post("/api/v1/provider_route/", json={
        "provider": provider.id, "channel": telegram.id, "chat_id": "-1001234567890",
        "actions": "refill"})
    assert ok.status_code == 201, ok.json
    refused = client.post("/api/v1/provider_route/", json={
        "provider": provider.id, "channel": telegram.id, "chat_id": GROUP, "actions": "refill"})
    refused_by_api(refused, "chat_id", "Not a Telegram chat id")


# --- settings and panel -------------------------------------------------------------------------

@pytest.mark.parametrize("field, bad, says, file_key", [
    ("cooldown_refill_seconds", "-5", "from 0 to", "cooldowns: {refill: -5}"),
    ("max_ids_per_message", "0", "from 1 to 1000", "max_ids_per_message: 0"),
])
def test_settings_are_refused_through_every_door(client, acme, field, bad, says, file_key):
    workspace, _channel, _provider = acme
    settings = _db.session.query(WorkspaceSettings).filter_by(workspace_id=workspace.id).one()
    pk, stored = settings.id, getattr(settings, field)
    values = {c: getattr(settings, c) for c in WorkspaceSettingsView.edit_columns
              if c not in ("allow_partial_refill", "fallback_reply_enabled")}
    values[field] = bad
    screen = client.post(f"/workspacesettingsview/edit/{pk}", data=values)
    refused_on_screen(screen, field, says, {field: bad})
    api = client.put(f"/api/v1/workspace_settings/{pk}", json={field: int(bad)})
    refused_by_api(api, field, says)
    _db.session.expire_all()
    assert getattr(_db.session.get(WorkspaceSettings, pk), field) == stored
    problems = file_problems(FILE_HEAD + f"settings: {{{file_key}}}\n")
    assert any(path.startswith("settings.") for path in problems), problems


@pytest.mark.parametrize("field, bad, says", [
    ("requests_per_second", "0", "from 0.1 to 100"),
    ("timeout_seconds", "0", "from 1 to 300"),
])
def test_panel_numbers_are_refused_through_every_door(client, acme, field, bad, says):
    workspace, _channel, _provider = acme
    panel = _db.session.query(PanelConnection).filter_by(workspace_id=workspace.id).one()
    pk, stored = panel.id, getattr(panel, field)
    data = {"panel_type": "demo", "url": panel.url, "service_rules_mode": "names",
            "requests_per_second": "5", "timeout_seconds": "15", "api_key": "",
            "user_api_key": "", field: bad}
    screen = client.post(f"/panelconnectionview/edit/{pk}", data=data)
    refused_on_screen(screen, field, says, {field: bad, "url": panel.url})
    api = client.put(f"/api/v1/panel_connection/{pk}", json={field: float(bad)})
    refused_by_api(api, field, says)
    _db.session.expire_all()
    assert getattr(_db.session.get(PanelConnection, pk), field) == stored
    problems = file_problems(FILE_HEAD + f"panel: {{type: demo, {field}: {bad}}}\n")
    assert f"panel.{field}" in problems, problems


# --- people, chats, replies ---------------------------------------------------------------------

def test_linked_user_language_through_every_door(client, acme):
    before = count(LinkedUser)
    screen = client.post("/linkeduserview/add", data=blank_form(
        LinkedUserView, username="bob", language="klingon", notes="typed"))
    # the language is a select: a code it does not offer is crafted, and cannot be shown again
    refused_on_screen(screen, "language", "Not a language code",
                      {"username": "bob", "notes": "typed"})
    api = client.post("/api/v1/linked_user/", json={"username": "bob", "language": "klingon"})
    refused_by_api(api, "language", "Not a language code")
    assert count(LinkedUser) == before
    problems = file_problems(FILE_HEAD + "linked_users:\n  - {username: bob, language: klingon}\n")
    assert "Not a language code" in problems["linked_users[0].language"]


def test_chat_identity_and_admin_identity_chat_ids(client, acme):
    workspace, channel, _provider = acme
    user = _db.session.query(LinkedUser).filter_by(workspace_id=workspace.id).one()
    screen = client.post("/chatidentityview/add", data={
        "linked_user": user.id, "channel": channel.id, "chat_id": "hello world"})
    refused_on_screen(screen, "chat_id", "Not a WhatsApp chat id", {"chat_id": "hello world"})
    api = client.post("/api/v1/admin_identity/", json={
        "name": "Boss", "channel": channel.id, "chat_id": "hello world"})
    refused_by_api(api, "chat_id", "Not a WhatsApp chat id")
    problems = file_problems(FILE_HEAD + FILE_CHANNEL + "admin_identities:\n"
                             "  - {channel: acme WhatsApp, chat_id: hello world}\n")
    assert "Not a WhatsApp chat id" in problems["admin_identities[0].chat_id"]


def test_reply_template_key_and_language(client, acme):
    before = count(ReplyTemplate)
    screen = client.post("/replytemplateview/add", data={
        "key": "help", "language": "klingon", "body": "Typed body"})
    refused_on_screen(screen, "language", "Not a language code", {"body": "Typed body"})
    api = client.post("/api/v1/reply_template/", json={
        "key": "no_such_reply", "language": "en", "body": "Hi"})
    refused_by_api(api, "key", "Unknown reply no_such_reply")
    assert count(ReplyTemplate) == before


def test_a_duplicate_provider_name_is_named(client, acme):
    _workspace, _channel, provider = acme
    screen = client.post("/providerview/add", data=blank_form(
        ProviderView, name=provider.name, domains="other.example"))
    refused_on_screen(screen, "name", "already used",
                      {"name": provider.name, "domains": "other.example"})
    api = client.post("/api/v1/provider/", json={"name": provider.name})
    refused_by_api(api, "name", "already used")


def test_a_duplicate_route_names_the_chat_and_the_other_columns(client, acme):
    workspace, channel, provider = acme
    route = _db.session.query(ProviderRoute).filter_by(workspace_id=workspace.id).one()
    api = client.post("/api/v1/provider_route/", json={
        "provider": provider.id, "channel": channel.id, "chat_id": route.chat_id,
        "actions": "refill"})
    refused_by_api(api, "chat_id", "Another row with the same Provider, Channel")


def test_my_workspace_language_and_time_zone(client, acme):
    workspace, _channel, _provider = acme
    screen = client.post(f"/myworkspaceview/edit/{workspace.id}", data={
        "name": "Acme renamed", "language": "en", "timezone": "Mars/Olympus"})
    refused_on_screen(screen, "timezone", "Not a time zone",
                      {"name": "Acme renamed", "timezone": "Mars/Olympus"})
    _db.session.expire_all()
    assert _db.session.get(Workspace, workspace.id).name == "acme".title()


def test_the_error_is_in_the_users_language(client, acme):
    assert client.get("/lang/ru").status_code == 302
    screen = client.post("/linkeduserview/add", data=blank_form(
        LinkedUserView, username="bob", language="klingon"))
    error = field_error(screen.get_data(as_text=True), "language")
    assert error and "Not a language code" not in error
    client.get("/lang/en")


# --- the master admin's screens (no REST API, not in a workspace file) -------------------------

@pytest.fixture
def root(factory, auth):
    factory.admin("root")
    auth.login("root")
    _db.session.add(Plan(code="pro", name="Pro"))
    _db.session.commit()


PLAN = {"code": "pro2", "name": "Pro 2", "description": "", "mediums": "greenapi",
        "modules": "api", "max_channels": "2", "max_linked_users": "10",
        "max_team_members": "3", "sort_order": "0"}


@pytest.mark.parametrize("field, bad, says", [
    ("max_channels", "-1", "Enter a number from 0 to"),
    ("api_requests_per_day", "-5", "Enter a number from 0 to"),
    ("name", "Pro", "already used"),
    ("code", "pro", "Already exists"),  # FAB's own check of a UNIQUE column
])
def test_plan_fields_are_refused_beside_the_field(client, root, field, bad, says):
    before = count(Plan)
    screen = client.post("/planview/add", data=dict(PLAN, **{field: bad}))
    refused_on_screen(screen, field, says, {field: bad, "description": ""})
    assert count(Plan) == before


def test_a_refused_plan_edit_changes_nothing(client, root):
    plan = _db.session.query(Plan).one()
    before = plan.max_linked_users
    screen = client.post(f"/planview/edit/{plan.id}", data=dict(PLAN, code="pro", name="Pro",
                                                                max_linked_users="-3"))
    refused_on_screen(screen, "max_linked_users", "Enter a number from 0 to",
                      {"max_linked_users": "-3"})
    _db.session.expire_all()
    assert _db.session.get(Plan, plan.id).max_linked_users == before


@pytest.mark.parametrize("field, bad, says", [
    ("slug", "Acme Shop!", "lowercase letters, digits and hyphens"),
    ("language", "klingon", "Not a language code"),
    ("timezone", "Mars/Olympus", "Not a time zone"),
])
def test_workspace_fields_are_refused_on_the_screen_and_in_the_file(client, root, field, bad,
                                                                    says):
    before = count(Workspace)
    data = {"slug": "acme", "name": "Acme", "status": "active", "language": "en",
            "timezone": "UTC", "plan": "", field: bad}
    screen = client.post("/workspaceadminview/add", data=data)
    # the language is a select: a code it does not offer is crafted, and cannot be shown again
    refused_on_screen(screen, field, says,
                      {"name": "Acme"} if field == "language" else {field: bad, "name": "Acme"})
    assert count(Workspace) == before
    slug = bad if field == "slug" else "acme"
    extra = "" if field == "slug" else f", {field}: {bad}"
    problems = file_problems(f"workspace: {{slug: '{slug}', name: Acme{extra}}}\n")
    assert says in problems[f"workspace.{field}"], problems


def test_an_invoice_amount_must_be_positive(client, root, factory):
    workspace = factory.workspace("acme")
    before = count(Invoice)
    screen = client.post("/admininvoiceview/add", data={
        "workspace": workspace.id, "number": "INV-1", "subscription": "", "amount_cents": "-100",
        "currency": "USD", "status": "pending", "payment_method": "manual",
        "payment_reference": "", "issued_at": "", "paid_at": ""})
    refused_on_screen(screen, "amount_cents", "greater than 0", {"number": "INV-1"})
    assert count(Invoice) == before


# --- the contract with the browser form matrix ---------------------------------------------------

def _own_validators(field) -> list:
    """The validator objects Relaydesk adds to a field (not WTForms' or FAB's own)."""
    return [v for v in field.validators if type(v).__module__.startswith("app.")]


def test_every_checked_field_of_every_form_carries_its_examples(app):
    """Every Relaydesk validator on every add and edit form registered at run time carries a
    `valid_example` that passes and an `invalid_example` that fails (the form matrix types
    them); every column with declared rules has them on its form field."""
    from flask_appbuilder import ModelView

    from app.validation import rules_for

    checked = 0
    with app.test_request_context():
        for view in app.appbuilder.baseviews:
            if not isinstance(view, ModelView):
                continue
            declared = rules_for(view.datamodel.obj)
            for kind in ("add", "edit"):
                form_cls = getattr(view, f"{kind}_form", None)
                columns = getattr(view, f"{kind}_columns", None) or []
                if form_cls is None:
                    continue
                form = form_cls()
                for name in columns:
                    if name not in form:
                        continue
                    own = _own_validators(form[name])
                    # a validator refusing only in a context (the stored row) declares it and
                    # has no invalid example of its own
                    missing = [type(v).__name__ for v in own
                               if not (isinstance(getattr(v, "valid_example", None), str)
                                       and (isinstance(getattr(v, "invalid_example", None), str)
                                            or getattr(v, "context_dependent", False)))]
                    assert not missing, f"{type(view).__name__}.{kind}.{name}: {missing}"
                    if name in declared:
                        assert any(hasattr(v, "rule") for v in own), \
                            f"{type(view).__name__}.{kind}.{name} lacks its declared checks"
                    checked += len(own)
    assert checked > 40
