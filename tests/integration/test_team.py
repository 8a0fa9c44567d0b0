"""Issue 11, point 4: a manager's team (invite, change role, suspend, reactivate, remove), the
master admin's copy of it, the set-password links and "Forgot your password?".

Every path goes through the screens with the test client as the person would; mail is queued
as an RQ job and delivered here to the memory backend (tests/integration/team_support.py).
"""
from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner

from app.auth.password_links import INVITATION, RESET, make_token
from tests.integration.team_support import (can_sign_in, deliver_mail, form_errors, link_in,
                                            login_of, make_team, member_id, session_alive,
                                            signed_in)

NEW_PASSWORD = "Copper-Harbour-5521"
INVITEE = "new.agent@example.org"


@pytest.fixture(autouse=True)
def empty_queue(redis_conn):
    """Each test starts with no queued jobs and no request counts (the fixture flushes the
    test slot's Redis db before and after)."""
    yield


@pytest.fixture
def team(app):
    return make_team(app)


def invite(client, email=INVITEE, role="agent", view="memberview", **extra):
    return client.post(f"/{view}/add", data={"email": email, "full_name": "New Agent",
                                             "role": role, **extra})


def accept(client, path, password=NEW_PASSWORD, confirm=None):
    return client.post(path, data={"password": password,
                                   "conf_password": confirm if confirm is not None else password})


# --- invitations ------------------------------------------------------------------------------

def test_manager_invites_an_agent_who_sets_a_password_and_signs_in(app, team):
    manager = signed_in(app, team.manager)
    response = invite(manager)
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/memberview/list/")
    invited = login_of(app, INVITEE)
    assert invited["role"] == "agent" and invited["workspace_id"] == team.alpha_id
    assert invited["roles"] == ["WorkspaceAgent"] and invited["active"]
    listing = manager.get("/memberview/list/").get_data(as_text=True)
    assert INVITEE in listing and "Invited" in listing
    api = manager.get("/api/v1/member/").get_json()["result"]
    assert {(r["username"], r["status"]) for r in api} >= {(INVITEE, "invited"),
                                                            (team.manager, "active")}
    assert manager.post("/api/v1/member/", json={"user": 1, "role": "agent"}).status_code \
        in (403, 405)  # the REST twin stays read-only: invitations go through the screen

    [mail] = deliver_mail(app)
    assert mail.to == INVITEE and "Alpha Panel" in mail.subject
    path = link_in(mail)
    assert path.startswith("/password/invitation/")
    visitor = app.test_client()
    page = visitor.get(path)
    assert page.status_code == 200 and INVITEE in page.get_data(as_text=True)

    weak = accept(visitor, path, password="password123")
    assert weak.status_code == 200 and "too common" in form_errors(weak.get_data(as_text=True))
    mismatch = accept(visitor, path, confirm="Something-Else-9931")
    assert "Passwords must match" in form_errors(mismatch.get_data(as_text=True))
    assert not can_sign_in(app, INVITEE, NEW_PASSWORD)

    done = accept(visitor, path)
    assert done.status_code == 302 and "/login" in done.headers["Location"]
    agent = signed_in(app, INVITEE, NEW_PASSWORD)
    assert agent.get("/channelview/list/").status_code == 200  # sees the workspace
    assert agent.get("/memberview/list/").status_code == 403  # an agent manages nobody

    again = app.test_client().get(path)  # single use
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert accept(app.test_client(), path, password="Other-Lantern-8812").status_code == 410
    assert can_sign_in(app, INVITEE, NEW_PASSWORD)


def test_invitation_form_refuses_bad_input_beside_the_field_and_keeps_it(app, team):
    manager = signed_in(app, team.manager)
    bad = invite(manager, email="not an address")
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "name@example.com" in form_errors(html)
    assert 'value="not an address"' in html and 'value="New Agent"' in html
    taken = invite(manager, email="BRAVO-MANAGER@test.example")  # another workspace's login
    assert taken.status_code == 200
    assert "already belongs to a login" in form_errors(taken.get_data(as_text=True))
    unknown_role = invite(manager, role="owner")
    assert unknown_role.status_code == 200 and form_errors(unknown_role.get_data(as_text=True))
    assert login_of(app, INVITEE) is None and deliver_mail(app) == []


