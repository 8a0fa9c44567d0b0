"""Issue 13, point 4: what a workspace's plan allows is enforced at every point a row is set up.

One test per enforcement point (docs/ARCHITECTURE.md "Plan enforcement"), each failing if its
check is removed: channels (screen, REST, workspace file; mediums and `max_channels`), linked
users (screen, REST, file, the pipeline's `verify`), team members (the manager's and the master
admin's invitation, the master admin moving a member), cached service rules (the panel
connection, "Refresh services", the refresh job), the REST API itself (module `api`). Then: two
adds at the limit at the same moment, a plan change applying at once, bad input.

Screens keep the form with everything typed and show the plan's sentence above it; the REST API
answers 403 `{"message": <the sentence>}`.

Data is made in short app contexts (none stays pushed: Flask reuses a pushed app context for the
test client's requests, and an API key's user would stay on `g` from one request to the next).
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from html import unescape

import pytest

from app import plans
from app.extensions import db
from app.models import (Channel, ChatIdentity, LinkCode, LinkedUser, PanelConnection, Plan,
                        ServiceRule, Workspace, WorkspaceMember)
from app.workspace_file.errors import WorkspaceFileInvalid
from tests.factories import Factory, password_for
from tests.integration.team_support import signed_in

FREE_CHANNELS = "The Free plan's limit of channels is 1, and this workspace has 1. Choose a " \
                "larger plan to add more."
NO_META = "The Free plan does not include WhatsApp (Meta Cloud API) channels."
NO_API = "The Free plan does not include the REST API."
NO_CACHE = "The Free plan does not include cached service rules."


def users_message(limit: int, used: int) -> str:
    return (f"The Free plan's limit of linked users and contacts is {limit}, and this workspace "
            f"has {used}. Choose a larger plan to add more.")


def team_message(limit: int, used: int) -> str:
    return (f"The Free plan's limit of team members is {limit}, and this workspace has {used}. "
            "Choose a larger plan to add more.")


@dataclass
class Desk:
    workspace_id: int
    plan_id: int
    manager: str
    key: str          # the manager's API key
    channel_id: int   # the workspace's one channel (WhatsApp through Green API)


def make_desk(app, slug: str = "acme", **plan) -> Desk:
    """A workspace on a plan named Free (1 channel, 1 linked user, 1 team member, mediums
    Green API / Telegram / web chat, module `api`; `plan` changes any of it) with its manager,
    the manager's API key and one Green API channel."""
    values = {"max_channels": 1, "max_linked_users": 1, "max_team_members": 1,
              "mediums": "greenapi,telegram,webchat", "modules": "api", **plan}
    with app.app_context():
        factory = Factory(app)
        free = factory.plan(code=f"free-{slug}", name="Free", **values)
        workspace = factory.workspace(slug, plan=free)
        manager = factory.member(workspace, f"{slug}-manager")
        key = factory.api_key(manager)
        channel = factory.channel(workspace, name="Main WhatsApp")
        return Desk(workspace.id, free.id, manager.username, key, channel.id)


def count(app, model, **where) -> int:
    with app.app_context():
        return db.session.query(model).filter_by(**where).count()


def set_plan(app, plan_id: int, **values) -> None:
    with app.app_context():
        plan = db.session.get(Plan, plan_id)
        for name, value in values.items():
            setattr(plan, name, value)
        db.session.commit()


def page_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def flashed_danger(page: str) -> list[str]:
    """The texts of the red alerts above the form."""
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>|×", "", m)).strip()
            for m in re.findall(r'<div class="alert alert-danger[^"]*"[^>]*>(.*?)</div>', page,
                                re.S)]


def value_of(page: str, name: str) -> str | None:
    tag = re.search(rf'<input[^>]*\bname="{name}"[^>]*>', page)
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def api(app, desk: Desk):
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = desk.key
    return client


# --- channels -----------------------------------------------------------------------------------

GREEN_FORM = {"name": "Second WhatsApp", "api_url": "https://7103.api.greenapi.com",
              "id_instance": "1101000077", "api_token": "green-token-typed", "notes": "shop",
              "kind": "greenapi", "enabled": "y"}


