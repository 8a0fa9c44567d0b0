""""Sign in as" (app/auth/impersonation.py): the master admin acts as a workspace's manager from
the Workspaces screen, sees the red banner on every page, every change carries the admin as
impersonator, "Return to my account" restores the admin; refusals change nothing.

Requests run outside any test-held app context (each gets its own `g`, as in production).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from app import billing
from app.auth import revocation
from app.auth.impersonation import SESSION_KEY
from app.extensions import db
from app.models import AuditEntry, Provider, Workspace, WorkspaceMember
from tests.factories import Factory


@dataclass
class World:
    acme: int
    globex: int
    admin: int
    manager: int
    provider: int


@pytest.fixture
def world(app) -> World:
    with app.app_context():
        factory = Factory(app)
        acme, manager = factory.populated_workspace("acme")
        globex, _other = factory.populated_workspace("globex")
        factory.member(acme, "acme-agent", "agent")
        admin = factory.admin("root")
        result = World(acme.id, globex.id, admin.id, manager.id,
                       db.session.query(Provider.id).filter_by(workspace_id=acme.id).scalar())
        db.session.query(AuditEntry).delete()
        db.session.commit()
        db.session.remove()
    return result


def trail(app, **filters) -> list[AuditEntry]:
    with app.app_context():
        rows = db.session.query(AuditEntry).filter_by(**filters).order_by(AuditEntry.id).all()
        for row in rows:
            db.session.expunge(row)
        return rows


def who(client) -> str | None:
    """The username of the session's sign-in, from the Profile page (None: signed out)."""
    response = client.get("/users/userinfo/")
    if response.status_code != 200:
        return None
    for name in ("root", "acme-manager", "acme-second", "acme-agent"):
        if f">{name}<" in response.get_data(as_text=True).replace("<bdi dir=\"ltr\">", ">"):
            return name
    return "?"


def sign_in_as(client, world, **form):
    return client.post(f"/impersonation/start/{world.acme}", data=form)


