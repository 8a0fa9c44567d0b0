"""The tenancy matrix (docs/contracts.md "Tenancy", docs/ARCHITECTURE.md "FAB pitfalls").

A manager of workspace A works against the rows of workspace B through every registered screen
and REST API, enumerated at run time from `app.appbuilder.baseviews`: a view added later is in the
matrix without editing this file. Both workspaces hold a row in every workspace-owned table
(Factory.populated_workspace, topped up generically by tests/tenancy_helpers.py).

Every check has a positive control on A's own rows, so a check that could not have failed (an
empty page, a payload invalid for another reason) fails instead of passing silently.
"""
from __future__ import annotations

from app.validation import rules_for

import re
from dataclasses import dataclass
from urllib.parse import quote

import prison
import pytest
import sqlalchemy as sa
from flask import g
from flask_appbuilder.actions import action
from flask_appbuilder.const import PERMISSION_PREFIX
from markupsafe import escape
from sqlalchemy import inspect
from werkzeug.exceptions import NotFound

from app.extensions import db
from app.models import Channel, ProviderRoute, Workspace
from app.models.base import is_workspace_owned
from app.security import ROLE_MANAGER
from app.tenancy import ScopedInterface, TenancyError, workspace_scope
from tests.tenancy_helpers import (Screen, fill_every_owned_table, form_data_from_row,
                                   is_tenant_data, listed_pks, many_to_one_columns, model_views,
                                   owned_models, raw_row, role_permissions, select_options,
                                   snapshot, tenant_ids, tenant_screens, unique_string_columns,
                                   vary, vary_unique_fields)

A_TAG, B_TAG = "alpha", "bravo"


@dataclass
class World:
    app: object
    a_id: int
    b_id: int
    a_manager: str
    b_manager: str

    def ids(self, model, workspace_id: int) -> set[int] | None:
        return tenant_ids(self.app, model, workspace_id)

    def a_ids(self, model):
        return self.ids(model, self.a_id)

    def b_ids(self, model):
        return self.ids(model, self.b_id)

    def first(self, model, workspace_id: int):
        ids = self.ids(model, workspace_id)
        assert ids, f"{model.__name__} has no row in workspace {workspace_id}"
        return db.session.get(model, min(ids))


@pytest.fixture
def world(app, factory):
    a, a_manager = factory.populated_workspace(A_TAG)
    b, b_manager = factory.populated_workspace(B_TAG)
    fill_every_owned_table(a.id, A_TAG)
    fill_every_owned_table(b.id, B_TAG)
    return World(app, a.id, b.id, a_manager.username, b_manager.username)


@pytest.fixture
def screens(app, world, auth) -> list[Screen]:
    """Every screen and API over tenant data that the manager may open; signed in as A's."""
    auth.login(world.a_manager)
    found = tenant_screens(app, ROLE_MANAGER)
    assert sum(s.kind == "html" for s in found) >= 10, [s.name for s in found]
    assert sum(s.kind == "api" for s in found) >= 10, [s.name for s in found]
    return found


def _report(problems: list[str]) -> None:
    assert not problems, "tenancy leaks:\n  " + "\n  ".join(problems)


def _related_target_id(row, column) -> int | None:
    target = getattr(row, column)
    return None if target is None else inspect(target).identity[0]


# --- structure -------------------------------------------------------------------------------

def test_every_view_over_tenant_data_uses_the_scoped_interface(app):
    """Guard against a future view or API built on a plain SQLAInterface (unscoped)."""
    problems, checked = [], 0
    for view, kind in model_views(app):
        model = view.datamodel.obj
        if not (is_workspace_owned(model) or model is Workspace):
            continue
        checked += 1
        if not isinstance(view.datamodel, ScopedInterface):
            problems.append(f"{type(view).__name__} ({kind}) uses {type(view.datamodel)}")
        for column in view.datamodel.list_properties:
            if view.datamodel.is_relation(column):
                related = view.datamodel.get_related_interface(column)
                if not isinstance(related, ScopedInterface):
                    problems.append(f"{type(view).__name__}.{column}: related choices unscoped")
    assert checked >= 20
    _report(problems)


