"""A suspended workspace is read-only (app/suspension.py): REST reads answer, REST writes get a
403 in words (API key, JWT, browser session); the screens refuse add/edit/delete with a flash
message and change nothing; Billing, the account pages and signing in stay open; the master
admin and other workspaces are not affected; once resumed, writes work again."""
from __future__ import annotations

import pytest

from app import billing
from app.extensions import db
from app.models import Provider, Workspace
from app.suspension import SUSPENDED_MESSAGE
from tests.integration.team_support import password_for, signed_in

API = "/api/v1/provider/"


@pytest.fixture
def suspended(app, factory, redis_conn):
    acme, manager = factory.populated_workspace("acme")
    globex, _other = factory.populated_workspace("globex")
    factory.admin("root")
    billing.suspend(acme, "Invoice RD-7 is overdue")
    db.session.commit()
    provider = db.session.query(Provider).filter_by(workspace_id=acme.id).one()
    return {"acme": acme.id, "globex": globex.id, "provider": provider.id,
            "manager": manager.username}


def _providers(workspace_id: int) -> list[tuple[int, str]]:
    db.session.expire_all()
    return sorted((p.id, p.name) for p in db.session.query(Provider).filter_by(
        workspace_id=workspace_id))


def _refused(response) -> None:
    assert response.status_code == 403, response.data
    assert response.json["error"] is True and response.json["code"] == "FORBIDDEN"
    assert response.json["message"] == str(SUSPENDED_MESSAGE)
    assert "suspended" in response.json["message"] and "Billing" in response.json["message"]


def _token(client, username: str) -> str:
    answer = client.post("/api/v1/security/login", json={
        "username": username, "password": password_for(username), "provider": "db"})
    assert answer.status_code == 200, answer.json  # signing in stays open
    return answer.json["access_token"]


def _call(app, client, method: str, path: str, **kwargs):
    """One request in its own app context (the test's context would share `g` between
    requests, which a JWT's loading does not expect)."""
    with app.app_context():
        return client.open(path, method=method, **kwargs)


def _writes_refused(app, client, headers, pk) -> None:
    _refused(_call(app, client, "POST", API, json={"name": "new one"}, headers=headers))
    _refused(_call(app, client, "PUT", f"{API}{pk}", json={"name": "renamed"}, headers=headers))
    _refused(_call(app, client, "DELETE", f"{API}{pk}", headers=headers))


def test_rest_reads_answer_and_writes_are_refused_for_an_api_key_a_jwt_and_a_session(
        app, factory, suspended):
    user = db.session.query(app.appbuilder.sm.user_model).filter_by(
        username=suspended["manager"]).one()
    before = _providers(suspended["acme"])
    client = app.test_client()
    key = {"X-API-Key": factory.api_key(user)}
    for headers in (key, {"Authorization": f"Bearer {_token(client, suspended['manager'])}"}):
        listed = _call(app, client, "GET", API, headers=headers)
        assert listed.status_code == 200, listed.json
        assert set(listed.json["ids"]) == {pk for pk, _name in before}
        one = _call(app, client, "GET", f"{API}{suspended['provider']}", headers=headers)
        assert one.status_code == 200, one.json
        _writes_refused(app, client, headers, suspended["provider"])
    session = signed_in(app, suspended["manager"])
    assert session.get(API).status_code == 200
    _writes_refused(app, session, {}, suspended["provider"])
    assert _providers(suspended["acme"]) == before


def test_screens_refuse_add_edit_and_delete_with_the_message_and_change_nothing(
        app, suspended):
    client = signed_in(app, suspended["manager"])
    before = _providers(suspended["acme"])
    pk = suspended["provider"]
    assert client.get("/providerview/list/").status_code == 200
    assert client.get("/providerview/add").status_code == 200  # the form still opens
    attempts = [
        client.post("/providerview/add", data={"name": "added"},
                    headers={"Referer": "http://localhost/providerview/add"}),
        client.post(f"/providerview/edit/{pk}", data={"name": "renamed"}),
        client.post(f"/providerview/delete/{pk}"),
        client.get(f"/providerview/delete/{pk}"),  # FAB's delete answers GET too
    ]
    for answer in attempts:
        assert answer.status_code == 302, answer.status_code
    assert attempts[0].headers["Location"].endswith("/providerview/add")  # back to the form
    page = client.get(attempts[1].headers["Location"], follow_redirects=True)
    assert str(SUSPENDED_MESSAGE) in page.get_data(as_text=True)
    assert _providers(suspended["acme"]) == before


def test_billing_the_account_and_signing_in_stay_open(app, suspended):
    client = signed_in(app, suspended["manager"])  # signing in works
    page = client.get("/billing/")
    assert page.status_code == 200
    assert "suspended" in page.get_data(as_text=True).lower()
    # a card payment button answers (here: Stripe is not configured), not the suspension
    answer = client.post("/billing/stripe/checkout", data={"price": "0"},
                         follow_redirects=True)
    assert answer.status_code == 200
    text = answer.get_data(as_text=True)
    assert "Choose one of the plans offered." in text and str(SUSPENDED_MESSAGE) not in text
    created = client.post("/account/api-keys/create", data={"name": "export"})
    assert created.status_code == 200 and "rdk_" in created.get_data(as_text=True)
    assert client.get("/users/userinfo/").status_code == 200


def test_the_master_admin_and_other_workspaces_are_not_affected(app, factory, suspended):
    admin = signed_in(app, "root")
    pk = suspended["provider"]
    answer = admin.put(f"{API}{pk}", json={"name": "fixed by us"})
    assert answer.status_code == 200, answer.json
    assert (pk, "fixed by us") in _providers(suspended["acme"])
    other = db.session.query(app.appbuilder.sm.user_model).filter_by(
        username="globex-manager").one()
    created = app.test_client().post(API, json={"name": "globex new"},
                                     headers={"X-API-Key": factory.api_key(other)})
    assert created.status_code == 201, created.json


def test_resuming_opens_writes_again(app, factory, suspended):
    user = db.session.query(app.appbuilder.sm.user_model).filter_by(
        username=suspended["manager"]).one()
    headers = {"X-API-Key": factory.api_key(user)}
    client = app.test_client()
    _refused(client.post(API, json={"name": "after"}, headers=headers))
    billing.resume(db.session.get(Workspace, suspended["acme"]))
    db.session.commit()
    created = client.post(API, json={"name": "after"}, headers=headers)
    assert created.status_code == 201, created.json
    screens = signed_in(app, suspended["manager"])
    pk = suspended["provider"]
    assert screens.post(f"/providerview/edit/{pk}", data={"name": "renamed"}).status_code == 302
    assert (pk, "renamed") in _providers(suspended["acme"])


def test_platform_support_stays_open(app, suspended):
    """A suspended workspace may well need to ask the platform: its manager opens a ticket."""
    from app.models import SupportTicket

    client = signed_in(app, suspended["manager"])
    opened = client.post("/supportticketview/add", data={
        "subject": "We paid yesterday", "category": "billing",
        "message": "Bank transfer TRX-1 went out on Monday."})
    assert opened.status_code == 302 and "/supportticketview/show/" in opened.headers["Location"]
    db.session.expire_all()
    assert [t.subject for t in db.session.query(SupportTicket).filter_by(
        workspace_id=suspended["acme"])] == ["We paid yesterday"]