def test_channel_screen_refuses_a_second_channel_keeping_what_was_typed(app):
    desk = make_desk(app)
    manager = signed_in(app, desk.manager)

    response = manager.post("/channelview/add?kind=greenapi", data=GREEN_FORM)

    assert response.status_code == 200  # the form again, not a redirect
    page = page_of(response)
    assert flashed_danger(page) == [FREE_CHANNELS]
    for field in ("name", "api_url", "id_instance"):
        assert value_of(page, field) == GREEN_FORM[field], field
    assert "shop" in page  # the notes too
    assert count(app, Channel, workspace_id=desk.workspace_id) == 1

    set_plan(app, desk.plan_id, max_channels=2)
    response = manager.post("/channelview/add?kind=greenapi", data=GREEN_FORM)
    assert response.status_code == 302
    assert count(app, Channel, workspace_id=desk.workspace_id) == 2


def test_channel_screen_refuses_a_medium_the_plan_excludes(app):
    desk = make_desk(app, max_channels=5)
    manager = signed_in(app, desk.manager)

    response = manager.post("/channelview/add?kind=meta", data={
        "name": "Cloud number", "kind": "meta", "phone_number_id": "106540352242922",
        "waba_id": "102290129340398", "access_token": "meta-token"})

    page = page_of(response)
    assert response.status_code == 200 and flashed_danger(page) == [NO_META]
    assert value_of(page, "phone_number_id") == "106540352242922"
    assert count(app, Channel, kind="meta") == 0


def test_channel_screen_speaks_the_managers_language(app):
    desk = make_desk(app)
    manager = signed_in(app, desk.manager)
    manager.get("/lang/es")

    page = page_of(manager.post("/channelview/add?kind=greenapi", data=GREEN_FORM))

    (message,) = flashed_danger(page)
    assert "Free" in message and "1" in message and message != FREE_CHANNELS
    assert "canales" in message


def test_channel_rest_post_is_refused_with_403_and_the_sentence(app):
    desk = make_desk(app)
    client = api(app, desk)

    response = client.post("/api/v1/channel/", json={"name": "Chat", "kind": "webchat"})

    assert response.status_code == 403
    assert response.get_json() == {"message": FREE_CHANNELS}
    set_plan(app, desk.plan_id, max_channels=3)
    excluded = client.post("/api/v1/channel/", json={
        "name": "Cloud", "kind": "meta", "phone_number_id": "106540352242922",
        "waba_id": "102290129340398", "access_token": "meta-token"})
    assert excluded.status_code == 403 and excluded.get_json() == {"message": NO_META}
    assert count(app, Channel, workspace_id=desk.workspace_id) == 1
    assert client.post("/api/v1/channel/", json={"name": "Chat", "kind": "webchat"}
                       ).status_code == 201


def test_channel_rest_put_cannot_switch_to_an_excluded_medium(app):
    desk = make_desk(app)
    client = api(app, desk)

    response = client.put(f"/api/v1/channel/{desk.channel_id}", json={
        "kind": "meta", "phone_number_id": "106540352242922", "waba_id": "102290129340398",
        "access_token": "meta-token"})

    assert response.status_code == 403 and response.get_json() == {"message": NO_META}
    with app.app_context():
        assert db.session.get(Channel, desk.channel_id).kind == "greenapi"
    # a channel that stays what it is stays editable, even above a lowered limit
    set_plan(app, desk.plan_id, max_channels=0, mediums="telegram")
    renamed = client.put(f"/api/v1/channel/{desk.channel_id}", json={"name": "Renamed"})
    assert renamed.status_code == 200, renamed.get_json()


# --- the workspace file -------------------------------------------------------------------------

FILE = """\
workspace: {slug: acme, name: Acme}
channels:
  - {name: Main WhatsApp, kind: greenapi}
  - {name: Support bot, kind: telegram, bot_token: "123456:FAKE-telegram-bot-token"}
  - {name: Cloud number, kind: meta, phone_number_id: "106540352242922",
     waba_id: "102290129340398", access_token: "FAKE-meta-access-token-0000"}
linked_users:
  - {username: alice}
  - {username: bob}
members:
  - {username: acme-manager}
  - {username: new-agent, email: agent@acme.example, role: agent, password: "FAKE-pass-9931-x"}
panel: {type: demo, service_rules: cached}
"""


def line(text: str, needle: str) -> int:
    return next(n for n, row in enumerate(text.splitlines(), start=1) if needle in row)