def test_an_agent_may_not_invite_or_manage(app, team):
    agent = signed_in(app, team.agent)
    target = member_id(app, team.manager)
    assert agent.get("/memberview/list/").status_code == 403
    assert invite(agent).status_code == 403
    assert agent.post(f"/memberview/edit/{target}", data={"role": "agent"}).status_code == 403
    assert agent.post(f"/memberview/delete/{target}").status_code == 403
    assert agent.post("/memberview/action_post",
                      data={"action": "suspend", "rowid": [target]}).status_code in (302, 403)
    assert login_of(app, team.manager)["active"] and login_of(app, INVITEE) is None
    assert login_of(app, team.manager)["role"] == "manager"


def test_another_workspaces_member_is_not_found(app, team):
    manager = signed_in(app, team.manager)
    foreign = member_id(app, team.bravo_manager)
    assert manager.get(f"/memberview/show/{foreign}").status_code == 404
    assert manager.get(f"/memberview/edit/{foreign}").status_code == 404
    assert manager.post(f"/memberview/edit/{foreign}", data={"role": "agent"}).status_code == 404
    assert manager.post(f"/memberview/delete/{foreign}").status_code == 404
    for name in ("suspend", "reactivate", "resend_invitation"):
        assert manager.post(f"/memberview/action/{name}/{foreign}").status_code == 404
        assert manager.post("/memberview/action_post",
                            data={"action": name, "rowid": [foreign]}).status_code == 404
    after = login_of(app, team.bravo_manager)
    assert after["active"] and after["role"] == "manager"
    assert team.bravo_manager not in manager.get("/memberview/list/").get_data(as_text=True)


# --- role, suspension, removal ------------------------------------------------------------------

def test_role_change_moves_the_login_to_the_other_role(app, team):
    manager = signed_in(app, team.manager)
    agent_id = member_id(app, team.agent)
    response = manager.post(f"/memberview/edit/{agent_id}", data={"role": "manager"})
    assert response.status_code == 302
    promoted = login_of(app, team.agent)
    assert promoted["role"] == "manager" and promoted["roles"] == ["WorkspaceManager"]
    assert signed_in(app, team.agent).get("/memberview/list/").status_code == 200
    manager.post(f"/memberview/edit/{agent_id}", data={"role": "agent"})
    assert login_of(app, team.agent)["roles"] == ["WorkspaceAgent"]


def test_suspending_ends_the_sessions_and_sign_in_until_reactivated(app, team):
    manager = signed_in(app, team.manager)
    agent_session = signed_in(app, team.agent)
    agent_id = member_id(app, team.agent)
    response = manager.post(f"/memberview/action/suspend/{agent_id}")
    assert response.status_code == 302
    assert not login_of(app, team.agent)["active"]
    assert not session_alive(agent_session)
    assert agent_session.get("/channelview/list/").status_code == 302  # to the sign-in page
    from tests.factories import password_for

    assert not can_sign_in(app, team.agent, password_for(team.agent))
    assert "Suspended" in manager.get("/memberview/list/").get_data(as_text=True)

    manager.post("/memberview/action_post", data={"action": "reactivate", "rowid": [agent_id]})
    assert login_of(app, team.agent)["active"]
    assert can_sign_in(app, team.agent, password_for(team.agent))


def test_removing_deletes_the_membership_and_the_login(app, team):
    manager = signed_in(app, team.manager)
    agent_session = signed_in(app, team.agent)
    response = manager.post(f"/memberview/delete/{member_id(app, team.agent)}")
    assert response.status_code == 302
    assert login_of(app, team.agent) is None
    assert not session_alive(agent_session)


