"""The REST API (issue item 6): a FAB ModelRestApi for every workspace-owned model, scoped like
the screens, authenticated by JWT or by a personal API key sent as `X-API-Key`, documented at
/api/v1/_openapi with Swagger UI, and write-only for secrets.

The cross-workspace matrix for every API lives in test_tenancy_matrix.py; this file covers the
API's own contract. Requests here run outside any test-held app context, so every request gets
its own `g` and session, as in production (a token or key seen once must not linger).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask_appbuilder import ModelRestApi

from app.crypto import mask
from app.extensions import db
from app.models import Channel, PanelConnection, Provider, Workspace
from app.models.base import is_workspace_owned
from app.tenancy import ScopedInterface
from app.views.base import WorkspaceRestApi
from tests.factories import Factory, password_for
from tests.tenancy_helpers import owned_models, tenant_ids

SECRET = "rest-secret-3f9c2a7be1d04455"

# Internal bookkeeping of the pipeline, never edited by people: no screen and no REST API.
# (Decided per table; anything not listed here must have an API.)
INTERNAL_TABLES = {
    "cooldown_claim": "the atomic cooldown claims the pipeline takes per (order, action)",
    "link_code": "hashed one-time codes that link a chat to a panel user",
    "health_snapshot": "hourly figures the maintenance runner keeps for the dashboards (their "
                       "charts read them)",
    "health_problem": "the health runner's record of open problems and notices: GET "
                      "/api/v1/health answers the workspace's health",
    "support_message": "a platform support ticket's thread: REST support_ticket carries it as "
                       "`thread` (internal notes never)",
    "conversation_note": "the inbox's internal notes: GET /inbox/api/conversations/<id>/messages "
                         "answers them as `team_note` items",
    "conversation_mention": "who a note mentioned: the inbox's `mentions` view and counts "
                            "(GET /inbox/api/conversations?view=mentions)",
}


@dataclass
class Tenants:
    a_id: int
    b_id: int
    a_manager: str
    a_manager_id: int
    b_manager: str
    b_manager_id: int


@pytest.fixture
def tenants(app) -> Tenants:
    with app.app_context():
        factory = Factory(app)
        a, a_manager = factory.populated_workspace("alpha")
        b, b_manager = factory.populated_workspace("bravo")
        result = Tenants(a.id, b.id, a_manager.username, a_manager.id, b_manager.username,
                         b_manager.id)
        db.session.remove()
    return result


def _provider_ids(app, workspace_id):
    with app.app_context():
        return tenant_ids(app, Provider, workspace_id)


def _api_key(app, user_id: int) -> str:
    with app.app_context():
        sm = app.appbuilder.sm
        return sm.create_api_key(sm.get_user_by_id(user_id), f"key-{user_id}")["key"]


def _apis(app):
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi)]


# --- coverage --------------------------------------------------------------------------------

def test_every_workspace_owned_model_has_a_scoped_rest_api(app):
    by_model = {}
    for api in _apis(app):
        by_model.setdefault(api.datamodel.obj, []).append(api)
    missing = [m.__name__ for m in owned_models()
               if m not in by_model and m.__tablename__ not in INTERNAL_TABLES]
    assert not missing, f"workspace-owned models without a REST API: {missing}"
    for model, apis in by_model.items():
        if is_workspace_owned(model):
            for api in apis:
                assert isinstance(api, WorkspaceRestApi), type(api).__name__
                assert isinstance(api.datamodel, ScopedInterface), type(api).__name__
                assert api.route_base.startswith("/api/v1/"), api.route_base


# --- authentication --------------------------------------------------------------------------

def test_jwt_login_gives_a_scoped_token(app, tenants):
    a_id, b_id = tenants.a_id, tenants.b_id
    client = app.test_client()  # no browser session: only the token speaks
    assert client.get("/api/v1/provider/").status_code == 401
    response = client.post("/api/v1/security/login", json={
        "username": tenants.a_manager, "password": password_for(tenants.a_manager),
        "provider": "db"})
    assert response.status_code == 200, response.json
    headers = {"Authorization": f"Bearer {response.json['access_token']}"}

    listed = client.get("/api/v1/provider/", headers=headers)
    assert listed.status_code == 200
    assert set(listed.json["ids"]) == _provider_ids(app, a_id)
    assert client.get(f"/api/v1/provider/{min(_provider_ids(app, b_id))}",
                      headers=headers).status_code == 404
    bad = app.test_client().get("/api/v1/provider/",
                                headers={"Authorization": "Bearer not.a.jwt"})
    assert bad.status_code in (401, 422)


def test_wrong_password_gets_no_token(app, tenants):
    response = app.test_client().post("/api/v1/security/login", json={
        "username": tenants.a_manager, "password": "wrong", "provider": "db"})
    assert response.status_code == 401
    assert "access_token" not in (response.json or {})


def test_api_key_from_the_account_page_works_as_x_api_key(app, tenants, auth, client):
    a_id, b_id = tenants.a_id, tenants.b_id
    auth.login(tenants.a_manager)
    page = client.post("/account/api-keys/create", data={"name": "zapier"})
    assert page.status_code == 200
    key = re.search(r"<code>(rdk_[^<\s]+)</code>", page.get_data(as_text=True)).group(1)
    assert key not in client.get("/account/api-keys/").get_data(as_text=True), "shown twice"

    api = app.test_client()
    headers = {"X-API-Key": key}
    listed = api.get("/api/v1/provider/", headers=headers)
    assert listed.status_code == 200, listed.json
    assert set(listed.json["ids"]) == _provider_ids(app, a_id)
    b_provider = min(_provider_ids(app, b_id))
    assert api.get(f"/api/v1/provider/{b_provider}", headers=headers).status_code == 404
    assert api.put(f"/api/v1/provider/{b_provider}", json={"name": "x"},
                   headers=headers).status_code == 404
    assert api.delete(f"/api/v1/provider/{b_provider}", headers=headers).status_code == 404

    created = api.post("/api/v1/provider/", json={"name": "via-key"}, headers=headers)
    assert created.status_code == 201, created.json
    with app.app_context():
        assert db.session.get(Provider, created.json["id"]).workspace_id == a_id

    bearer = api.get("/api/v1/provider/", headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 200

    assert api.get("/api/v1/provider/", headers={"X-API-Key": key + "x"}).status_code == 401
    assert api.get("/api/v1/provider/", headers={"X-API-Key": "rdk_nope"}).status_code == 401

    with app.app_context():
        uuid = app.appbuilder.sm.find_api_keys_for_user(tenants.a_manager_id)[0].uuid
    assert client.post(f"/account/api-keys/revoke/{uuid}").status_code == 302
    assert api.get("/api/v1/provider/", headers=headers).status_code == 401


def test_a_member_cannot_revoke_another_members_key(app, tenants, auth, client):
    _api_key(app, tenants.b_manager_id)
    with app.app_context():
        uuid = app.appbuilder.sm.find_api_keys_for_user(tenants.b_manager_id)[0].uuid
    auth.login(tenants.a_manager)
    assert client.post(f"/account/api-keys/revoke/{uuid}").status_code == 404
    with app.app_context():
        assert app.appbuilder.sm.find_api_keys_for_user(tenants.b_manager_id)[0].is_active


def test_agent_reads_but_does_not_write(app, tenants):
    a_id = tenants.a_id
    with app.app_context():
        agent = Factory(app).member(db.session.get(Workspace, a_id), "alpha-agent", "agent")
        agent_id = agent.id
    headers = {"X-API-Key": _api_key(app, agent_id)}
    api = app.test_client()
    listed = api.get("/api/v1/provider/", headers=headers)
    assert listed.status_code == 200
    assert set(listed.json["ids"]) == _provider_ids(app, a_id)
    assert api.post("/api/v1/provider/", json={"name": "nope"}, headers=headers).status_code == 403
    assert api.get("/api/v1/panel_connection/", headers=headers).status_code == 403  # managers'


# --- documentation ---------------------------------------------------------------------------

def test_openapi_documents_every_api_with_write_only_secrets(app, tenants):
    api = app.test_client()
    response = api.get("/api/v1/_openapi",
                       headers={"X-API-Key": _api_key(app, tenants.a_manager_id)})
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    for view in _apis(app):
        if isinstance(view, WorkspaceRestApi):
            path = view.route_base + "/"
            assert path in spec["paths"], path
            assert f"{path[:-1]}/{{pk}}" in spec["paths"], path

    schemes = spec["components"]["securitySchemes"]
    assert schemes["api_key"] == {"type": "apiKey", "in": "header", "name": "X-API-Key",
                                  "description": schemes["api_key"]["description"]}
    assert schemes["jwt"]["scheme"] == "bearer"
    get_list = spec["paths"]["/api/v1/channel/"]["get"]
    assert {"api_key": []} in get_list["security"] and {"jwt": []} in get_list["security"]

    schemas = spec["components"]["schemas"]
    for view in _apis(app):
        secrets = getattr(view, "secret_columns", ())
        if not secrets:
            continue
        name = type(view).__name__
        for read in (f"{name}.get", f"{name}.get_list"):
            readable = set(schemas[read]["properties"])
            assert not readable & set(secrets), (read, readable & set(secrets))
        for write in (f"{name}.post", f"{name}.put"):
            for column in secrets:
                if column in schemas[write]["properties"]:
                    assert schemas[write]["properties"][column].get("writeOnly") is True


def test_swagger_ui_and_menu_links_for_a_manager(app, tenants, auth, client):
    auth.login(tenants.a_manager)
    page = client.get("/swagger/v1")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "swagger" in html.lower() and "/api/v1/_openapi" in html
    assert client.get("/api/v1/_openapi").status_code == 200  # the UI fetches it with the cookie
    menu = client.get("/api/v1/menu/").json["result"]
    entries = {child["name"] for item in menu for child in item.get("childs", [])
               if isinstance(child, dict)}
    assert {"API keys", "API documentation"} <= entries
    assert "List Users" not in entries  # self-service permissions do not open admin menus


# --- secrets are write-only --------------------------------------------------------------------

def _contains_secret(response, *secrets) -> bool:
    text = response.get_data(as_text=True)
    return any(s in text for s in secrets)


def test_secrets_are_write_only(app, tenants, auth, client):
    a_id = tenants.a_id
    auth.login(tenants.a_manager)
    created = client.post("/api/v1/channel/", json={
        "name": "Bot", "kind": "telegram", "bot_token": f"700123:{SECRET}",
        "secret_token": f"tg-{SECRET}"})
    assert created.status_code == 201, created.json
    assert not _contains_secret(created, SECRET)
    pk = created.json["id"]

    shown = client.get(f"/api/v1/channel/{pk}")
    assert shown.status_code == 200 and not _contains_secret(shown, SECRET)
    assert shown.json["result"]["bot_token_masked"] == mask(f"700123:{SECRET}")
    assert "bot_token" not in shown.json["result"]
    for url in ["/api/v1/channel/", "/api/v1/channel/?q=(columns:!(bot_token,secret_token))",
                f"/api/v1/channel/{pk}?q=(columns:!(bot_token))",
                "/api/v1/channel/_info?q=(keys:!(add_columns,edit_columns))"]:
        response = client.get(url)
        assert response.status_code in (200, 400), url
        assert not _contains_secret(response, SECRET), url

    def stored() -> Channel:
        with app.app_context():
            channel = db.session.get(Channel, pk)
            db.session.expunge(channel)
            return channel

    renamed = client.put(f"/api/v1/channel/{pk}", json={"name": "Bot 2"})
    assert renamed.status_code == 200, renamed.json
    assert not _contains_secret(renamed, SECRET)
    assert "bot_token" not in renamed.json["result"]
    assert stored().name == "Bot 2" and stored().bot_token == f"700123:{SECRET}"  # kept

    assert client.put(f"/api/v1/channel/{pk}", json={"bot_token": ""}).status_code == 200
    assert stored().bot_token == f"700123:{SECRET}"  # blank keeps the stored value

    replaced = client.put(f"/api/v1/channel/{pk}", json={"bot_token": "700124:new-token-value"})
    assert replaced.status_code == 200 and "new-token-value" not in replaced.get_data(as_text=True)
    assert stored().bot_token == "700124:new-token-value" and stored().bot_id == "700124"

    with app.app_context():
        panel_id = min(tenant_ids(app, PanelConnection, a_id))
    response = client.put(f"/api/v1/panel_connection/{panel_id}", json={"api_key": SECRET})
    assert response.status_code == 200 and not _contains_secret(response, SECRET)
    shown = client.get(f"/api/v1/panel_connection/{panel_id}")
    assert shown.json["result"]["api_key_masked"] == mask(SECRET)
    assert not _contains_secret(shown, SECRET)


def test_api_validates_like_the_screen(app, tenants, auth, client):
    """The REST twin runs the screen's checks (ChannelView.item_validators): 422, nothing stored."""
    auth.login(tenants.a_manager)

    def count() -> int:
        with app.app_context():
            return db.session.query(Channel).count()

    before = count()
    response = client.post("/api/v1/channel/", json={"name": "Cloud", "kind": "meta"})
    assert response.status_code == 422
    assert "access_token" in response.json["message"]
    assert count() == before
    unknown = client.post("/api/v1/channel/", json={"name": "X", "kind": "webchat", "nope": 1})
    assert unknown.status_code == 422