def test_workspace_file_beyond_the_plan_is_refused_at_its_lines_and_nothing_written(app):
    from app.workspace_file.importer import import_text

    desk = make_desk(app, max_channels=2)
    with app.app_context():
        Factory(app).linked_user(db.session.get(Workspace, desk.workspace_id), "alice")
        before = {m.__name__: db.session.query(m).count()
                  for m in (Channel, LinkedUser, WorkspaceMember, PanelConnection)}
        with pytest.raises(WorkspaceFileInvalid) as refused:
            import_text(FILE, "acme.yaml")
        problems = {(p.line, p.message) for p in refused.value.problems}
        after = {m.__name__: db.session.query(m).count()
                 for m in (Channel, LinkedUser, WorkspaceMember, PanelConnection)}

    assert problems == {
        (line(FILE, "Cloud number"), NO_META),
        (line(FILE, "Cloud number"), FREE_CHANNELS.replace("is 1, and this workspace has 1",
                                                          "is 2, and this workspace has 2")),
        (line(FILE, "bob"), users_message(1, 1)),
        (line(FILE, "new-agent"), team_message(1, 1)),
        (line(FILE, "service_rules"), NO_CACHE),
    }
    assert after == before  # nothing half-imported


def test_workspace_file_within_the_plan_imports_and_a_file_plan_counts(app):
    from app.workspace_file.importer import import_text

    desk = make_desk(app, max_channels=3, max_linked_users=2, max_team_members=2,
                     mediums="greenapi,telegram,meta,webchat", modules="api,service_cache")
    with app.app_context():
        import_text(FILE, "acme.yaml")
        assert db.session.query(Channel).filter_by(workspace_id=desk.workspace_id).count() == 3
        # a new workspace on the plan the file names: counted from nothing
        text = FILE.replace("slug: acme", "slug: other").replace(
            "{slug: other, name: Acme}", "{slug: other, name: Other, plan: free-acme}")
        text = text.replace("acme-manager", "other-manager").replace("new-agent", "other-agent")
        text = text.replace("agent@acme", "agent@other")
        set_plan(app, desk.plan_id, max_channels=1)
        with pytest.raises(WorkspaceFileInvalid) as refused:
            import_text(text, "other.yaml")
    messages = [p.message for p in refused.value.problems]
    assert any(m.startswith("The Free plan's limit of channels is 1, and this workspace has 1")
               for m in messages), messages


def test_routes_go_only_through_a_channel_of_a_medium_the_plan_includes(app):
    """A channel kept from a larger plan is no way round the plan's mediums: a provider route
    through it is refused (screen and REST); routes through allowed channels pass, and a route
    that stays on its channel stays editable."""
    from app.models import Provider, ProviderRoute

    desk = make_desk(app, max_channels=5, mediums="greenapi,telegram,meta")
    with app.app_context():
        factory = Factory(app)
        workspace = db.session.get(Workspace, desk.workspace_id)
        meta = factory.channel(workspace, name="Cloud number", kind="meta")
        provider = factory.provider(workspace, name="SMM Rush")
        kept = factory.route(provider, meta, chat_id="79001234501")
        ids = (meta.id, provider.id, kept.id)
    meta_id, provider_id, kept_id = ids
    set_plan(app, desk.plan_id, mediums="greenapi,telegram")
    no_meta = "The Free plan does not include WhatsApp (Meta Cloud API) channels."
    manager = signed_in(app, desk.manager)

    page = page_of(manager.post("/providerrouteview/add", data={
        "provider": str(provider_id), "channel": str(meta_id),
        "chat_id": "79001234502", "template": "{external_id} {action}",
        "actions": "refill", "enabled": "y"}))
    assert flashed_danger(page) == [no_meta]
    assert value_of(page, "chat_id") == "79001234502"
    client = api(app, desk)
    refused = client.post("/api/v1/provider_route/", json={
        "provider": provider_id, "channel": meta_id, "chat_id": "79001234503"})
    assert refused.status_code == 403 and refused.get_json() == {"message": no_meta}
    assert count(app, ProviderRoute, channel_id=meta_id) == 1
    moved = client.put(f"/api/v1/provider_route/{kept_id}", json={
        "channel": desk.channel_id, "chat_id": "120363025000000001@g.us"})
    assert moved.status_code == 200, moved.get_json()
    back = client.put(f"/api/v1/provider_route/{kept_id}", json={
        "channel": meta_id, "chat_id": "79001234501"})
    assert back.status_code == 403
    allowed = client.post("/api/v1/provider_route/", json={
        "provider": provider_id, "channel": desk.channel_id,
        "chat_id": "120363025000000004@g.us"})
    assert allowed.status_code == 201, allowed.get_json()
    assert count(app, Provider) == 1