def test_both_workspaces_have_rows_behind_every_screen(world, screens):
    """The matrix proves nothing about a table that is empty in A or in B."""
    for screen in screens:
        assert world.a_ids(screen.model), f"{screen.name}: no row of A"
        assert world.b_ids(screen.model), f"{screen.name}: no row of B"
    covered = {s.model for s in screens}
    assert {m for m in owned_models() if m in covered}, "no workspace-owned table in the matrix"


def test_admin_only_views_refuse_the_manager(app, world, screens, client):
    granted = role_permissions(app, ROLE_MANAGER)
    problems, closed = [], set()
    for view, kind in model_views(app):
        entry = "can_list" if kind == "html" else "can_get"
        if (entry, view.class_permission_name) in granted:
            continue
        closed.add(type(view).__name__)
        base = view.route_base
        urls = [f"{base}/list/"] if kind == "html" else [f"{base}/"]
        b_ids = world.b_ids(view.datamodel.obj) if is_tenant_data(app, view.datamodel.obj) else None
        if b_ids and kind == "html":
            pk = min(b_ids)
            urls += [f"{base}/show/{pk}", f"{base}/edit/{pk}"]
        elif b_ids:
            urls.append(f"{base}/{min(b_ids)}")
        for url in urls:
            response = client.get(url)
            redirected_to_login = (response.status_code == 302
                                   and "/login" in response.headers.get("Location", ""))
            if response.status_code not in (401, 403) and not redirected_to_login:
                problems.append(f"GET {url} answered {response.status_code}")
        if b_ids and kind == "html":
            response = client.post(f"{base}/delete/{min(b_ids)}")
            if response.status_code not in (302, 403):
                problems.append(f"POST {base}/delete answered {response.status_code}")
    _report(problems)
    # admin_variant(view) subclasses a workspace screen as "Admin" + its name
    admin_variants = {type(v).__name__ for v, kind in model_views(app) if kind == "html"
                      and type(v).__name__ == f"Admin{type(v).__mro__[1].__name__}"}
    assert admin_variants, "no admin variant registered"
    must_be_closed = admin_variants | {"WorkspaceAdminView", "PlanView", "GlobalReplyTemplateView",
                                       "EmailTemplateView", "PaymentEventView",
                                       "UserDBModelView", "RoleModelView"}
    assert must_be_closed <= closed, sorted(must_be_closed - closed)


# --- reading ---------------------------------------------------------------------------------

def test_lists_and_searches_show_only_own_rows(world, screens, client):
    problems = []
    for screen in screens:
        a_ids, b_ids = world.a_ids(screen.model), world.b_ids(screen.model)
        a_row, b_row = world.first(screen.model, world.a_id), world.first(screen.model, world.b_id)
        filters = screen.view._filters.get_search_filters()

        if screen.kind == "html":
            def listed(query="", screen=screen):
                response = client.get(f"{screen.base}/list/{query}")
                assert response.status_code == 200, f"{screen.name} list{query}: {response.status}"
                return listed_pks(response.get_data(as_text=True), screen.base)
        else:
            def listed(query="", screen=screen):
                q = f"?q={quote(query)}" if query else ""
                response = client.get(f"{screen.base}/{q}")
                assert response.status_code == 200, f"{screen.name} {q}: {response.status}"
                return set(response.json["ids"])

        shown = listed()
        if shown & b_ids:
            problems.append(f"{screen.name} lists B's rows {sorted(shown & b_ids)}")
        if not a_ids <= shown:
            problems.append(f"{screen.name} list misses A's own rows (control)")

        # Search with B's row's own values in every searchable column at once (FAB joins them
        # with AND): the query B's row matches best. The mirror query with A's values must find
        # A's row (control).
        terms = {"B": [], "A": []}
        dm = screen.view.datamodel
        for column in screen.view.search_columns:
            ops = [f.arg_name for f in filters.get(column, [])]
            if dm.is_relation_many_to_one(column) and "rel_o_m" in ops:
                op, b_value, a_value = ("rel_o_m", _related_target_id(b_row, column),
                                        _related_target_id(a_row, column))
            elif (dm.is_string(column) and not dm.is_enum(column) and "eq" in ops
                  and column not in getattr(screen.view, "secret_columns", ())):
                op, b_value, a_value = "eq", getattr(b_row, column), getattr(a_row, column)
            else:
                continue
            if isinstance(b_value, (str, int)) and isinstance(a_value, (str, int)):
                terms["B"].append((column, ops.index(op), op, b_value))
                terms["A"].append((column, ops.index(op), op, a_value))
        if not terms["B"]:
            continue
        for who, row_terms in terms.items():
            if screen.kind == "html":
                query = "?" + "&".join(f"_flt_{index}_{column}={quote(str(value))}"
                                       for column, index, _op, value in row_terms)
            else:
                query = prison.dumps({"filters": [{"col": column, "opr": op, "value": value}
                                                  for column, _index, op, value in row_terms]})
            found = listed(query)
            columns = [t[0] for t in row_terms]
            if found & b_ids:
                problems.append(f"{screen.name} search on {columns} with {who}'s values "
                                f"shows B's rows")
            if who == "A" and inspect(a_row).identity[0] not in found:
                problems.append(f"{screen.name} search on {columns} misses A's row (control)")
    _report(problems)


