"""Issue 11: every add and edit form registered in the app, in a real browser (one test per view).

For each ModelView of Relaydesk's with an add or edit form (found at run time, see matrix.py), as
the role that uses it (workspace manager for workspace screens, master admin for the rest):

1. add: valid values derived from the form's fields (unique strings, numbers in range, the first
   option of each select, optional fields empty), saved with every checkbox off and again with
   every checkbox on; each save lands in the database with exactly those values, no error shown.
   A view with `add_variants` (query-string dicts) has each variant's add form tested. A view
   without an add form has its existing row edited twice instead (boxes off, then on);
2. edit: the edit form reopened, one value changed, saved, stored;
3. for every field whose validators carry `invalid_example`: that value with everything else
   valid is refused: nothing stored, every typed value still in its field, the error in a
   `.help-block` inside the field's `.form-group.has-error`;

and no page logs a JavaScript error, a failed request or an error answer.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

import pytest
from sqlalchemy import UniqueConstraint, inspect

from app.extensions import db
from app.models import Workspace
from app.models.base import split_list
from app.security import ROLE_AGENT, ROLE_MANAGER
from tests.browser.support import sign_in
from tests.browser.matrix import (ADD, EDIT, FORM, FormSpec, PageWatch, alerts, allows, fill,
                                  options, registered_views, role_for, snapshot,
                                  still_on_form, submit, view_named)

pytestmark = pytest.mark.browser

def pytest_generate_tests(metafunc):
    if "form_view" in metafunc.fixturenames:
        metafunc.parametrize("form_view", registered_views("forms"))


@pytest.fixture
def world(factory):
    """A workspace with a row in every table its forms refer to, its manager, the master admin,
    a plan (subscriptions) and a login that belongs to no workspace yet (members)."""
    factory.user("fm-spare", ROLE_AGENT)  # first in the list of logins: free to become a member
    workspace, manager = factory.populated_workspace("fm")
    admin = factory.admin("fm-root")
    factory.plan()
    return {"workspace": workspace.id, ROLE_MANAGER: manager.username, "admin": admin.username}


def _pks(model) -> set:
    db.session.remove()
    key = inspect(model).primary_key[0]
    return {row[0] for row in db.session.query(key)}


def _row(model, pk):
    db.session.remove()
    return db.session.get(model, pk)


def _existing(model, workspace_id: int):
    """The row an edit-only form edits: the workspace's own (or the workspace itself)."""
    db.session.remove()
    if model is Workspace:
        return workspace_id
    query = db.session.query(model)
    if hasattr(model, "workspace_id"):
        query = query.filter(model.workspace_id == workspace_id)
    row = query.first()
    assert row is not None, f"no {model.__name__} row to edit"
    return inspect(row).identity[0]


def _stored(value):
    """A stored value as the form shows it."""
    if value is None:
        return None
    if hasattr(value, "_sa_instance_state"):
        return str(inspect(value).identity[0])
    if isinstance(value, (list, tuple, set)) or hasattr(value, "__iter__") and not isinstance(
            value, str):
        return sorted(_stored(v) for v in value)
    if hasattr(value, "value") and not isinstance(value, (Decimal, datetime)):
        return str(value.value)
    return value


def check_stored(model, pk, spec: FormSpec, typed: dict, left_empty: list[str]) -> None:
    row = _row(model, pk)
    assert row is not None, f"{spec.view_name}: row {pk} not stored"
    for name, value in typed.items():
        field = spec.get(name)
        if field.kind == "password" or not hasattr(row, name):
            continue  # hashed, or a form-only field (a confirmation)
        actual = _stored(getattr(row, name))
        if field.kind == "bool":
            assert actual is value, (spec.view_name, name, actual, value)
        elif field.kind == "int":
            assert actual == int(value), (spec.view_name, name, actual, value)
        elif field.kind == "decimal":
            assert float(actual) == float(value), (spec.view_name, name, actual, value)
        elif field.kind == "datetime":
            assert actual.strftime("%Y-%m-%d %H:%M:%S") == value, (spec.view_name, name, actual)
        elif field.kind == "multiselect":
            if isinstance(actual, str):  # a comma list of codes (a plan's mediums, modules)
                actual = sorted(split_list(actual))
            assert actual == sorted(value), (spec.view_name, name, actual, value)
        else:
            assert str(actual) == value, (spec.view_name, name, actual, value)
    for name in left_empty:
        if hasattr(row, name):
            column = model.__table__.columns.get(name)
            if column is not None and column.nullable:
                # NULL, or a value the model derives on save (a Telegram channel's API base):
                # never '' (which collided in unique columns)
                assert getattr(row, name) != "", (spec.view_name, name, "empty stored as ''")