def test_nobody_locks_out_the_last_active_manager(app, team):
    manager = signed_in(app, team.manager)
    admin = signed_in(app, team.admin)
    own = member_id(app, team.manager)
    # a manager never suspends, demotes or removes themselves
    page = manager.post(f"/memberview/action/suspend/{own}", follow_redirects=True)
    assert "cannot suspend, demote or remove yourself" in page.get_data(as_text=True)
    manager.post(f"/memberview/edit/{own}", data={"role": "agent"})
    manager.post(f"/memberview/delete/{own}")
    state = login_of(app, team.manager)
    assert state["active"] and state["role"] == "manager"
    # nor does the master admin leave a workspace without an active manager
    page = admin.post(f"/adminmemberview/action/suspend/{own}", follow_redirects=True)
    assert "needs an active manager" in page.get_data(as_text=True)
    admin.post(f"/adminmemberview/edit/{own}", data={"workspace": team.alpha_id,
                                                     "role": "agent"})
    admin.post(f"/adminmemberview/delete/{own}")
    admin.post(f"/adminmemberview/edit/{own}", data={"workspace": team.bravo_id,
                                                     "role": "manager"})  # moved away
    state = login_of(app, team.manager)
    assert state["active"] and state["role"] == "manager"
    assert state["roles"] == ["WorkspaceManager"] and state["workspace_id"] == team.alpha_id

    # with a second manager, the first may go
    admin.post(f"/adminmemberview/edit/{member_id(app, team.agent)}",
               data={"workspace": team.alpha_id, "role": "manager"})
    assert login_of(app, team.agent)["role"] == "manager"
    page = admin.post(f"/adminmemberview/action/suspend/{own}", follow_redirects=True)
    assert not login_of(app, team.manager)["active"]
    # … and now the second is the last: the one remaining may not be suspended
    second = member_id(app, team.agent)
    admin.post(f"/adminmemberview/action/suspend/{second}")
    assert login_of(app, team.agent)["active"]


def test_master_admin_invites_into_any_workspace(app, team):
    admin = signed_in(app, team.admin)
    form = admin.get("/adminmemberview/add").get_data(as_text=True)
    assert "Alpha Panel" in form and "Bravo Panel" in form
    response = invite(admin, role="manager", view="adminmemberview", workspace=team.bravo_id)
    assert response.status_code == 302
    invited = login_of(app, INVITEE)
    assert invited["workspace_id"] == team.bravo_id and invited["roles"] == ["WorkspaceManager"]
    [mail] = deliver_mail(app)
    assert "Bravo Panel" in mail.subject
    listing = admin.get("/adminmemberview/list/").get_data(as_text=True)
    assert INVITEE in listing and team.manager in listing and team.bravo_manager in listing


def test_resend_invitation_only_for_members_who_never_signed_in(app, team):
    manager = signed_in(app, team.manager)
    invite(manager)
    [first] = deliver_mail(app)
    manager.post(f"/memberview/action/resend_invitation/{member_id(app, INVITEE)}")
    [second] = deliver_mail(app)
    assert second.to == INVITEE and link_in(second).startswith("/password/invitation/")
    signed_in(app, team.agent)  # has signed in: uses "Forgot your password?" instead
    page = manager.post(f"/memberview/action/resend_invitation/{member_id(app, team.agent)}",
                        follow_redirects=True)
    assert "only active members who never signed in" in page.get_data(as_text=True)
    assert deliver_mail(app) == []


# --- links that cannot be used -------------------------------------------------------------------

def _token_made_hours_ago(app, username, purpose, hours):
    real = TimestampSigner.get_timestamp
    TimestampSigner.get_timestamp = lambda self: int(time.time() - hours * 3600)
    try:
        with app.test_request_context():
            return make_token(app.appbuilder.sm.find_user(username=username), purpose)
    finally:
        TimestampSigner.get_timestamp = real