def test_rows_of_another_workspace_answer_404(world, screens, client):
    before = snapshot(world.b_id)
    problems = []

    def expect(response, allowed: bool, what: str):
        wanted = (404,) if allowed else (403, 404, 405)
        if response.status_code not in wanted:
            problems.append(f"{what} answered {response.status_code}, expected {wanted}")

    for screen in screens:
        b_pk = min(world.b_ids(screen.model))
        a_pk = min(world.a_ids(screen.model))
        base = screen.base
        if screen.kind == "html":
            expect(client.get(f"{base}/show/{b_pk}"), screen.can("can_show"), f"{base}/show")
            expect(client.get(f"{base}/edit/{b_pk}"), screen.can("can_edit"), f"GET {base}/edit")
            expect(client.post(f"{base}/edit/{b_pk}", data={}), screen.can("can_edit"),
                   f"POST {base}/edit")
            expect(client.post(f"{base}/delete/{b_pk}"), screen.can("can_delete"),
                   f"POST {base}/delete")
            if screen.can("can_show") and client.get(f"{base}/show/{a_pk}").status_code != 200:
                problems.append(f"{base}/show/{a_pk} (A's own row) is not 200 (control)")
        else:
            expect(client.get(f"{base}/{b_pk}"), screen.can("can_get"), f"GET {base}/<pk>")
            expect(client.put(f"{base}/{b_pk}", json={}), screen.can("can_put"),
                   f"PUT {base}/<pk>")
            expect(client.delete(f"{base}/{b_pk}"), screen.can("can_delete"),
                   f"DELETE {base}/<pk>")
            if client.get(f"{base}/{a_pk}").status_code != 200:
                problems.append(f"GET {base}/{a_pk} (A's own row) is not 200 (control)")
    _report(problems)
    assert snapshot(world.b_id) == before, "a row of B changed"


# The CRUD routes FAB gives every view and API; checked above, by name.
STANDARD_ROUTES = {"show", "edit", "delete", "action", "get", "put"}
PK_ONLY = re.compile(r"<(?:[^:<>]+:)?pk>")


def test_custom_routes_taking_an_id_answer_404(world, screens, client):
    """FAB pitfall 13: `has_access` checks permissions, never tenancy. Every other exposed route
    of a screen or API whose only URL parameter is a pk (found at run time) must load it through
    the scope: B's id answers 404 to a manager allowed to call it, and nothing changes."""
    before = snapshot(world.b_id)
    problems, standard_seen = [], 0
    for screen in screens:
        view = screen.view
        b_pk = min(world.b_ids(screen.model))
        for attr in dir(type(view)):
            func = getattr(type(view), attr, None)
            for url, methods in getattr(func, "_urls", None) or []:
                params = re.findall(r"<([^<>]+)>", url)
                if not params or not all(PK_ONLY.fullmatch(f"<{p}>") for p in params):
                    continue
                if attr in STANDARD_ROUTES:
                    standard_seen += 1
                    continue
                path = screen.base + PK_ONLY.sub(str(b_pk), url)
                permission = PERMISSION_PREFIX + view.method_permission_name.get(attr, attr)
                allowed = permission in screen.perms
                for method in methods:
                    response = client.open(path, method=method)
                    wanted = (404,) if allowed else (403, 404, 405)
                    if response.status_code not in wanted:
                        problems.append(f"{method} {path} answered {response.status_code}")
    assert standard_seen, "route discovery found not even the standard show/edit routes"
    _report(problems)
    assert snapshot(world.b_id) == before, "a custom route changed a row of B"


