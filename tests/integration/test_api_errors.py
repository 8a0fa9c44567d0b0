"""The REST API's error boundary (issue 18): one regression test per class of server error the
API fuzzer found, and the OpenAPI document checked with openapi-spec-validator.

Classes: list and `_info` parameters (ranges, types, operators, garbage); a show whose `q` is not
an object; create and update bodies (a relation given as anything but an id, numbers beyond the
column, NUL in text, uniqueness caught at the flush). Each answers 400 or 422 naming the
parameter or field, never 500; nothing is written. The fuzzer itself is test_api_fuzz.py.
"""
from __future__ import annotations

from urllib.parse import quote

import pytest
from flask_jwt_extended import create_access_token
from openapi_spec_validator import validate

from app.extensions import db
from app.models import CommandAlias, PanelConnection, Provider, ProviderRoute, ServiceRule
from app.views import base as views_base
from tests.factories import Factory
from tests.tenancy_helpers import fill_every_owned_table


@pytest.fixture
def api(app):
    """Two populated workspaces; a client signed in with alpha's manager's JWT."""
    with app.app_context():
        factory = Factory(app)
        alpha, manager = factory.populated_workspace("alpha")
        bravo, _ = factory.populated_workspace("bravo")
        fill_every_owned_table(alpha.id, "alpha")
        fill_every_owned_table(bravo.id, "bravo")
        token = create_access_token(identity=str(manager.id), fresh=True)
        ids = {
            "alpha": alpha.id, "bravo": bravo.id,
            "provider": db.session.query(Provider.id).filter_by(workspace_id=alpha.id).scalar(),
            "bravo_provider": db.session.query(Provider.id).filter_by(
                workspace_id=bravo.id).scalar(),
            "alias": db.session.query(CommandAlias.id).filter_by(workspace_id=alpha.id).first()[0],
            "route": db.session.query(ProviderRoute.id).filter_by(workspace_id=alpha.id).scalar(),
        }
        db.session.remove()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def call(method, url, **kwargs):
        return client.open(url, method=method, headers=headers, **kwargs)

    call.ids = ids
    return call


def count(app, model) -> int:
    with app.app_context():
        return db.session.query(model).count()


def field_named(response, field) -> bool:
    message = response.get_json()["message"]
    return isinstance(message, dict) and field in message


# --- list and _info parameters ----------------------------------------------------------------

@pytest.mark.parametrize("url", [
    "/api/v1/channel/?q=(page:-1)",
    "/api/v1/channel/?q=(page:1.5)",
    "/api/v1/channel/?q=(page_size:0)",
    "/api/v1/command_log/?q=(filters:!((col:order_id,opr:eq,value:99999999999)))",
    "/api/v1/inbound_event/?q=(filters:!((col:channel,opr:rel_o_m,value:99999999999999999999)))",
    "/api/v1/channel/?q=(filters:!((col:enabled,opr:eq,value:5)))",
    "/api/v1/command_log/?q=(filters:!((col:order_id,opr:eq,value:!t)))",
    "/api/v1/channel/?q=(filters:!((col:name,opr:nope,value:x)))",
    "/api/v1/channel/?q=(filters:!((col:nope,opr:eq,value:x)))",
    "/api/v1/channel/?q=(columns:!(1,2))",
    "/api/v1/channel/_info?q=(keys:!(nope))",
    "/api/v1/channel/_info?q=(add_columns:(provider:(page:-1)))",
    "/api/v1/channel/?q=(order_column:nope,order_direction:asc)",
])
def test_bad_list_parameters_answer_400(api, url):
    response = api("GET", url)
    assert response.status_code == 400, (url, response.status_code, response.get_json())
    assert response.get_json()["message"]


def test_a_huge_page_size_is_capped(api):
    response = api("GET", "/api/v1/provider/?q=(page_size:100000000)")
    assert response.status_code == 200 and len(response.get_json()["result"]) <= 100


# --- a q that is not an object -----------------------------------------------------------------

@pytest.mark.parametrize("q", ["-1.69e+237", "1.7289235645143197e+27", "5", "!(1,2)", "'text'",
                               "(unclosed"])
def test_a_q_that_is_not_an_object_answers_400(api, q):
    pk = api.ids["provider"]
    for url in (f"/api/v1/provider/{pk}?q={quote(q)}", f"/api/v1/provider/?q={quote(q)}",
                f"/api/v1/provider/_info?q={quote(q)}"):
        response = api("GET", url)
        assert response.status_code == 400, (url, response.status_code, response.get_json())
        assert "q argument" in response.get_json()["message"]