def test_expired_forged_and_crossed_links_are_refused(app, team):
    client = app.test_client()
    old = _token_made_hours_ago(app, team.agent, INVITATION, 73)
    fresh = _token_made_hours_ago(app, team.agent, INVITATION, 71)
    expired = client.get(f"/password/invitation/{old}")
    assert expired.status_code == 410 and "expired" in expired.get_data(as_text=True)
    assert accept(client, f"/password/invitation/{old}").status_code == 410
    assert client.get(f"/password/invitation/{fresh}").status_code == 200

    forged = fresh[:-4] + ("AAAA" if not fresh.endswith("AAAA") else "BBBB")
    assert client.get(f"/password/invitation/{forged}").status_code == 404
    assert client.get("/password/invitation/nonsense").status_code == 404
    assert client.get(f"/password/reset/{fresh}").status_code == 404  # another purpose

    reset_old = _token_made_hours_ago(app, team.agent, RESET, 3)  # resets last 2 hours
    assert client.get(f"/password/reset/{reset_old}").status_code == 410
    from tests.factories import password_for

    assert can_sign_in(app, team.agent, password_for(team.agent))  # nothing changed


def test_a_suspended_members_link_stops_working(app, team):
    link = _token_made_hours_ago(app, team.agent, INVITATION, 0)
    manager = signed_in(app, team.manager)
    manager.post(f"/memberview/action/suspend/{member_id(app, team.agent)}")
    assert app.test_client().get(f"/password/invitation/{link}").status_code == 410


# --- forgot your password -----------------------------------------------------------------

def _forgot(client, email):
    return client.post("/password/forgot/", data={"email": email})


def test_reset_by_email_sets_the_password_and_ends_other_sessions(app, team):
    elsewhere = signed_in(app, team.agent)
    page = app.test_client().get("/login/").get_data(as_text=True)
    assert 'href="/password/forgot/"' in page

    response = _forgot(app.test_client(), "Alpha-Agent@Test.Example")
    assert response.status_code == 200
    [mail] = deliver_mail(app)
    assert mail.to == "alpha-agent@test.example"
    path = link_in(mail)
    assert path.startswith("/password/reset/")
    assert app.test_client().get(path).status_code == 200
    weak = accept(app.test_client(), path, password=team.agent + "-2024")
    assert "may not contain the username" in form_errors(weak.get_data(as_text=True))
    assert accept(app.test_client(), path).status_code == 302
    assert not session_alive(elsewhere)
    assert can_sign_in(app, team.agent, NEW_PASSWORD)
    assert app.test_client().get(path).status_code == 410  # used


def test_reset_answer_is_the_same_for_unknown_addresses(app, team):
    def answer(email):
        html = _forgot(app.test_client(), email).get_data(as_text=True)
        return re.sub(r'nonce="[^"]+"', "", html).replace(email, "EMAIL")

    known = answer("alpha-agent@test.example")
    unknown = answer("nobody@test.example")
    assert known == unknown and "on its way" in known
    assert [m.to for m in deliver_mail(app)] == ["alpha-agent@test.example"]

    manager = signed_in(app, team.manager)
    manager.post(f"/memberview/action/suspend/{member_id(app, team.agent)}")
    assert answer("alpha-agent@test.example") == unknown
    assert deliver_mail(app) == []  # a suspended login gets no link


def test_reset_form_refuses_bad_input_and_keeps_it(app, team):
    response = _forgot(app.test_client(), "no-at-sign")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "name@example.com" in form_errors(html)
    assert 'value="no-at-sign"' in html
    assert deliver_mail(app) == []


def test_reset_requests_are_limited(app, team):
    for _ in range(3):  # PASSWORD_RESET_MAX_PER_ACCOUNT
        assert _forgot(app.test_client(), "alpha-agent@test.example").status_code == 200
    refused = _forgot(app.test_client(), "alpha-agent@test.example")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many requests" in form_errors(refused.get_data(as_text=True))
    unknown_refused = [_forgot(app.test_client(), "nobody@test.example").status_code
                       for _ in range(4)][-1]
    assert unknown_refused == 429  # unknown addresses are limited alike
    assert len(deliver_mail(app)) == 3
    # the sign-in limits are separate: the login still signs in
    from tests.factories import password_for

    assert can_sign_in(app, team.agent, password_for(team.agent))