# --- linked users -------------------------------------------------------------------------------

def test_linked_user_screen_and_rest_refuse_beyond_the_limit(app):
    desk = make_desk(app)
    with app.app_context():
        Factory(app).linked_user(db.session.get(Workspace, desk.workspace_id), "alice")
    manager = signed_in(app, desk.manager)

    response = manager.post("/linkeduserview/add", data={"username": "bob", "language": "de",
                                                         "notes": "typed"})

    page = page_of(response)
    assert response.status_code == 200 and flashed_danger(page) == [users_message(1, 1)]
    assert value_of(page, "username") == "bob" and value_of(page, "language") == "de"
    rest = api(app, desk).post("/api/v1/linked_user/", json={"username": "carol"})
    assert rest.status_code == 403 and rest.get_json() == {"message": users_message(1, 1)}
    assert count(app, LinkedUser, workspace_id=desk.workspace_id) == 1


# --- the pipeline's `verify` --------------------------------------------------------------------

@pytest.fixture
def desk_on_a_plan(factory, fake_perfectpanel, redis_conn):
    from tests.integration.pipeline_support import build_desk

    desk = build_desk(factory, fake_perfectpanel.url)  # alice is linked already
    plan = factory.plan(code="free", name="Free", max_linked_users=1)
    desk.workspace.plan = plan
    db.session.commit()
    return desk, plan


def test_verify_at_the_limit_links_nobody_and_tells_the_manager(client, desk_on_a_plan,
                                                                fake_perfectpanel, app):
    from app.domain.replies import render_reply
    from app.views.trace import sentence
    from tests.integration.pipeline_support import STRANGER_CHAT, reply_of, send, steps
    from tests.integration.test_linking import ticket_code

    desk, plan = desk_on_a_plan
    send(client, desk.channel, "link carol", chat=STRANGER_CHAT)
    code = ticket_code(fake_perfectpanel, "carol")

    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)

    assert reply_of(log) == render_reply("link_unavailable")
    assert db.session.query(LinkedUser).filter_by(username="carol").count() == 0
    assert db.session.query(ChatIdentity).filter_by(chat_id=STRANGER_CHAT).count() == 0
    (step,) = steps(log, "verify")
    assert (step["error"], step["plan"], step["limit"], step["used"], step["username"]) == (
        "plan_limit", "Free", 1, 1, "carol")
    with app.test_request_context():
        told = sentence(step)
    assert users_message(1, 1) in told and "carol" in told
    assert db.session.query(LinkCode).one().used_at is None  # the code still works

    plan.max_linked_users = 2
    db.session.commit()
    log = send(client, desk.channel, f"verify {code}", chat=STRANGER_CHAT)
    assert reply_of(log) == render_reply("link_verified", username="carol")
    assert db.session.query(LinkedUser).filter_by(username="carol").count() == 1


def test_verify_of_an_already_linked_username_needs_no_room(client, desk_on_a_plan,
                                                            fake_perfectpanel):
    from app.domain.replies import render_reply
    from tests.integration.pipeline_support import STRANGER_CHAT, reply_of, send
    from tests.integration.test_linking import ticket_code

    desk, _plan = desk_on_a_plan
    send(client, desk.channel, "link alice", chat=STRANGER_CHAT)
    log = send(client, desk.channel, f"verify {ticket_code(fake_perfectpanel, 'alice')}",
               chat=STRANGER_CHAT)
    assert reply_of(log) == render_reply("link_verified", username="alice")


# --- team members -------------------------------------------------------------------------------

def test_manager_cannot_invite_beyond_the_plan(app):
    desk = make_desk(app)
    manager = signed_in(app, desk.manager)

    response = manager.post("/memberview/add", data={"email": "new.agent@example.org",
                                                     "full_name": "New Agent", "role": "agent"})

    page = page_of(response)
    assert response.status_code == 200 and flashed_danger(page) == [team_message(1, 1)]
    assert value_of(page, "email") == "new.agent@example.org"
    assert value_of(page, "full_name") == "New Agent"
    with app.app_context():
        assert app.appbuilder.sm.find_user(username="new.agent@example.org") is None


