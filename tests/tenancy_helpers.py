"""Helpers for the tenancy matrix (tests/integration/test_tenancy_matrix.py) and its neighbours.

Everything here discovers its subject at run time: the workspace-owned models from the mapper
registry, the views and APIs from `app.appbuilder.baseviews`, the permissions of a role from the
security manager. A model, view or API added later is therefore covered without editing a test.
"""
from __future__ import annotations

import itertools
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_appbuilder import Model, ModelRestApi
from flask_appbuilder.baseviews import BaseCRUDView
from sqlalchemy import inspect

from app.extensions import db
from app.models import Workspace, WorkspaceMember
from app.models.base import is_workspace_owned

_counter = itertools.count(1000)


# --- models ----------------------------------------------------------------------------------

def mapped_models() -> list[type]:
    return sorted((m.class_ for m in Model.registry.mappers), key=lambda c: c.__name__)


def owned_models() -> list[type]:
    """Every workspace-owned model (app.models.base.is_workspace_owned)."""
    return [m for m in mapped_models() if is_workspace_owned(m)]


def model_for_table(table) -> type | None:
    for model in mapped_models():
        if getattr(model, "__table__", None) is table:
            return model
    return None


def is_user_model(app, model) -> bool:
    return model is app.appbuilder.sm.user_model


def is_tenant_data(app, model) -> bool:
    """Rows of this model belong to one workspace (or are a workspace, or a member's login)."""
    return is_workspace_owned(model) or model is Workspace or is_user_model(app, model)


def tenant_ids(app, model, workspace_id: int) -> set[int] | None:
    """Primary keys of `model` rows that belong to the workspace (unscoped query), or None when
    the model is platform data that belongs to no workspace (plans, global templates)."""
    if is_workspace_owned(model):
        pk = inspect(model).primary_key[0]
        rows = db.session.query(pk).filter(model.workspace_id == workspace_id)
        return {row[0] for row in rows}
    if model is Workspace:
        return {workspace_id}
    if is_user_model(app, model):
        rows = db.session.query(WorkspaceMember.user_id).filter_by(workspace_id=workspace_id)
        return {row[0] for row in rows}
    return None


# --- a row in every workspace-owned table ------------------------------------------------------

def fill_every_owned_table(workspace_id: int, tag: str) -> None:
    """Make sure the workspace has at least one row in every workspace-owned table.

    Factory.populated_workspace covers the configuration tables; whatever it does not cover
    (billing, logs, tables added later) gets a generic row here: required columns get dummy
    values of their type, and every foreign key to a workspace-owned table (nullable ones too)
    points at a row of the same workspace, so related-field choices have something to leak.
    """
    for model in owned_models():
        if not tenant_ids_raw(model, workspace_id):
            make_row(model, workspace_id, tag)


def tenant_ids_raw(model, workspace_id: int) -> list[int]:
    pk = inspect(model).primary_key[0]
    return [r[0] for r in db.session.query(pk).filter(model.workspace_id == workspace_id)]


#: values a row needs beyond its required columns, by table: what a screen's item validator
#: asks of two optional columns together (a ticket rule needs subject or message words)
#: (a contact: a username, so that it is also on Linked users, the contacts with one)
EXTRA_VALUES = {"ticket_rule": {"subject_words": "refill, recarga"},
                "linked_user": {"username": "matrix-user-1000"}}


def make_row(model, workspace_id: int | None, tag: str, depth: int = 0):
    assert depth < 6, f"foreign keys of {model.__name__} nest too deep for the generic filler"
    mapper = inspect(model)
    values = dict(EXTRA_VALUES.get(model.__tablename__, {}))
    for column in model.__table__.columns:
        if column.primary_key:
            continue
        key = mapper.get_property_by_column(column).key
        if column.name == "workspace_id":
            values[key] = workspace_id
            continue
        if column.foreign_keys:
            target = model_for_table(next(iter(column.foreign_keys)).column.table)
            if target is not None and is_workspace_owned(target):
                ids = tenant_ids_raw(target, workspace_id)
                values[key] = ids[0] if ids else make_row(target, workspace_id, tag, depth + 1)
            elif not column.nullable:
                assert target is not None, f"{model.__name__}.{key}: unknown target table"
                existing = db.session.query(inspect(target).primary_key[0]).first()
                # a reference in a unique set (a plan price's plan) gets a row of its own, so
                # that a second row does not repeat the set
                values[key] = existing[0] if existing and not _in_unique_set(column) \
                    else make_row(target, None, tag, depth + 1)
            continue
        if column.nullable or column.default is not None or column.server_default is not None:
            continue
        values[key] = dummy_value(column, tag)
    row = model(**values)
    db.session.add(row)
    db.session.commit()
    return inspect(row).identity[0]


