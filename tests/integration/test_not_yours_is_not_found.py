"""A row of another workspace and a row that does not exist get the same answer.

A manager of workspace A names a row of workspace B, then an id no row has, everywhere an id can
be given: every relationship of every workspace screen and REST API (add and edit, found at run
time), every route that takes a row id (show, edit, delete, REST get/put/delete, actions, custom
routes), relation filters of lists, the Playground and the chat assignment form. Each pair of
answers must be the same status and the same bytes once the two ids (and the per-answer CSP
nonce and CSRF token) are blanked out, so nothing tells "not yours" from "not found". The
refusal is translated like every other message.
"""
from __future__ import annotations

import re
from urllib.parse import unquote
from dataclasses import dataclass

import prison
import pytest
from flask_appbuilder.const import PERMISSION_PREFIX
from sqlalchemy import inspect

from app.extensions import db
from app.models import Channel, DetectedChat, LinkedUser, Provider
from app.security import ROLE_MANAGER
from tests.tenancy_helpers import (fill_every_owned_table, form_data_from_row, is_tenant_data,
                                   many_to_one_columns, tenant_ids, tenant_screens,
                                   vary_unique_fields)

MISSING_ID = 987654321
PK_ONLY = re.compile(r"<(?:[^:<>]+:)?pk>")
STANDARD_ROUTES = {"show", "edit", "delete", "action", "get", "put"}


@dataclass
class World:
    app: object
    a_id: int
    b_id: int

    def first(self, model, workspace_id):
        return db.session.get(model, min(tenant_ids(self.app, model, workspace_id)))

    def b_pk(self, model) -> int:
        return min(tenant_ids(self.app, model, self.b_id))


@pytest.fixture
def world(app, factory, auth):
    a, a_manager = factory.populated_workspace("alpha")
    b, _ = factory.populated_workspace("bravo")
    fill_every_owned_table(a.id, "alpha")
    fill_every_owned_table(b.id, "bravo")
    auth.login(a_manager.username)
    return World(app, a.id, b.id)


@pytest.fixture
def screens(app, world):
    found = tenant_screens(app, ROLE_MANAGER)
    assert sum(s.kind == "html" for s in found) >= 10 and sum(s.kind == "api" for s in found) >= 10
    return found


def normalised(response, ids) -> tuple[int, str]:
    text = response.get_data(as_text=True)
    text = re.sub(r'nonce="[^"]*"', 'nonce=""', text)
    text = re.sub(r'(name="csrf_token"[^>]*value=")[^"]*"', r'\1"', text)
    # default values of date fields: the moment the answer was made
    text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "<now>", text)
    # links that carry the reader's own filter (the log lists' "Export CSV" rison `q`) hold
    # the id URL-encoded: compare them decoded
    text = unquote(text)
    for pk in ids:
        text = re.sub(rf"(?<![0-9]){pk}(?![0-9])", "<id>", text)
    return response.status_code, text


class _Id:
    """Where the id goes in a JSON body ("{pk}" marks it in URLs and form values)."""

    def __repr__(self) -> str:
        return "<id>"


PK = _Id()


def _with_id(value, pk: int):
    if value is PK:
        return pk
    if isinstance(value, str):
        return value.replace("{pk}", str(pk))
    if isinstance(value, dict):
        return {key: _with_id(item, pk) for key, item in value.items()}
    if isinstance(value, list):
        return [_with_id(item, pk) for item in value]
    return value