# --- actions (FAB pitfall 1) -----------------------------------------------------------------

def test_actions_cannot_reach_rows_of_another_workspace(app, world, screens, client):
    before_a, before_b = snapshot(world.a_id), snapshot(world.b_id)
    problems, ran, expected = [], 0, 0
    for screen in screens:
        if screen.kind != "html":
            continue
        view = screen.view
        expected += len(view.actions)
        b_pk, a_pk = min(world.b_ids(screen.model)), min(world.a_ids(screen.model))
        for name, item in view.actions.items():
            ran += 1
            allowed = view.get_action_permission_name(name) in screen.perms
            for rowids in ([b_pk], [a_pk, b_pk]):
                response = client.post(f"{screen.base}/action_post",
                                       data={"action": name, "rowid": [str(i) for i in rowids]})
                ok = response.status_code == 404 if allowed else response.status_code in (302, 403)
                if not ok:
                    problems.append(f"{screen.name} action {name} on {rowids}: "
                                    f"{response.status_code}")
            if item.single:
                response = client.post(f"{screen.base}/action/{name}/{b_pk}")
                ok = response.status_code == 404 if allowed else response.status_code in (302, 403)
                if not ok:
                    problems.append(f"{screen.name} single action {name}: {response.status_code}")
    assert ran == expected  # the loop ran once for every action present
    _report(problems)
    assert snapshot(world.b_id) == before_b, "an action changed a row of B"
    assert snapshot(world.a_id) == before_a, "a refused (mixed) action still ran for A's rows"


def test_datamodel_get_used_by_actions_cannot_load_foreign_rows(app, world, screens):
    """What action_post does to load rows: `view.datamodel.get(pk)` inside the manager's request."""
    manager = app.appbuilder.sm.find_user(username=world.a_manager)
    previous = g.get("user")
    try:
        for screen in screens:
            with app.test_request_context(f"{screen.base}/action_post", method="POST"):
                g.user = manager
                b_pk, a_pk = min(world.b_ids(screen.model)), min(world.a_ids(screen.model))
                assert screen.view.datamodel.get(b_pk) is None, screen.name
                assert screen.view.datamodel.get(a_pk) is not None, screen.name
    finally:
        g.user = previous


def test_an_action_never_runs_on_foreign_rows(app, world, screens, monkeypatch):
    """The mechanism, independent of which views define actions today: a throwaway subclass of a
    real workspace screen gets an @action; FAB's own action_post/action routes are called."""
    screen = next(s for s in screens if s.kind == "html" and s.model is Channel)
    calls = []

    def touch(self, items):
        calls.append(items)
        return "ran"

    probe_cls = type("ProbeActionView", (type(screen.view),),
                     {"touch": action("touch", "Touch", None, "fa-hand-o-up")(touch),
                      "route_base": "/probe-action"})
    probe = probe_cls()
    probe.appbuilder = app.appbuilder
    monkeypatch.setattr(app.appbuilder.sm, "has_access", lambda *args, **kwargs: True)
    manager = app.appbuilder.sm.find_user(username=world.a_manager)
    a_pk, b_pk = min(world.a_ids(Channel)), min(world.b_ids(Channel))
    previous = g.get("user")
    try:
        for rowids in ([b_pk], [a_pk, b_pk]):
            with app.test_request_context("/probe-action/action_post", method="POST",
                                          data={"action": "touch", "rowid": rowids}):
                g.user = manager
                with pytest.raises(NotFound):
                    probe.action_post()
        with app.test_request_context(f"/probe-action/action/touch/{b_pk}", method="POST"):
            g.user = manager
            with pytest.raises(NotFound):
                probe.action("touch", b_pk)
        assert calls == []
        with app.test_request_context("/probe-action/action_post", method="POST",
                                      data={"action": "touch", "rowid": [a_pk]}):
            g.user = manager
            assert probe.action_post() == "ran"
        assert [[row.id for row in items] for items in calls] == [[a_pk]]
    finally:
        g.user = previous