def _in_unique_set(column) -> bool:
    return any(isinstance(c, sa.UniqueConstraint) and column.name in c.columns.keys()
               for c in column.table.constraints)


def dummy_value(column, tag: str):
    kind = column.type
    n = next(_counter)
    if isinstance(kind, sa.Enum):
        return kind.enums[0]
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer) or isinstance(getattr(kind, "impl", None), sa.Integer):
        return n
    if isinstance(kind, (sa.Float, sa.Numeric)):
        return 1.0
    if isinstance(kind, sa.DateTime):
        return datetime.now(UTC).replace(tzinfo=None)
    if isinstance(kind, sa.Date):
        return date.today()
    if isinstance(kind, sa.JSON):
        return {}
    if isinstance(kind, (sa.String, sa.Text)) or isinstance(getattr(kind, "impl", None), sa.Text):
        example = _rule_example(column)
        if example is not None:  # a column with declared rules (app/validation.py): a valid value
            return vary(example, column) if re.search(r"\d{4,}", example) else example
        length = getattr(kind, "length", None) or 200
        return f"{tag}-{column.name}-{n}"[:length]
    raise AssertionError(f"the generic filler does not know column type {kind!r} "
                         f"({column.table.name}.{column.name}); teach tests/tenancy_helpers.py")


# --- raw snapshots (no decryption, no scope) ---------------------------------------------------

def snapshot(workspace_id: int) -> dict[str, list[tuple]]:
    """Every stored row of the workspace, as the database holds it."""
    result = {}
    with db.engine.connect() as conn:
        for model in owned_models():
            table = model.__table__
            rows = conn.execute(sa.text(
                f'SELECT * FROM "{table.name}" WHERE workspace_id = :w ORDER BY 1'),  # noqa: S608
                {"w": workspace_id}).all()
            result[table.name] = [tuple(r) for r in rows]
        result["workspace"] = [tuple(r) for r in conn.execute(
            sa.text('SELECT * FROM "workspace" WHERE id = :w'), {"w": workspace_id}).all()]
    return result


def raw_row(model, pk) -> tuple | None:
    with db.engine.connect() as conn:
        sql = f'SELECT * FROM "{model.__table__.name}" WHERE id = :id'  # noqa: S608 - metadata
        row = conn.execute(sa.text(sql), {"id": pk}).first()
    return tuple(row) if row is not None else None


# --- views, APIs and permissions ---------------------------------------------------------------

def role_permissions(app, role_name: str) -> set[tuple[str, str]]:
    role = app.appbuilder.sm.find_role(role_name)
    return {(pvm.permission.name, pvm.view_menu.name) for pvm in role.permissions}


@dataclass
class Screen:
    """A registered ModelView (html) or ModelRestApi (api) over tenant data."""

    view: object
    kind: str  # "html" | "api"
    model: type
    perms: set[str] = field(default_factory=set)  # what the tested role may do on it

    @property
    def name(self) -> str:
        return type(self.view).__name__

    @property
    def base(self) -> str:
        return self.view.route_base

    def can(self, permission: str) -> bool:
        return permission in self.perms


def model_views(app):
    """(view, kind) for every registered ModelView and ModelRestApi with a datamodel."""
    for view in app.appbuilder.baseviews:
        datamodel = getattr(view, "datamodel", None)
        if datamodel is None:
            continue
        if isinstance(view, BaseCRUDView):
            yield view, "html"
        elif isinstance(view, ModelRestApi):
            yield view, "api"


def tenant_screens(app, role_name: str) -> list[Screen]:
    """Every view/API over tenant data (workspace-owned or Workspace) the role may open."""
    granted = role_permissions(app, role_name)
    screens = []
    for view, kind in model_views(app):
        model = view.datamodel.obj
        if not (is_workspace_owned(model) or model is Workspace):
            continue
        perms = {p for p, v in granted if v == view.class_permission_name}
        perms &= set(view.base_permissions or [])
        entry_perm = "can_list" if kind == "html" else "can_get"
        if entry_perm in perms:
            screens.append(Screen(view, kind, model, perms))
    return screens


def many_to_one_columns(view, columns) -> list[str]:
    dm = view.datamodel
    return [c for c in columns or [] if dm.is_relation_many_to_one(c)]