def fill_valid(page, spec: FormSpec, save: int, boxes: bool | None) -> dict:
    """Type a valid value in every field that needs one; returns {field: value typed}. An edit
    form keeps the choices it shows (a channel stays the platform it is)."""
    typed: dict = {}
    shown = snapshot(page) if spec.mode == EDIT else {}
    for field in spec.to_fill():
        if field.kind == "bool":
            if boxes is None:
                continue
            value = boxes
        elif field.kind in ("select", "multiselect") and shown.get(field.name) not in (
                None, "", "__None", []):
            continue
        elif field.kind in ("select", "multiselect"):
            choices = options(page, field.name)
            assert choices or not field.required, \
                f"{spec.view_name}: no option to choose in {field.name}"
            if not choices:
                continue
            value = choices[min(save, len(choices) - 1)]
            value = [value] if field.kind == "multiselect" else value
        elif field.equal_to:
            continue
        else:
            value = field.value(save)
        fill(page, field, value)
        typed[field.name] = value
    for field in spec.fields:
        if field.equal_to and field.equal_to in typed:
            fill(page, field, typed[field.equal_to])
            typed[field.name] = typed[field.equal_to]
    return typed


def saved(page, what: str) -> bool:
    """The save went through: off the form, a success message and no error or warning (a
    note may follow, e.g. a Meta channel awaiting verification)."""
    return (not still_on_form(page) and bool(alerts(page, "success"))
            and not alerts(page, "danger") and not alerts(page, "warning"))


def assert_saved(page, what: str) -> None:
    form_text = page.locator(FORM).inner_text()[:1500] if still_on_form(page) else ""
    assert saved(page, what), f"{what}: not saved ({page.url}): {alerts(page, '')} {form_text}"


def clear_singleton(model, workspace_id: int) -> None:
    """A model with one row per workspace (a unique constraint on workspace_id alone): the
    world's row goes, so that the add form can make one."""
    for constraint in model.__table__.constraints:
        columns = [c.name for c in getattr(constraint, "columns", ())]
        if isinstance(constraint, UniqueConstraint) and columns == ["workspace_id"]:
            db.session.remove()
            db.session.query(model).filter(model.workspace_id == workspace_id).delete()
            db.session.commit()


def _changeable(spec: FormSpec):
    for kinds in (("text", "textarea"), ("int", "decimal")):
        for field in spec.fields:
            if field.kind in kinds and field.valid_example is None and not field.equal_to:
                return field
    return None


def error_beside(page, name: str) -> str | None:
    """The error text shown beside the field in FAB's bootstrap-3 markup, else None."""
    groups = page.locator(f"{FORM} .form-group.has-error").filter(
        has=page.locator(f"[name='{name}']"))
    if not groups.count():
        return None
    return " ".join(" ".join(groups.first.locator(".help-block").all_inner_texts()).split())