# --- related-field choices (FAB pitfall 3) -----------------------------------------------------

def test_related_choices_offer_only_own_rows(app, world, screens, client):
    problems, checked = [], 0
    for screen in screens:
        dm = screen.view.datamodel
        if screen.kind == "api":
            if not screen.can("can_info"):
                continue
            response = client.get(f"{screen.base}/_info?q=(keys:!(add_columns,edit_columns))")
            assert response.status_code == 200, f"{screen.name} _info: {response.status}"
            for key in ("add_columns", "edit_columns"):
                for field in response.json.get(key, []):
                    if "values" not in field:
                        continue
                    related = dm.get_related_model(field["name"])
                    b_ids, a_ids = world.b_ids(related), world.a_ids(related)
                    if b_ids is None:
                        continue
                    checked += 1
                    offered = {v["id"] for v in field["values"]}
                    if offered & b_ids:
                        problems.append(f"{screen.name} _info {key}.{field['name']} offers B's "
                                        f"{sorted(offered & b_ids)}")
                    if not a_ids <= offered:
                        problems.append(f"{screen.name} _info {key}.{field['name']} misses A's "
                                        "own rows (control)")
            continue

        pages = {"list (search form)": f"{screen.base}/list/"}
        if screen.can("can_add"):
            pages["add form"] = f"{screen.base}/add"
        if screen.can("can_edit"):
            pages["edit form"] = f"{screen.base}/edit/{min(world.a_ids(screen.model))}"
        for label, url in pages.items():
            response = client.get(url)
            assert response.status_code == 200, f"{url}: {response.status}"
            html = response.get_data(as_text=True)
            options = select_options(html)
            for column, values in options.items():
                if not dm.is_relation_many_to_one(column):
                    continue
                related = dm.get_related_model(column)
                b_ids, a_ids = world.b_ids(related), world.a_ids(related)
                if b_ids is None:
                    continue
                checked += 1
                offered = {int(v) for v in values if v.isdigit()}
                if offered & b_ids:
                    problems.append(f"{screen.name} {label}: '{column}' offers B's "
                                    f"{sorted(offered & b_ids)}")
                if not a_ids <= offered:
                    problems.append(f"{screen.name} {label}: '{column}' misses A's rows (control)")
                for b_pk in b_ids:
                    text = str(db.session.get(related, b_pk))
                    if B_TAG in text and str(escape(text)) in html:
                        problems.append(f"{screen.name} {label} shows B's {text!r}")
    assert checked >= 5, "no related-field choices were checked"
    _report(problems)


# --- writes referencing B (FAB pitfalls 2 and 3) -----------------------------------------------

def _fk_targets(world, screen, columns):
    """(column, related model, A's target id, B's target id) for FKs to tenant data."""
    dm = screen.view.datamodel
    for column in many_to_one_columns(screen.view, columns):
        related = dm.get_related_model(column)
        if not is_tenant_data(world.app, related):
            continue
        a_ids, b_ids = world.a_ids(related), world.b_ids(related)
        if a_ids and b_ids:
            yield column, related, min(a_ids), min(b_ids)


def _count(model) -> int:
    return db.session.query(model).count()


def _make_room(world, model) -> None:
    """Models allowed once per workspace (UNIQUE workspace_id): free the slot in A and B, so a
    row the API puts in the wrong workspace would be stored (and seen), not refused by the DB."""
    for constraint in model.__table__.constraints:
        if (isinstance(constraint, sa.UniqueConstraint)
                and {c.name for c in constraint.columns} == {"workspace_id"}):
            db.session.query(model).filter(
                model.workspace_id.in_([world.a_id, world.b_id])).delete()
            db.session.commit()
            return


def _api_payload(screen, row_or_dump) -> dict:
    """A valid POST body copied from an existing row (unique values varied, secrets given)."""
    payload = (dict(row_or_dump) if isinstance(row_or_dump, dict)
               else screen.view.add_model_schema.dump(row_or_dump))
    rules = rules_for(screen.model)
    for column in screen.view.secret_columns:
        if column in screen.view.add_columns:
            example = next((r.valid_example for r in rules.get(column, ())), None)
            payload[column] = (vary(example, screen.model.__table__.c[column]) if example
                               else f"written-{column}-value")
    return vary_unique_fields(screen.model, payload)