def unique_string_columns(model) -> set[str]:
    """String columns that take part in a UNIQUE constraint (values must be varied to copy)."""
    table = model.__table__
    names = set()
    for constraint in table.constraints:
        if isinstance(constraint, sa.UniqueConstraint):
            names |= {c.name for c in constraint.columns}
    names |= {c.name for c in table.columns if c.unique}
    return {n for n in names if isinstance(table.c[n].type, sa.String)
            and not isinstance(table.c[n].type, sa.Enum)}


_languages = itertools.cycle(["de", "fr", "it", "nl", "pl", "sv", "fi", "da", "cs", "el", "hu",
                              "ro", "uk", "ja", "ko", "zh", "hi", "fa", "he", "vi", "th", "ms"])


def _rule_example(column) -> str | None:
    """The valid example of the first rule app/validation.py declares for the column, if any."""
    from app.validation import rules_for

    model = model_for_table(column.table)
    rules = rules_for(model).get(column.name, ()) if model is not None else ()
    return next((r.valid_example for r in rules if isinstance(r.valid_example, str)), None)


def vary(value: str, column) -> str:
    """Another value of the same shape: the tail of the first run of 4 or more digits replaced
    by a counter that never repeats within a process (a chat id or a platform id stays valid;
    its first digit is kept), else a suffix."""
    if column.name == "language":  # another real language code (app/validation.py checks it)
        return next(_languages)
    run = re.search(r"\d{4,}", value or "")
    if run is not None:
        width = min(len(run.group()) - 1, 9)
        while True:
            varied = (value[:run.end() - width] + f"{next(_counter) % 10 ** width:0{width}d}"
                      + value[run.end():])
            if varied != value:
                return varied
    length = getattr(column.type, "length", None) or 200
    suffix = f"v{next(_counter)}"
    return (value[: max(0, length - len(suffix))] + suffix) if value else suffix


# --- HTML ------------------------------------------------------------------------------------

def _unembed(html: str) -> str:
    """FAB's list page embeds the search form's fields as JSON strings: undo the escaping."""
    return (html.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&")
            .replace("\\u0027", "'").replace('\\"', '"'))


def select_options(html: str) -> dict[str, set[str]]:
    """{select name: option values} for every <select> on the page, embedded ones included."""
    result: dict[str, set[str]] = defaultdict(set)
    for match in re.finditer(r"<select([^>]*)>(.*?)</select>", _unembed(html), re.S):
        name = re.search(r'name="([^"]+)"', match.group(1))
        if name:
            result[name.group(1)].update(
                re.findall(r'<option[^>]*value="([^"]*)"', match.group(2)))
    return result


def listed_pks(html: str, route_base: str) -> set[int]:
    """Row ids a list page links to (show/edit/delete links, action check boxes)."""
    ids = set(re.findall(re.escape(route_base) + r"/(?:show|edit|delete)/(\d+)\b", html))
    ids |= set(re.findall(r'name="rowid" value="(\d+)"', html))
    return {int(i) for i in ids}


def form_data_from_row(view, row, columns) -> dict[str, str]:
    """What a browser would post to re-submit `row` through the view's add/edit form."""
    dm = view.datamodel
    data = {}
    for column in columns:
        if column in getattr(view, "secret_columns", ()):
            data[column] = ""
            continue
        value = getattr(row, column)
        if dm.is_relation_many_to_one(column):
            data[column] = "" if value is None else str(inspect(value).identity[0])
        elif dm.is_relation(column):
            continue
        elif dm.is_boolean(column):
            if value:
                data[column] = "y"
        elif isinstance(value, datetime):
            data[column] = value.strftime("%Y-%m-%d %H:%M:%S")
        elif isinstance(value, date):
            data[column] = value.strftime("%Y-%m-%d")
        else:
            data[column] = "" if value is None else str(value)
    return data


#: String columns whose values come from a fixed list checked on save (a reply text's key is one
#: of the replies that exist): a copy varies the other columns of their unique constraint.
CLOSED_VOCABULARY = {("reply_template", "key"), ("global_reply_template", "key"),
                     ("email_template", "key")}


def vary_unique_fields(model, data: dict) -> dict:
    data = dict(data)
    for name in unique_string_columns(model):
        if (model.__tablename__, name) in CLOSED_VOCABULARY:
            continue
        if name in data and isinstance(data[name], str):
            data[name] = vary(data[name], model.__table__.c[name])
    return data
