"""Sensitive data never leaves (issue 10, deliverable 1; app/models/sensitive.py).

Every registered REST API and every screen is enumerated at run time, and so is every column a
model declares sensitive: a known value is planted in each (secrets and payment ids written
through the model, hashes and ciphertexts read back raw), then every role asks every API for its
list, its show of every row, its `_info`, with and without `columns` (including the names of
relationships, sensitive columns and dotted paths into related rows), and opens every screen's
list and show pages. No planted value may appear anywhere. A model, relation, API or screen
added later is covered without editing this file.
"""
from __future__ import annotations

import itertools
import json
from urllib.parse import quote

import prison
import pytest
import sqlalchemy as sa
from flask_appbuilder import Model
from sqlalchemy import inspect

from app.extensions import db
from app.models.sensitive import HASH, SECRET, sensitive_columns
from app.security import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER, ROLE_TRANSLATOR
from app.views.base import SensitiveColumnError, Summary, SummaryConverter
from tests.factories import password_for
from tests.tenancy_helpers import (fill_every_owned_table, mapped_models, model_views,
                                   role_permissions)

_plant = itertools.count(1)
MIN_PLANT = 12  # every planted value is at least this long, so a hit is never a coincidence


def plant_everything() -> set[str]:
    """Write a known value into every write-only sensitive column of every row, and collect
    what the database holds (ciphertexts, hashes) for every sensitive column: all of it must
    stay inside."""
    values: set[str] = set()
    for model in mapped_models():
        declared = sensitive_columns(model)
        if not declared:
            continue
        for row in db.session.query(model).all():
            for column, kind in declared.items():
                if kind != HASH:
                    planted = f"PLANTED{next(_plant):04d}{column}SECRETVALUE"
                    setattr(row, column, planted[:120])
                    values.add(planted[:120])
        db.session.commit()
        table = model.__table__
        with db.engine.connect() as connection:
            for column in declared:
                for (raw,) in connection.execute(sa.select(table.c[column])):
                    if raw and len(raw) >= MIN_PLANT:
                        values.add(raw)
    assert len(values) >= 20, f"too few sensitive values planted: {sorted(values)}"
    return values


@pytest.fixture
def world(app, factory):
    with app.app_context():
        a, _manager = factory.populated_workspace("alpha")
        b, _ = factory.populated_workspace("bravo")
        fill_every_owned_table(a.id, "alpha")
        fill_every_owned_table(b.id, "bravo")
        factory.member(a, "alpha-agent", "agent")
        admin = factory.admin()
        factory.translator()
        factory.api_key(admin)  # an API key hash exists
        from flask_appbuilder.security.sqla.models import RegisterUser

        factory.commit(RegisterUser(first_name="Reg", last_name="Istrant", username="registrant",
                                    email="registrant@test.example",
                                    password="PLANTEDREGISTRATIONPASSWORDHASH",
                                    registration_hash="PLANTEDREGISTRATIONHASH"))
        planted = plant_everything()
        # every declared sensitive column of the app's own models holds something to leak
        for model in mapped_models():
            for column in sensitive_columns(model):
                count = db.session.execute(sa.select(sa.func.count()).where(
                    model.__table__.c[column].isnot(None))).scalar()
                assert count, f"nothing planted in {model.__name__}.{column}"
        return planted


ROLE_USERS = {ROLE_ADMIN: "root", ROLE_MANAGER: "alpha-manager", ROLE_AGENT: "alpha-agent",
              ROLE_TRANSLATOR: "translator"}


def _rison(value) -> str:
    return quote(prison.dumps(value))


def _column_probes(api) -> list[list[str]]:
    """`columns` values to ask for: every list column, every relationship and sensitive column
    of the model, and dotted paths into every related model's columns."""
    model = api.datamodel.obj
    mapper = inspect(model)
    names = set(api.list_columns) | set(api.show_columns)
    names |= {rel.key for rel in mapper.relationships}
    names |= set(sensitive_columns(model))
    dotted = []
    for rel in mapper.relationships:
        related = rel.mapper.class_
        dotted += [f"{rel.key}.{c.key}" for c in related.__table__.columns]
    return [sorted(names), sorted(names | set(dotted))]


def _api_answers(client, api, row_ids) -> list[str]:
    base = f"/api/v1/{api.resource_name}"
    texts = []
    urls = [f"{base}/", f"{base}/_info", f"{base}/?q={_rison({'page_size': 100})}"]
    for columns in _column_probes(api):
        urls.append(f"{base}/?q={_rison({'columns': columns, 'page_size': 100})}")
    for pk in row_ids:
        urls.append(f"{base}/{pk}")
        for columns in _column_probes(api):
            urls.append(f"{base}/{pk}?q={_rison({'columns': columns})}")
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, (url, response.status_code)
        texts.append(f"{url} -> {response.get_data(as_text=True)}")
    return texts


def _row_ids(model) -> list:
    pk = inspect(model).primary_key[0]
    return [row[0] for row in db.session.query(pk).order_by(pk).limit(6)]


