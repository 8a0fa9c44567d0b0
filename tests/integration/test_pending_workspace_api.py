"""A workspace waiting for its first payment (status `pending`) has no REST API: its members'
API keys, JWTs and browser sessions get a 403 in words (app/signup/pending.py), while a paid
workspace's calls go through."""
from __future__ import annotations

from datetime import datetime

from app import billing
from app.extensions import db
from app.models import Workspace
from tests.integration.payment_support import waiting_workspace
from tests.integration.team_support import password_for, signed_in


def _refused(response) -> None:
    assert response.status_code == 403, response.data
    assert response.json["error"] is True
    assert "payment" in response.json["message"]


def test_a_pending_workspace_member_gets_no_rest_api(app, factory, redis_conn):
    workspace, subscription, _price = waiting_workspace(db, factory)
    user = db.session.query(app.appbuilder.sm.user_model).filter_by(
        username="acme-manager").one()
    key = {"X-API-Key": factory.api_key(user)}
    assert db.session.get(Workspace, workspace.id).status == "pending"
    client = app.test_client()
    _refused(client.get("/api/v1/channel/", headers=key))
    token = client.post("/api/v1/security/login", json={
        "username": "acme-manager", "password": password_for("acme-manager"),
        "provider": "db"}).json["access_token"]
    _refused(client.get("/api/v1/channel/", headers={"Authorization": f"Bearer {token}"}))
    _refused(signed_in(app, "acme-manager").get("/api/v1/channel/"))

    billing.activate(db.session.get(type(subscription), subscription.id),
                     start=datetime.utcnow(), end=None)
    db.session.commit()
    assert db.session.get(Workspace, workspace.id).status == "active"
    assert client.get("/api/v1/channel/", headers=key).status_code == 200