def test_master_admin_cannot_invite_or_move_a_member_beyond_the_plan(app):
    desk = make_desk(app)
    with app.app_context():
        factory = Factory(app)
        factory.admin("root")
        other = factory.workspace("other")
        factory.member(other, "other-manager")
        agent = factory.member(other, "other-agent", "agent")
        agent_member = db.session.query(WorkspaceMember).filter_by(user_id=agent.id).one().id
        other_id = other.id
    root = signed_in(app, "root")

    invited = root.post("/adminmemberview/add", data={
        "workspace": desk.workspace_id, "email": "x@example.org", "role": "agent"})
    assert invited.status_code == 200
    assert flashed_danger(page_of(invited)) == [team_message(1, 1)]

    moved = root.post(f"/adminmemberview/edit/{agent_member}", data={
        "workspace": desk.workspace_id, "role": "agent"})
    assert moved.status_code == 200
    assert flashed_danger(page_of(moved)) == [team_message(1, 1)]
    assert count(app, WorkspaceMember, workspace_id=desk.workspace_id) == 1
    assert count(app, WorkspaceMember, workspace_id=other_id) == 2
    # its own workspace has no plan: the master admin invites there freely
    assert root.post("/adminmemberview/add", data={
        "workspace": other_id, "email": "x@example.org", "role": "agent"}).status_code == 302


# --- cached service rules (module `service_cache`) ----------------------------------------------

def test_refresh_services_is_refused_without_the_module(app, monkeypatch):
    from app.jobs import queues
    from app.jobs.services import refresh_services

    desk = make_desk(app)
    with app.app_context():
        panel = Factory(app).panel(db.session.get(Workspace, desk.workspace_id),
                                   service_rules_mode="cached")
        panel_id = panel.id
    queued = []
    monkeypatch.setattr(queues, "enqueue_services_refresh", lambda ws: queued.append(ws) or True)
    manager = signed_in(app, desk.manager)

    response = manager.post(f"/panelconnectionview/action/refresh_services/{panel_id}",
                            follow_redirects=True)

    assert flashed_danger(page_of(response)) == [NO_CACHE]
    assert queued == []
    with app.app_context():  # the job, queued before a plan change: the panel is not asked
        assert refresh_services(desk.workspace_id) == {
            "state": "skipped", "reason": "plan", "detail": NO_CACHE}
        assert db.session.query(ServiceRule).count() == 0
    set_plan(app, desk.plan_id, modules="api,service_cache")
    manager.post(f"/panelconnectionview/action/refresh_services/{panel_id}")
    assert queued == [desk.workspace_id]
    with app.app_context():
        assert refresh_services(desk.workspace_id)["state"] == "ok"


def test_panel_connection_cannot_be_set_to_cached_rules_without_the_module(app):
    desk = make_desk(app)
    client = api(app, desk)

    response = client.post("/api/v1/panel_connection/", json={
        "panel_type": "demo", "url": "https://panel.example", "service_rules_mode": "cached"})

    assert response.status_code == 403 and response.get_json() == {"message": NO_CACHE}
    created = client.post("/api/v1/panel_connection/", json={
        "panel_type": "demo", "url": "https://panel.example", "service_rules_mode": "names"})
    assert created.status_code == 201, created.get_json()
    switched = client.put(f"/api/v1/panel_connection/{created.get_json()['id']}",
                          json={"service_rules_mode": "cached"})
    assert switched.status_code == 403 and switched.get_json() == {"message": NO_CACHE}
    manager = signed_in(app, desk.manager)
    screen = manager.post(f"/panelconnectionview/edit/{created.get_json()['id']}", data={
        "panel_type": "demo", "url": "https://panel.example", "service_rules_mode": "cached",
        "requests_per_second": "5", "timeout_seconds": "15"})
    assert screen.status_code == 200 and flashed_danger(page_of(screen)) == [NO_CACHE]
    with app.app_context():
        assert db.session.query(PanelConnection).one().service_rules_mode == "names"


# --- the REST API itself (module `api`) ---------------------------------------------------------