def test_writes_cannot_reference_rows_of_another_workspace(world, screens, client):
    problems, checked = [], 0
    for screen in screens:
        model = screen.model
        a_row = world.first(model, world.a_id)
        a_pk = inspect(a_row).identity[0]
        if screen.kind == "api" and screen.can("can_post"):
            for column, _related, a_target, b_target in _fk_targets(world, screen,
                                                                  screen.view.add_columns):
                checked += 1
                count = _count(model)
                response = client.post(f"{screen.base}/",
                                       json={**_api_payload(screen, a_row), column: b_target})
                if response.status_code != 422 or _count(model) != count:
                    problems.append(f"POST {screen.base} {column}=B: {response.status_code}")
                response = client.post(f"{screen.base}/",
                                       json={**_api_payload(screen, a_row), column: a_target})
                if response.status_code != 201:
                    problems.append(f"POST {screen.base} {column}=A (control): "
                                    f"{response.status_code} {response.json}")
        if screen.kind == "api" and screen.can("can_put"):
            for column, _related, _a, b_target in _fk_targets(world, screen,
                                                            screen.view.edit_columns):
                checked += 1
                before = raw_row(model, a_pk)
                response = client.put(f"{screen.base}/{a_pk}", json={column: b_target})
                if response.status_code != 422 or raw_row(model, a_pk) != before:
                    problems.append(f"PUT {screen.base} {column}=B: {response.status_code}")
        if screen.kind == "html" and screen.can("can_add"):
            for column, _related, a_target, b_target in _fk_targets(world, screen,
                                                                  screen.view.add_columns):
                checked += 1
                form = vary_unique_fields(model, form_data_from_row(screen.view, a_row,
                                                                    screen.view.add_columns))
                count = _count(model)
                client.post(f"{screen.base}/add", data={**form, column: str(b_target)})
                if _count(model) != count:
                    problems.append(f"{screen.base}/add stored a row with {column}=B")
                form = vary_unique_fields(model, form)
                client.post(f"{screen.base}/add", data={**form, column: str(a_target)})
                if _count(model) != count + 1:
                    problems.append(f"{screen.base}/add {column}=A stored nothing (control)")
        if screen.kind == "html" and screen.can("can_edit"):
            for column, _related, _a, b_target in _fk_targets(world, screen,
                                                            screen.view.edit_columns):
                checked += 1
                form = form_data_from_row(screen.view, a_row, screen.view.edit_columns)
                before = raw_row(model, a_pk)
                client.post(f"{screen.base}/edit/{a_pk}", data={**form, column: str(b_target)})
                if raw_row(model, a_pk) != before:
                    problems.append(f"{screen.base}/edit stored {column}=B")
    assert checked >= 4, "no foreign-key write was checked"
    _report(problems)


def test_rest_post_cannot_place_a_row_in_another_workspace(world, screens, client):
    problems, checked = [], 0
    for screen in screens:
        if screen.kind != "api" or not screen.can("can_post"):
            continue
        model = screen.model
        template = screen.view.add_model_schema.dump(world.first(model, world.a_id))
        _make_room(world, model)
        for key in ("workspace", "workspace_id"):
            checked += 1
            b_count = len(world.b_ids(model))
            response = client.post(f"{screen.base}/",
                                   json={**_api_payload(screen, template), key: world.b_id})
            if len(world.b_ids(model)) != b_count:
                problems.append(f"POST {screen.base} with {key}=B stored a row in B")
            if response.status_code == 201:
                stored = db.session.get(model, response.json["id"])
                if stored.workspace_id != world.a_id:
                    problems.append(f"POST {screen.base} with {key}=B: row not in A")
            elif response.status_code != 422:
                problems.append(f"POST {screen.base} with {key}=B: {response.status_code}")
        a_count = len(world.a_ids(model))
        response = client.post(f"{screen.base}/", json=_api_payload(screen, template))
        if response.status_code != 201 or len(world.a_ids(model)) != a_count + 1:
            problems.append(f"POST {screen.base} (control) did not store a row in A: "
                            f"{response.status_code} {response.json}")
    assert checked >= 10
    _report(problems)


# --- the write guard (before_flush) ------------------------------------------------------------