class Comparison:
    """Sends each request twice (another workspace's id, a missing id) and records mismatches.

    Each request runs in its own app context, as in production: the test's open app context
    would otherwise share `g` (and what a request caches there) between requests."""

    def __init__(self, app, client):
        self.app = app
        self.client = client
        self.problems: list[str] = []
        self.count = 0

    def send(self, method: str, url: str, pk: int, *, json=None, data=None):
        with self.app.app_context():
            return self.client.open(_with_id(url, pk), method=method, json=_with_id(json, pk),
                                    data=_with_id(data, pk))

    def same(self, method: str, url: str, foreign_id: int, *, json=None, data=None,
             missing_id=MISSING_ID):
        foreign = self.send(method, url, foreign_id, json=json, data=data)
        missing = self.send(method, url, missing_id, json=json, data=data)
        self.count += 1
        ids = (foreign_id, missing_id)
        if normalised(foreign, ids) != normalised(missing, ids):
            self.problems.append(
                f"{method} {url} {json or data or ''}: {foreign.status_code} "
                f"{foreign.get_data(as_text=True)[:160]!r} vs {missing.status_code} "
                f"{missing.get_data(as_text=True)[:160]!r}")

    def report(self, at_least: int) -> None:
        assert self.count >= at_least, self.count
        assert not self.problems, "not yours ≠ not found:\n  " + "\n  ".join(self.problems)


def _fk_columns(world, screen, columns):
    dm = screen.view.datamodel
    for column in many_to_one_columns(screen.view, columns):
        related = dm.get_related_model(column)
        if is_tenant_data(world.app, related) and tenant_ids(world.app, related, world.b_id):
            yield column, related


def _api_body(screen, row) -> dict:
    body = screen.view.add_model_schema.dump(row)
    for column in screen.view.secret_columns:
        if column in (screen.view.add_columns or []):
            body[column] = f"written-{column}"
    return vary_unique_fields(screen.model, body)


def test_references_to_another_workspace_are_refused_as_missing_ones(world, screens, client):
    """Every relationship of every add and edit, screen and API."""
    check = Comparison(world.app, client)
    for screen in screens:
        view, base = screen.view, screen.base
        a_row = world.first(screen.model, world.a_id)
        a_pk = inspect(a_row).identity[0]
        if screen.kind == "api" and screen.can("can_post"):
            for column, related in _fk_columns(world, screen, view.add_columns):
                check.same("POST", f"{base}/", world.b_pk(related),
                           json={**_api_body(screen, a_row), column: PK})
        if screen.kind == "api" and screen.can("can_put"):
            for column, related in _fk_columns(world, screen, view.edit_columns):
                check.same("PUT", f"{base}/{a_pk}", world.b_pk(related), json={column: PK})
        if screen.kind == "html" and screen.can("can_add"):
            for column, related in _fk_columns(world, screen, view.add_columns):
                form = vary_unique_fields(screen.model,
                                          form_data_from_row(view, a_row, view.add_columns))
                check.same("POST", f"{base}/add", world.b_pk(related),
                           data={**form, column: "{pk}"})
        if screen.kind == "html" and screen.can("can_edit"):
            for column, related in _fk_columns(world, screen, view.edit_columns):
                form = form_data_from_row(view, a_row, view.edit_columns)
                check.same("POST", f"{base}/edit/{a_pk}", world.b_pk(related),
                           data={**form, column: "{pk}"})
    check.report(at_least=10)


def test_routes_taking_a_row_id_answer_alike(world, screens, client):
    """Show, edit, delete, REST get/put/delete, every action and every custom route whose only
    parameter is a row id, found at run time."""
    check = Comparison(world.app, client)
    for screen in screens:
        view, base, b_pk = screen.view, screen.base, world.b_pk(screen.model)
        if screen.kind == "html":
            for path, method in (("show", "GET"), ("edit", "GET"), ("edit", "POST"),
                                 ("delete", "POST")):
                check.same(method, f"{base}/{path}/{{pk}}", b_pk)
            for name, item in view.actions.items():
                check.same("POST", f"{base}/action_post", b_pk,
                           data={"action": name, "rowid": ["{pk}"]})
                if item.single:
                    check.same("POST", f"{base}/action/{name}/{{pk}}", b_pk)
        else:
            check.same("GET", f"{base}/{{pk}}", b_pk)
            check.same("PUT", f"{base}/{{pk}}", b_pk, json={})
            check.same("DELETE", f"{base}/{{pk}}", b_pk)
        for attr in dir(type(view)):
            for url, methods in getattr(getattr(type(view), attr, None), "_urls", None) or []:
                params = re.findall(r"<([^<>]+)>", url)
                if not params or attr in STANDARD_ROUTES \
                        or not all(PK_ONLY.fullmatch(f"<{p}>") for p in params):
                    continue
                permission = PERMISSION_PREFIX + view.method_permission_name.get(attr, attr)
                if permission not in screen.perms:
                    continue
                for method in methods:
                    check.same(method, base + PK_ONLY.sub("{pk}", url), b_pk)
    check.report(at_least=100)