def test_rest_api_without_the_module_answers_403_with_the_sentence(app):
    desk = make_desk(app, modules="")
    with app.app_context():
        Factory(app).admin("root")
    by_key = api(app, desk)

    for method, path, body in (("get", "/api/v1/channel/", None),
                               ("get", f"/api/v1/channel/{desk.channel_id}", None),
                               ("get", "/api/v1/channel/_info", None),
                               ("get", "/api/v1/command_log/export.csv", None),
                               ("get", "/api/v1/conversation/1/thread", None),
                               ("post", "/api/v1/provider/", {"name": "p"}),
                               ("put", f"/api/v1/channel/{desk.channel_id}", {"name": "x"}),
                               ("delete", f"/api/v1/channel/{desk.channel_id}", None)):
        response = getattr(by_key, method)(path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.get_json() == {"message": NO_API}, (method, path)
    assert count(app, Channel, name="Main WhatsApp") == 1

    token = app.test_client().post("/api/v1/security/login", json={
        "username": desk.manager, "password": password_for(desk.manager), "provider": "db"})
    assert token.status_code == 200
    by_jwt = app.test_client().get("/api/v1/channel/", headers={
        "Authorization": f"Bearer {token.get_json()['access_token']}"})
    assert by_jwt.status_code == 403 and by_jwt.get_json() == {"message": NO_API}
    assert signed_in(app, desk.manager).get("/api/v1/channel/").status_code == 403
    # the master admin is on no plan; a plan with the module lets the workspace in at once
    assert signed_in(app, "root").get("/api/v1/channel/").status_code == 200
    set_plan(app, desk.plan_id, modules="api")
    assert by_key.get("/api/v1/channel/").status_code == 200


# --- races, plan changes, bad input -------------------------------------------------------------

def test_two_adds_at_the_limit_at_the_same_moment_do_not_both_pass(app, monkeypatch):
    """Both requests count at max-1 unless the first holds the workspace's row until it
    commits: each counter call waits (up to 2 s) for the other request to count too."""
    desk = make_desk(app, max_channels=2)
    meeting = threading.Barrier(2, timeout=2)
    counted = plans.COUNTERS["max_channels"]

    def count_then_meet(workspace_id):
        number = counted(workspace_id)
        try:
            meeting.wait()
        except threading.BrokenBarrierError:  # the other one waits for our lock: go on
            pass
        return number

    monkeypatch.setitem(plans.COUNTERS, "max_channels", count_then_meet)
    answers: list[int] = []

    def add(name: str) -> None:
        answers.append(api(app, desk).post("/api/v1/channel/", json={
            "name": name, "kind": "webchat"}).status_code)

    threads = [threading.Thread(target=add, args=(f"Chat {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(answers) == [201, 403]
    assert count(app, Channel, workspace_id=desk.workspace_id) == 2


def test_a_plan_change_applies_to_the_next_add(app):
    desk = make_desk(app)
    client = api(app, desk)
    assert client.post("/api/v1/linked_user/", json={"username": "a"}).status_code == 201
    assert client.post("/api/v1/linked_user/", json={"username": "b"}).status_code == 403

    set_plan(app, desk.plan_id, max_linked_users=2)
    assert client.post("/api/v1/linked_user/", json={"username": "b"}).status_code == 201

    set_plan(app, desk.plan_id, max_linked_users=1)  # lowered below what the workspace has
    refused = client.post("/api/v1/linked_user/", json={"username": "c"})
    assert refused.get_json() == {"message": users_message(1, 2)}
    set_plan(app, desk.plan_id, max_linked_users=None)  # unlimited
    assert client.post("/api/v1/linked_user/", json={"username": "c"}).status_code == 201
    with app.app_context():  # a workspace leaving its plan is not limited either
        db.session.get(Workspace, desk.workspace_id).plan_id = None
        db.session.commit()
    assert client.post("/api/v1/channel/", json={"name": "Chat", "kind": "webchat"}
                       ).status_code == 201


def test_bad_input_never_passes_a_limit(app):
    desk = make_desk(app)
    client = api(app, desk)
    for body in ({"name": "Chat", "kind": "signal"}, {"name": "Chat"}, {"kind": "webchat"},
                 {"name": "Chat", "kind": "webchat", "workspace": desk.workspace_id + 1}):
        response = client.post("/api/v1/channel/", json=body)
        assert response.status_code in (400, 403, 422), (body, response.status_code)
    assert client.post("/api/v1/channel/", data="name=x", content_type="text/plain"
                       ).status_code == 400
    assert count(app, Channel) == 1
    with app.app_context():
        with pytest.raises(ValueError):
            plans.check_room(desk.workspace_id, "max_nothing")