def test_write_guard_checks_what_the_flush_will_write(app, world):
    """Even with every workspace in scope (master admin, jobs), a row never ends up in one
    workspace while pointing at another's rows, whichever attribute the change went through."""
    a_channel = world.first(Channel, world.a_id)
    b_channel = world.first(Channel, world.b_id)
    b_workspace = db.session.get(Workspace, world.b_id)
    route_id = min(world.a_ids(ProviderRoute))
    before = raw_row(ProviderRoute, route_id)

    def attempt(change):
        route = db.session.get(ProviderRoute, route_id)
        assert route.channel is a_channel  # relationship loaded: it must not be trusted blindly
        change(route)
        with workspace_scope(None), pytest.raises(TenancyError):
            db.session.commit()
        db.session.rollback()
        assert raw_row(ProviderRoute, route_id) == before

    attempt(lambda route: setattr(route, "workspace", b_workspace))  # moved, refs stay in A
    attempt(lambda route: setattr(route, "workspace_id", world.b_id))
    attempt(lambda route: setattr(route, "channel_id", b_channel.id))  # stale `channel` loaded
    attempt(lambda route: setattr(route, "channel", b_channel))


def test_master_admin_cannot_move_a_row_away_from_its_references(app, world, factory, auth,
                                                                 client):
    """The admin variants edit `workspace` too: moving a route to B while its provider and
    channel stay A's is refused (the guard used to compare against the old workspace)."""
    factory.admin("root")
    auth.login("root")
    route = world.first(ProviderRoute, world.a_id)
    view = next(v for v, kind in model_views(app)
                if kind == "html" and type(v).__name__ == "AdminProviderRouteView")
    form = form_data_from_row(view, route, view.edit_columns)
    before = raw_row(ProviderRoute, route.id)
    client.post(f"{view.route_base}/edit/{route.id}", data={**form, "workspace": str(world.b_id)})
    assert raw_row(ProviderRoute, route.id) == before
    moved = {**form, "chat_id": "120363000000000777@g.us"}
    client.post(f"{view.route_base}/edit/{route.id}", data=moved)
    assert raw_row(ProviderRoute, route.id) != before, "control: the admin may edit the row"


def test_unique_columns_helper_sees_constraints():
    """Sanity for the helper the write tests rely on to copy rows."""
    assert "chat_id" in unique_string_columns(ProviderRoute)


def test_the_master_admin_narrows_every_twin_with_workspace(app, world, screens, factory,
                                                           client, auth):
    """`?workspace=<slug>` on any REST twin: the master admin's answer holds that workspace's
    rows only; a member may name only their own workspace (another's is 404, as a made-up one);
    a malformed slug is 400. Lists, show pages and `_info` alike."""
    apis = [s for s in screens if s.kind == "api"]
    a_slug = db.session.get(Workspace, world.a_id).slug
    b_slug = db.session.get(Workspace, world.b_id).slug
    problems = []
    for screen in apis:  # the manager of A (signed in by `screens`)
        if client.get(f"{screen.base}/?workspace={b_slug}").status_code != 404:
            problems.append(f"{screen.name}: A's manager narrowed to B")
        own = client.get(f"{screen.base}/?workspace={a_slug}")
        if own.status_code != 200 or set(own.json["ids"]) != set(
                client.get(f"{screen.base}/").json["ids"]):
            problems.append(f"{screen.name}: A's manager naming A changed the answer")
    auth.logout()
    factory.admin("narrowing-root")
    auth.login("narrowing-root")
    for screen in apis:
        a_ids, b_ids = world.a_ids(screen.model), world.b_ids(screen.model)
        page = "q=(page_size:100)"
        everything = set(client.get(f"{screen.base}/?{page}").json["ids"])
        if not (a_ids & everything and b_ids & everything):
            problems.append(f"{screen.name}: the master admin's list lacks A or B (control)")
        narrowed = client.get(f"{screen.base}/?workspace={a_slug}&{page}")
        if narrowed.status_code != 200:
            problems.append(f"{screen.name}: narrowed list answered {narrowed.status_code}")
            continue
        if not set(narrowed.json["ids"]) or set(narrowed.json["ids"]) - a_ids:
            problems.append(f"{screen.name}: narrowed to A lists {narrowed.json['ids']}")
        b_row = min(b_ids)
        if client.get(f"{screen.base}/{b_row}?workspace={a_slug}").status_code != 404:
            problems.append(f"{screen.name}: B's row shown when narrowed to A")
        if client.get(f"{screen.base}/{b_row}?workspace={b_slug}").status_code != 200:
            problems.append(f"{screen.name}: B's row not shown when narrowed to B (control)")
        for slug, status in (("Not A Slug!", 400), ("no-such-workspace", 404)):
            answer = client.get(f"{screen.base}/?workspace={quote(slug)}")
            if answer.status_code != status or "message" not in answer.json:
                problems.append(f"{screen.name}: ?workspace={slug} answered "
                                f"{answer.status_code}")
        if client.get(f"{screen.base}/_info?workspace=nope!").status_code != 400:
            problems.append(f"{screen.name}: _info ignores a malformed ?workspace=")
    _report(problems)