def _foreign_name(world, model, label: str) -> str:
    """A name (`label`) of B's rows that none of A's rows has (names are per workspace: A's
    own row of the same name is A's to find)."""
    names = {getattr(row, label) for row in db.session.query(model).filter(
        model.workspace_id == world.a_id)}
    rows = db.session.query(model).filter(model.workspace_id == world.b_id)
    return next(getattr(row, label) for row in rows if getattr(row, label) not in names)


def test_relation_filters_answer_alike(world, screens, client):
    """Filtering a list by another workspace's row shows what filtering by a missing one does."""
    check = Comparison(world.app, client)
    for screen in screens:
        filters = screen.view._filters.get_search_filters()
        for column, related in _fk_columns(world, screen, list(filters)):
            label = (getattr(screen.view, "search_by_label", None) or {}).get(column)
            if screen.kind == "html" and label:
                # searched by name (app/views/big_lists.py): B's row's name answers as a name
                # nobody has
                check.same("GET", f"{screen.base}/list/?_flt_0_{column}={{pk}}",
                           _foreign_name(world, related, label), missing_id="nobody-named-so")
            elif screen.kind == "html":
                index = [f.arg_name for f in filters[column]].index("rel_o_m")
                check.same("GET", f"{screen.base}/list/?_flt_{index}_{column}={{pk}}",
                           world.b_pk(related))
            else:
                q = f"(filters:!((col:{column},opr:rel_o_m,value:{{pk}})))"
                assert prison.loads(q.replace("{pk}", "1"))["filters"][0]["col"] == column
                check.same("GET", f"{screen.base}/?q={q}", world.b_pk(related))
    check.report(at_least=10)


def test_playground_and_chat_assignment_answer_alike(world, client):
    check = Comparison(world.app, client)
    check.same("POST", "/playground/", world.b_pk(Channel),
               data={"channel_id": "{pk}", "chat_id": "79001234567@c.us",
                     "text": "2274209 refill"})
    chat = world.first(DetectedChat, world.a_id).id
    check.same("POST", f"/detectedchatview/assign/{chat}", world.b_pk(Provider),
               data={"target": "provider", "provider_id": "{pk}", "actions": "refill"})
    check.same("POST", f"/detectedchatview/assign/{chat}", world.b_pk(LinkedUser),
               data={"target": "user", "linked_user_id": "{pk}"})
    check.report(at_least=3)


def test_the_refusal_is_the_same_translated_sentence(world, screens, client):
    """In Russian, a reference to another workspace's row and to a missing row are refused with
    one translated sentence (not the English text, and not two sentences)."""
    screen = next(s for s in screens if s.kind == "api" and s.can("can_post")
                  and any(True for _ in _fk_columns(world, s, s.view.add_columns)))
    column, related = next(_fk_columns(world, screen, screen.view.add_columns))
    body = _api_body(screen, world.first(screen.model, world.a_id))
    check = Comparison(world.app, client)
    answers = {}
    for lang in ("en", "ru"):
        assert client.get(f"/lang/{lang}").status_code == 302
        for who, pk in (("foreign", world.b_pk(related)), ("missing", MISSING_ID)):
            response = check.send("POST", f"{screen.base}/", pk, json={**body, column: PK})
            assert response.status_code == 422, response.json
            answers[lang, who] = response.json["message"]
    assert answers["en", "foreign"] == answers["en", "missing"]
    assert answers["ru", "foreign"] == answers["ru", "missing"]
    assert answers["ru", "missing"] != answers["en", "missing"]
    assert column in answers["ru", "missing"]