def _leaks(texts, planted) -> list[str]:
    found = []
    for text in texts:
        for value in planted:
            if value in text:
                found.append(f"{value!r} in {text[:300]}")
    return found


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_no_sensitive_value_leaves_through_any_api(app, client, auth, world, role):
    auth.login(ROLE_USERS[role], password_for(ROLE_USERS[role]))
    granted = role_permissions(app, role)
    apis = [view for view, kind in model_views(app) if kind == "api"]
    assert len(apis) >= 15, [type(a).__name__ for a in apis]
    asked = 0
    texts = []
    with app.app_context():
        for api in apis:
            may = role == ROLE_ADMIN or ("can_get", api.class_permission_name) in granted
            if may:
                asked += 1
                texts += _api_answers(client, api, _row_ids(api.datamodel.obj))
            else:
                response = client.get(f"/api/v1/{api.resource_name}/")
                assert response.status_code in (401, 403), (api.resource_name, role)
                texts.append(response.get_data(as_text=True))
    assert asked or role == ROLE_TRANSLATOR, f"{role} may read no API: the test proves nothing"
    leaks = _leaks(texts, world)
    assert not leaks, "\n".join(leaks[:10])


@pytest.mark.parametrize("role", [ROLE_ADMIN, ROLE_MANAGER, ROLE_AGENT])
def test_no_sensitive_value_on_any_screen(app, client, auth, world, role):
    auth.login(ROLE_USERS[role], password_for(ROLE_USERS[role]))
    granted = role_permissions(app, role)
    texts = []
    with app.app_context():
        for view, kind in model_views(app):
            if kind != "html":
                continue
            name = view.class_permission_name
            if role != ROLE_ADMIN and ("can_list", name) not in granted:
                continue
            base = view.route_base
            pages = [f"{base}/list/"] + [f"{base}/show/{pk}"
                                         for pk in _row_ids(view.datamodel.obj)[:3]]
            for url in pages:
                response = client.get(url)
                assert response.status_code < 500, (url, response.status_code)
                texts.append(f"{url} -> {response.get_data(as_text=True)}")
    assert len(texts) >= 10
    leaks = _leaks(texts, world)
    assert not leaks, "\n".join(leaks[:10])


def test_no_api_orders_or_filters_by_a_sensitive_column(app, client, auth, world):
    """Sorting or filtering by a secret would read it one character at a time."""
    auth.login("root")
    probed = 0
    with app.app_context():
        for api, kind in model_views(app):
            if kind != "api":
                continue
            for column in sensitive_columns(api.datamodel.obj):
                base = f"/api/v1/{api.resource_name}/"
                for q in ({"order_column": column, "order_direction": "asc"},
                          {"filters": [{"col": column, "opr": "sw", "value": "PLANTED"}]},
                          {"filters": [{"col": column, "opr": "eq", "value": "x"}]}):
                    response = client.get(f"{base}?q={_rison(q)}")
                    assert response.status_code == 400, (base, q, response.status_code)
                    probed += 1
                info = client.get(f"/api/v1/{api.resource_name}/_info").get_json() or {}
                assert column not in (info.get("filters") or {}), (api.resource_name, column)
    assert probed >= 20, probed


def test_related_rows_leave_as_summaries(app, client, auth, world):
    """Every relationship an API lists or shows dumps as {"id", "label"}, nothing more."""
    auth.login("root")
    checked = 0
    with app.app_context():
        for api, kind in model_views(app):
            if kind != "api":
                continue
            mapper = inspect(api.datamodel.obj)
            relations = {r.key for r in mapper.relationships}
            for pk in _row_ids(api.datamodel.obj)[:2]:
                body = client.get(f"/api/v1/{api.resource_name}/{pk}").get_json()
                for name in set(api.show_columns) & relations:
                    value = body["result"].get(name)
                    for item in value if isinstance(value, list) else [value]:
                        if item is not None:
                            assert set(item) == {"id", "label"}, (api.resource_name, name, item)
                            checked += 1
    assert checked >= 10, checked


def test_members_api_shows_what_a_manager_needs(app, client, auth, world):
    auth.login("alpha-manager")
    body = client.get("/api/v1/member/").get_json()
    assert body["count"] >= 2
    for row in body["result"]:
        assert set(row) == {"username", "full_name", "email", "role", "status", "last_login",
                            "availability"}
        assert row["username"].startswith("alpha-")
    member = body["ids"][0]
    shown = client.get(f"/api/v1/member/{member}").get_json()["result"]
    assert "password" not in json.dumps(shown)
    assert "login_count" not in json.dumps(shown)


def test_every_encrypted_column_is_declared_secret():
    from app.crypto import EncryptedText

    for table in Model.metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, EncryptedText):
                assert column.info.get("sensitive") == SECRET, f"{table.name}.{column.name}"


def test_fab_user_password_is_declared_a_hash(app):
    model = app.appbuilder.sm.user_model
    assert sensitive_columns(model)["password"] == HASH


def test_a_view_listing_a_sensitive_column_is_refused_at_start_up(app):
    from app.models import Channel, LinkCode
    from app.views.base import RelaydeskInterface, WorkspaceModelView, WorkspaceRestApi

    with pytest.raises(SensitiveColumnError):
        type("LeakyCodes", (WorkspaceModelView,), {
            "datamodel": RelaydeskInterface(LinkCode), "list_columns": ["code_hash"]})
    with pytest.raises(SensitiveColumnError):
        type("LeakyChannelApi", (WorkspaceRestApi,), {
            "datamodel": RelaydeskInterface(Channel), "search_columns": ["api_token"]})
    with pytest.raises(SensitiveColumnError):
        type("NestedChannelApi", (WorkspaceRestApi,), {
            "datamodel": RelaydeskInterface(Channel), "show_columns": ["workspace.name"]})
    # the REST converter refuses a sensitive column in any dump schema, whatever asks for it
    with app.app_context():
        converter = SummaryConverter(RelaydeskInterface(Channel), {})
        with pytest.raises(SensitiveColumnError):
            converter.convert(["name", "api_token"])
        schema = converter.convert(["name", "workspace"])
        assert isinstance(schema.fields["workspace"], Summary)