def test_ids_beyond_any_row_answer_404(api):
    for method in ("GET", "DELETE"):
        response = api(method, "/api/v1/provider/99999999999999999999")
        assert response.status_code == 404, (method, response.status_code)
    assert api("PUT", "/api/v1/provider/99999999999999999999",
               json={"name": "x"}).status_code == 404


# --- create and update bodies ------------------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"provider": {"": None}, "channel": 1, "chat_id": "120363000@g.us"}, "provider"),
    ({"provider": "", "channel": 1, "chat_id": "120363000@g.us"}, "provider"),
    ({"provider": True, "channel": 1, "chat_id": "120363000@g.us"}, "provider"),
    ({"provider": 1, "channel": "admin", "chat_id": "120363000@g.us"}, "channel"),
    ({"provider": 1, "channel": [1], "chat_id": "120363000@g.us"}, "channel"),
    ({"provider": 1, "channel": 1, "chat_id": 7}, "chat_id"),
    ({"provider": 1, "channel": 1, "chat_id": "x\u0000y"}, "chat_id"),
    ({"provider": 1, "channel": 1, "chat_id": "120363000@g.us", "enabled": "yes"}, "enabled"),
])
def test_a_body_value_of_the_wrong_type_answers_400_naming_the_field(app, api, body, field):
    before = count(app, ProviderRoute)
    response = api("POST", "/api/v1/provider_route/", json=body)
    assert response.status_code == 400, (response.status_code, response.get_json())
    assert field_named(response, field), response.get_json()
    assert count(app, ProviderRoute) == before
    edit = {k: v for k, v in body.items() if k == field}
    response = api("PUT", f"/api/v1/provider_route/{api.ids['route']}", json=edit)
    assert response.status_code == 400 and field_named(response, field), response.get_json()


@pytest.mark.parametrize("url, body, field", [
    ("/api/v1/ticket_rule/", {"name": "r", "action": 0}, "action"),
    ("/api/v1/ticket_rule/", {"name": "r", "action": "ignore", "position": "2"}, "position"),
    ("/api/v1/service_rule/", {"service_id": "9", "refill_kind": False}, "refill_kind"),
    ("/api/v1/service_rule/", {"service_id": "9", "start_minutes_max": 1.5},
     "start_minutes_max"),
    ("/api/v1/panel_connection/", {"panel_type": "demo", "timeout_seconds": "soon"},
     "timeout_seconds"),
    ("/api/v1/channel/", {"name": "c", "kind": False}, "kind"),
    ("/api/v1/admin_identity/", {"channel": "", "chat_id": "", "name": ""}, "channel"),
    ("/api/v1/chat_identity/", {"channel": [], "linked_user": {"a": 1}, "chat_id": "x"},
     "linked_user"),
])
def test_choices_numbers_and_relations_of_the_wrong_type_answer_400(api, url, body, field):
    response = api("POST", url, json=body)
    assert response.status_code == 400, (url, response.status_code, response.get_json())
    assert field_named(response, field), response.get_json()


def test_a_relation_to_another_workspace_or_nowhere_is_refused_by_name(app, api):
    before = count(app, ProviderRoute)
    for provider in (api.ids["bravo_provider"], 2 ** 31 - 1, 2 ** 40):
        response = api("POST", "/api/v1/provider_route/",
                       json={"provider": provider, "channel": 1, "chat_id": "120363000@g.us"})
        assert response.status_code in (400, 422), (provider, response.status_code)
        assert "bravo" not in response.get_data(as_text=True)
    assert count(app, ProviderRoute) == before


@pytest.mark.parametrize("url, body, field", [
    ("/api/v1/command_alias/", {"alias": "alpha-rf", "action": "refill"}, "alias"),
    ("/api/v1/provider/", {"name": "alpha-provider"}, "name"),
    ("/api/v1/linked_user/", {"username": "alpha-customer"}, "username"),
    ("/api/v1/custom_command/", {"keyword": "alpha-prices", "reply": "Hi"}, "keyword"),
])
def test_a_duplicate_answers_422_naming_the_field(api, url, body, field):
    response = api("POST", url, json=body)
    assert response.status_code == 422 and field_named(response, field), response.get_json()
    # bravo holds the same names: no conflict across workspaces, and nothing of bravo's told
    other = {k: (v.replace("alpha", "bravo") if isinstance(v, str) else v)
             for k, v in body.items()}
    assert api("POST", url, json=other).status_code == 201


def test_a_second_panel_connection_says_so(app, api):
    before = count(app, PanelConnection)
    response = api("POST", "/api/v1/panel_connection/",
                   json={"panel_type": "demo", "url": "https://panel2.example"})
    assert response.status_code == 422, response.get_json()
    assert "already has a panel connection" in str(response.get_json()["message"])
    assert count(app, PanelConnection) == before