def test_start_banner_acting_and_return(app, world, client, auth):
    auth.login("root")
    started = client.post(f"/workspaceadminview/action/sign_in_as/{world.acme}")
    assert started.status_code == 302
    page = client.get("/providerview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="sign-in-as-banner"' in html
    assert "You are signed in as acme-manager Test (acme-manager) of Acme by root Test (root)." \
        in html and "Return to my account" in html
    assert client.get("/workspaceadminview/list/").status_code == 403  # a manager now
    with client.session_transaction() as session:
        assert session[SESSION_KEY]["admin_id"] == world.admin

    edited = client.post(f"/providerview/edit/{world.provider}",
                         data={"name": "Acme Supplies", "domains": "acme.example"})
    assert edited.status_code == 302
    (change,) = trail(app, model="Provider")
    assert change.actor_user_id == world.manager and change.impersonator_user_id == world.admin
    assert change.impersonator_label == "root Test (root)"
    assert change.via == "screen"

    back = client.post("/impersonation/end")
    assert back.status_code == 302 and f"/workspaceadminview/show/{world.acme}" in \
        back.headers["Location"]
    assert client.get("/workspaceadminview/list/").status_code == 200  # the admin again
    assert 'id="sign-in-as-banner"' not in client.get("/").get_data(as_text=True)
    with client.session_transaction() as session:
        assert SESSION_KEY not in session

    began, ended = trail(app, model="User")
    assert (began.action, began.row_id, began.actor_user_id, began.workspace_id) == \
        ("sign_in_as", world.manager, world.admin, world.acme)
    assert (ended.action, ended.row_id, ended.actor_user_id) == \
        ("sign_in_as_end", world.manager, world.admin)
    assert ended.changes is None


def test_the_admins_own_changes_after_return_carry_no_impersonator(app, world, client, auth):
    auth.login("root")
    sign_in_as(client, world)
    client.post("/impersonation/end")
    client.post(f"/providerview/edit/{world.provider}",
                data={"name": "By root", "domains": "acme.example"})
    (change,) = trail(app, model="Provider")
    assert change.actor_user_id == world.admin and change.impersonator_user_id is None


def test_refusals(app, world, client, auth):
    with app.app_context():
        factory = Factory(app)
        from app.models import Workspace

        acme = db.session.get(Workspace, world.acme)
        globex_manager = db.session.query(WorkspaceMember).filter_by(
            workspace_id=world.globex).first().user_id
        agent = factory.sm.find_user(username="acme-agent").id
        # an Admin login that is also a manager of acme: never a target
        boss = factory.admin("boss")
        db.session.add(WorkspaceMember(workspace_id=acme.id, user_id=boss.id, role="manager"))
        sleeper = factory.member(acme, "acme-sleeper", "manager")
        sleeper.active = False
        db.session.commit()
        boss_id, sleeper_id = boss.id, sleeper.id
        db.session.query(AuditEntry).delete()
        db.session.commit()

    auth.login("acme-manager")  # not an admin
    assert sign_in_as(client, world).status_code == 403
    assert client.post(f"/workspaceadminview/action/sign_in_as/{world.acme}").status_code \
        in (302, 403)
    assert who(client) == "acme-manager"
    auth.logout()

    auth.login("root")
    assert client.get(f"/impersonation/start/{world.acme}").status_code == 405
    for target in (globex_manager, agent, boss_id, sleeper_id, world.admin, 999999):
        refused = sign_in_as(client, world, user=target)
        assert refused.status_code == 302 and "/workspaceadminview/show/" in \
            refused.headers["Location"], target
        assert who(client) == "root", target
    assert client.post("/impersonation/start/999999").status_code == 404
    assert trail(app) == []

    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert sign_in_as(client, world).status_code == 400
        assert who(client) == "root"
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert trail(app) == []


def test_csrf_protects_the_return_too(app, world, client, auth):
    auth.login("root")
    sign_in_as(client, world)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert client.post("/impersonation/end").status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert who(client) == "acme-manager"


def test_several_managers_are_offered_to_choose(app, world, client, auth):
    with app.app_context():
        from app.models import Workspace

        Factory(app).member(db.session.get(Workspace, world.acme), "acme-second", "manager")
    auth.login("root")
    answer = sign_in_as(client, world)
    assert answer.status_code == 302 and f"/impersonation/choose/{world.acme}" in \
        answer.headers["Location"]
    page = client.get(f"/impersonation/choose/{world.acme}").get_data(as_text=True)
    assert "acme-manager" in page and "acme-second" in page and "csrf_token" in page
    with app.app_context():
        second = app.appbuilder.sm.find_user(username="acme-second").id
    assert sign_in_as(client, world, user=second).status_code == 302
    assert who(client) == "acme-second"


def test_a_workspace_without_a_manager_is_refused_with_words(app, world, client, auth):
    with app.app_context():
        db.session.query(WorkspaceMember).filter_by(workspace_id=world.acme,
                                                    role="manager").delete()
        db.session.commit()
    auth.login("root")
    answer = client.post(f"/workspaceadminview/action/sign_in_as/{world.acme}",
                         follow_redirects=True)
    assert "no active manager" in answer.get_data(as_text=True)
    assert who(client) == "root"


def test_a_manager_never_becomes_the_admin(app, world, client, auth):
    auth.login("acme-manager")
    answer = client.post("/impersonation/end")
    assert answer.status_code == 302
    assert who(client) == "acme-manager"
    assert client.get("/workspaceadminview/list/").status_code == 403


def test_a_disabled_admin_ends_it_and_nobody_stays_signed_in(app, world, client, auth):
    auth.login("root")
    sign_in_as(client, world)
    with app.app_context():
        admin = app.appbuilder.sm.get_user_by_id(world.admin)
        admin.active = False
        db.session.commit()
    assert who(client) is None
    with client.session_transaction() as session:
        assert SESSION_KEY not in session
    (ended,) = trail(app, action="sign_in_as_end")
    assert ended.changes == {"reason": "admin_unavailable"} and ended.via == "system"
    (disabled,) = trail(app, model="User", action="update")  # the admin's own row, by the test
    assert disabled.changes == {"active": [True, False]}
    assert client.post("/impersonation/end").status_code == 302
    assert who(client) is None


def test_an_admin_signed_out_elsewhere_ends_it(app, world, client, auth):
    auth.login("root")
    sign_in_as(client, world)
    with app.app_context():
        revocation.raise_epoch(world.admin)
        db.session.commit()
    assert who(client) is None


def test_a_demoted_manager_returns_the_admin_to_their_account(app, world, client, auth):
    auth.login("root")
    sign_in_as(client, world)
    with app.app_context():
        member = db.session.query(WorkspaceMember).filter_by(user_id=world.manager).one()
        member.role = "agent"
        db.session.commit()
    assert who(client) == "root"
    ended = trail(app, action="sign_in_as_end")
    assert [e.changes for e in ended] == [{"reason": "manager_unavailable"}]


def test_signing_out_while_acting_signs_the_admin_out_not_the_manager(app, world, client, auth):
    with app.app_context():
        manager_epoch = revocation.current_epoch(world.manager)
        admin_epoch = revocation.current_epoch(world.admin)
    auth.login("root")
    sign_in_as(client, world)
    assert client.post("/logout/").status_code == 302
    assert who(client) is None
    with app.app_context():
        assert revocation.current_epoch(world.manager) == manager_epoch
        assert revocation.current_epoch(world.admin) == admin_epoch + 1
    assert [e.action for e in trail(app, model="User")] == ["sign_in_as", "sign_in_as_end"]


def test_api_keys_are_unaffected(app, world, client, auth):
    with app.app_context():
        key = Factory(app).api_key(app.appbuilder.sm.get_user_by_id(world.manager))
    auth.login("root")
    sign_in_as(client, world)
    other = app.test_client()
    answer = other.get("/api/v1/provider/", headers={"X-API-Key": key})
    assert answer.status_code == 200
    assert who(client) == "acme-manager"


@pytest.mark.parametrize("status", ["suspended", "pending"])
def test_return_works_from_a_suspended_or_pending_workspace(app, world, client, auth, status):
    """A suspended workspace refuses its members' writes and a pending one sends them to the
    sign-up status page; neither holds the master admin inside it."""
    with app.app_context():
        workspace = db.session.get(Workspace, world.acme)
        if status == "suspended":
            billing.suspend(workspace, "Invoice RD-9 is overdue")
        else:
            workspace.status = "pending"
        db.session.commit()
    auth.login("root")
    assert client.post(f"/workspaceadminview/action/sign_in_as/{world.acme}").status_code == 302
    assert who(client) == "acme-manager"
    back = client.post("/impersonation/end")
    assert back.status_code == 302 and f"/workspaceadminview/show/{world.acme}" in \
        back.headers["Location"]
    assert who(client) == "root"