def test_form(form_view, app, world, browser, live_server, artifacts_dir):
    view = view_named(app, form_view)
    model = view.datamodel.obj
    role = role_for(view)
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    watch = PageWatch(context)
    try:
        page = context.new_page()
        sign_in(page, world[ROLE_MANAGER] if role == ROLE_MANAGER else world["admin"])
        route = view.route_base
        pk = None

        # 1. add (each variant), boxes off then on; or edit the existing row twice
        forms = []
        if allows(view, "can_add"):
            clear_singleton(model, world["workspace"])
            for variant in getattr(view, "add_variants", None) or [{}]:
                spec = FormSpec.of(app, view, ADD, variant)
                query = f"?{urlencode(variant)}" if variant else ""
                forms.append((f"{route}/add{query}", spec, variant))
                for save, boxes in enumerate([False, True] if spec.has_booleans else [None]):
                    before = _pks(model)
                    page.goto(f"{route}/add{query}")
                    typed = fill_valid(page, spec, save, boxes)
                    submit(page)
                    what = f"{form_view} add {variant or ''} boxes={boxes}"
                    assert_saved(page, what)
                    new = _pks(model) - before
                    assert len(new) == 1, (f"{what}: {len(new)} rows stored; typed {typed}, "
                                           f"now on {page.url}: {alerts(page, '')}")
                    pk = new.pop()
                    left_empty = [f.name for f in spec.fields if f.name not in typed
                                  and f.kind in ("text", "textarea", "secret")]
                    check_stored(model, pk, spec, typed, left_empty)
        if allows(view, "can_edit"):
            spec = FormSpec.of(app, view, EDIT)
            edit_twice = pk is None  # no add form
            if pk is None:
                pk = _existing(model, world["workspace"])
            if not forms:
                forms.append((f"{route}/edit/{pk}", spec, {}))
            if edit_twice:
                for save, boxes in enumerate([False, True] if spec.has_booleans else [None]):
                    page.goto(f"{route}/edit/{pk}")
                    typed = fill_valid(page, spec, save, boxes)
                    submit(page)
                    assert_saved(page, f"{form_view} edit boxes={boxes}")
                    check_stored(model, pk, spec, typed, [])

            # 2. reopen, change one value, save
            field = _changeable(spec)
            if field is not None:
                page.goto(f"{route}/edit/{pk}")
                old = snapshot(page).get(field.name)
                value = field.value(2)
                if value == old:
                    value = field.value(3)
                fill(page, field, value)
                submit(page)
                assert_saved(page, f"{form_view} edit {field.name}")
                check_stored(model, pk, spec, {field.name: value}, [])

        # 3. one invalid value at a time
        for url, spec, _variant in forms:
            for field in spec.fields:
                for bad in field.invalid_examples:
                    what = f"{form_view} {field.name}={bad!r}"
                    page.goto(url)
                    fill_valid(page, spec, 0, True)
                    # a value no option offers is crafted (an attacker's post): the page shown
                    # again cannot offer it either, so only the other values must be kept
                    crafted = field.kind in ("select", "multiselect") and \
                        bad not in options(page, field.name)
                    fill(page, field, bad)
                    for confirmation in spec.fields:
                        if confirmation.equal_to == field.name:
                            fill(page, confirmation, bad)
                    typed = snapshot(page)
                    before = _pks(model)
                    rows = {k: _stored(v) for k, v in vars(_row(model, pk)).items()
                            if not k.startswith("_")} if "/edit/" in url else None
                    submit(page)
                    assert still_on_form(page), f"{what}: accepted"
                    assert _pks(model) == before, f"{what}: a row was stored"
                    if rows is not None:
                        after = {k: _stored(v) for k, v in vars(_row(model, pk)).items()
                                 if not k.startswith("_")}
                        assert after == rows, f"{what}: the row changed"
                    kept = snapshot(page)
                    lost = {k: (v, kept.get(k)) for k, v in typed.items()
                            if kept.get(k) != v and not (crafted and k == field.name)}
                    assert not lost, f"{what}: typed values lost (typed, shown): {lost}"
                    error = error_beside(page, field.name)
                    assert error, (f"{what}: no error in a .help-block of the field's "
                                   f".form-group.has-error; shown: "
                                   f"{page.locator(f'{FORM} .alert-danger').all_inner_texts()}")

        problems = watch.take()
        assert not problems, f"{form_view}: " + "\n".join(problems)
    finally:
        context.close()