def test_a_unique_conflict_at_the_flush_is_caught_there(app, api, monkeypatch):
    """A conflict no check foresaw (the checks skipped) and a flush inside the checks
    (autoflush): both answer 422 naming the field, never 500, and nothing is written."""
    monkeypatch.setattr(views_base, "check_values", lambda *args, **kwargs: None)
    before = count(app, CommandAlias)
    response = api("POST", "/api/v1/command_alias/", json={"alias": "alpha-rf",
                                                            "action": "refill"})
    assert response.status_code == 422 and field_named(response, "alias"), response.get_json()

    def flushing(item, **kwargs):
        db.session.add(item)
        db.session.flush()

    monkeypatch.setattr(views_base, "check_values", flushing)
    response = api("POST", "/api/v1/command_alias/", json={"alias": "alpha-rf",
                                                            "action": "refill"})
    assert response.status_code == 422 and field_named(response, "alias"), response.get_json()
    pk = api.ids["alias"]
    with app.app_context():
        db.session.add(CommandAlias(workspace_id=api.ids["alpha"], alias="second",
                                    action="refill"))
        db.session.commit()
    response = api("PUT", f"/api/v1/command_alias/{pk}", json={"alias": "second"})
    assert response.status_code == 422 and field_named(response, "alias"), response.get_json()
    assert count(app, CommandAlias) == before + 1


@pytest.mark.parametrize("url, body, field", [
    ("/api/v1/ticket_rule/", {"name": "r", "action": "ignore", "position": 2 ** 31}, "position"),
    ("/api/v1/service_rule/", {"service_id": "9", "start_minutes_max": 10 ** 30},
     "start_minutes_max"),
])
def test_a_number_beyond_its_column_answers_in_the_rules_words(api, url, body, field):
    """A column with a declared range: the range's own sentence (422), never the flush's."""
    response = api("POST", url, json=body)
    assert response.status_code == 422 and field_named(response, field), response.get_json()


def test_a_number_beyond_a_column_without_a_rule_is_too_large(app):
    from marshmallow import fields

    from app.views.api_input import TOO_BIG, field_problem
    with app.test_request_context():
        assert field_problem(ServiceRule, "id", fields.Integer(), 2 ** 40) == str(TOO_BIG)
        assert field_problem(ServiceRule, "id", fields.Integer(), 2 ** 31 - 1) is None


def test_a_value_the_rules_refuse_still_answers_422(app, api):
    before = count(app, ServiceRule)
    response = api("POST", "/api/v1/service_rule/", json={"service_id": "9", "refill_days": -4})
    assert response.status_code == 422 and field_named(response, "refill_days")
    assert count(app, ServiceRule) == before


# --- the OpenAPI document ----------------------------------------------------------------------

def test_the_openapi_document_is_valid_and_says_what_the_api_answers(api):
    response = api("GET", "/api/v1/_openapi")
    assert response.status_code == 200
    spec = response.get_json()
    validate(spec)  # openapi-spec-validator: a valid OpenAPI 3 document
    assert spec["openapi"].startswith("3.")
    schemes = spec["components"]["securitySchemes"]
    assert schemes["api_key"] == {**schemes["api_key"], "type": "apiKey", "in": "header",
                                  "name": "X-API-Key"}
    assert schemes["jwt"]["scheme"] == "bearer"
    error = spec["components"]["schemas"]["Error"]
    assert {"message", "error", "code"} <= set(error["properties"])
    operations = [(path, method, op) for path, item in spec["paths"].items()
                  for method, op in item.items() if method in ("get", "post", "put", "delete")]
    assert len(operations) > 100
    for path, method, op in operations:
        codes = set(op["responses"])
        where = f"{method.upper()} {path}: {sorted(codes)}"
        assert "500" not in codes, where
        assert "429" in codes and any(c.startswith("2") for c in codes), where
        if path != "/api/v1/security/login" and path != "/api/v1/security/refresh":
            assert {"401", "403"} <= codes, where
            assert {"jwt": []} in op["security"] and {"api_key": []} in op["security"], where
        if "{" in path:
            assert "404" in codes, where
        if path.startswith(("/api/v1/contacts", "/api/v1/messages/")):
            # the public API: refused values are 400 with the fields named, never 422
            assert "422" not in codes and (method == "get" or "400" in codes), where
        elif method in ("post", "put") and path.endswith(("/", "{pk}")):
            assert {"400", "422"} <= codes, where
        for code in codes - {"200", "201", "204"}:
            answer = op["responses"][code]
            assert answer.get("$ref") == f"#/components/responses/{code}", where
    refused = spec["components"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert refused == {"$ref": "#/components/schemas/Error"}