# --- screens and APIs that are not over one model's interface (the inbox, the public API) ----

# The row a `<pk>` of such a view names; a new view of this kind with an id route must be added
# here (the test fails naming it), so it cannot escape the matrix.
PK_MODELS = {"InboxView": "Conversation", "MessagesApi": "Conversation",
             "ContactsApi": "LinkedUser", "BillingView": "Invoice"}
#: the master admin's own (a manager is refused whatever the id): view → the row its id names
MASTER_ONLY = {"SignInAsView": "Workspace"}
#: views that authenticate with an API key only (no browser session)
KEY_ONLY = {"MessagesApi", "ContactsApi"}


def test_the_inbox_and_the_public_api_never_reach_another_workspace(app, world, factory,
                                                                    client, auth):
    """Every id route of the inbox (its page and JSON) and of the public API, with B's row
    in the path, answers 404 to A's manager and changes nothing; ids of B inside A's requests
    (an assignee, a mention) are refused or ignored."""
    import app.models as models

    auth.login(world.a_manager)
    manager = app.appbuilder.sm.find_user(username=world.a_manager)
    key = {"X-API-Key": factory.api_key(manager)}
    before = snapshot(world.b_id)
    problems, checked = [], 0
    for view in app.appbuilder.baseviews:
        if getattr(view, "datamodel", None) is not None:
            continue  # over a model's scoped interface: the tests above
        name = type(view).__name__
        for attr in dir(type(view)):
            for url, methods in getattr(getattr(type(view), attr, None), "_urls", None) or []:
                if not PK_ONLY.search(url):
                    continue
                if name not in PK_MODELS and name not in MASTER_ONLY:
                    problems.append(f"{name}.{attr} takes an id: add it to PK_MODELS")
                    continue
                model = getattr(models, PK_MODELS.get(name) or MASTER_ONLY[name])
                b_pk = world.b_id if model is models.Workspace else min(world.b_ids(model))
                wanted = (302, 403, 404) if name in MASTER_ONLY else (404,)
                path = (view.route_base or "") + PK_ONLY.sub(str(b_pk), url)
                for method in methods:
                    checked += 1
                    response = client.open(path, method=method, json={
                        "text": "hello", "status": "resolved", "assignee_id": None,
                        "name": "taken"}, headers=key if name in KEY_ONLY else {})
                    if response.status_code not in wanted:
                        problems.append(f"{method} {path} answered {response.status_code}")
    assert checked >= 14, checked  # route discovery found them (14 when written)
    _report(problems)
    assert snapshot(world.b_id) == before, "an inbox or public API route changed a row of B"

    # B's people named inside A's own conversation
    a_conversation = min(world.a_ids(models.Conversation))
    b_manager = app.appbuilder.sm.find_user(username=world.b_manager)
    refused = client.post(f"/inbox/api/conversations/{a_conversation}/assign",
                          json={"assignee_id": b_manager.id})
    assert refused.status_code in (400, 404), refused.status_code
    noted = client.post(f"/inbox/api/conversations/{a_conversation}/note",
                        json={"text": f"ask @{world.b_manager} about it"})
    assert noted.status_code == 200, noted.data
    db.session.expire_all()
    assert db.session.get(models.Conversation, a_conversation).assignee_id != b_manager.id
    assert not db.session.query(models.ConversationMention).filter_by(
        user_id=b_manager.id).count()
