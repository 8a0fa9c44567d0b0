"""Tenancy in one place (docs/contracts.md "Tenancy").

Who may see which workspace's rows is decided here and nowhere else:

* `current_scope()` says what the current actor may see: every workspace (the master admin, or a
  job that explicitly asked for it), exactly one workspace (a member, or a job/webhook working
  for a workspace via `workspace_scope(id)`), or nothing.
* `scope_query(query, model)` applies that to any SQLAlchemy query.
* `ScopedInterface` is the FAB data interface every view and REST API uses. It scopes list, count,
  get-by-id (so edit/delete/show/actions answer 404 for foreign rows) and, because FAB builds
  related-field choices and `_info` through `get_related_interface`, the dropdowns as well.
* `assert_same_workspace` (a `before_flush` guard) refuses any write where a workspace-owned row
  references a row of another workspace, whatever path the write came from (forms, REST
  relationship ids, imports, jobs). Views call `check_references` first for a friendly error.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from collections.abc import Iterator

from flask import current_app, g, has_app_context, has_request_context
from flask_babel import lazy_gettext as _l
from flask_appbuilder.models.sqla.interface import SQLAInterface
from sqlalchemy import event, false, inspect, select
from sqlalchemy.orm import Session

from app.models.base import is_workspace_owned

ADMIN_ROLE = "Admin"


class TenancyError(ValueError):
    """A write would cross workspaces, or an actor without a workspace tried to write."""


# A row of another workspace is, to a member, a row that does not exist: the refusal must not tell
# the two apart (a reference to a missing id is refused with the same words by the same check).
MISSING_REFERENCE = _l("“%(field)s” does not exist in this workspace.")
MISSING_ROW = _l("This row does not exist in this workspace.")


@dataclass(frozen=True)
class Scope:
    all_workspaces: bool = False
    workspace_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.all_workspaces and self.workspace_id is None


ALL = Scope(all_workspaces=True)
NOTHING = Scope()


def _user_scope(user) -> Scope:
    if user is None or not getattr(user, "is_authenticated", False):
        return NOTHING
    if any(role.name == ADMIN_ROLE for role in (user.roles or [])):
        return ALL
    from app.models.tenancy import WorkspaceMember  # local: models import this module's helpers
    from app.extensions import db

    # Never a flush: the first scope lookup of a request may come while a half-made row sits in
    # the session (a REST POST whose relationship id named another workspace's row pulls the new
    # row in through the backref), and flushing it would refuse it with other words than a
    # missing id gets from check_references, telling "not yours" apart from "not found".
    with db.session.no_autoflush:
        member = db.session.query(WorkspaceMember).filter_by(user_id=user.id).one_or_none()
    return Scope(workspace_id=member.workspace_id) if member else NOTHING


def current_scope() -> Scope:
    """The scope of the current request or job (cached on `g` for the request)."""
    if not has_app_context():
        return NOTHING
    explicit = g.get("_relaydesk_scope_override")
    if explicit is not None:
        return explicit
    if not has_request_context():
        return NOTHING
    user = g.get("user")
    cache_key = ("_relaydesk_scope", getattr(user, "id", None))
    cached = g.get("_relaydesk_scope_cache")
    if cached and cached[0] == cache_key:
        return cached[1]
    scope = _user_scope(user)
    g._relaydesk_scope_cache = (cache_key, scope)
    return scope


@contextmanager
def workspace_scope(workspace_id: int | None) -> Iterator[Scope]:
    """Run code (a job, a webhook, a CLI command) as one workspace, or as all when None."""
    previous = g.get("_relaydesk_scope_override")
    g._relaydesk_scope_override = ALL if workspace_id is None else Scope(workspace_id=workspace_id)
    try:
        yield g._relaydesk_scope_override
    finally:
        g._relaydesk_scope_override = previous


def scope_query(query, model, scope: Scope | None = None):
    """Restrict a query on `model` to what the scope may see."""
    scope = scope or current_scope()
    if scope.all_workspaces:
        return query
    if scope.workspace_id is None:
        return query.filter(false())
    if is_workspace_owned(model):
        return query.filter(model.workspace_id == scope.workspace_id)
    from app.models.tenancy import Workspace

    if model is Workspace:
        return query.filter(Workspace.id == scope.workspace_id)
    if _is_user_model(model):
        # Logins are platform rows, but a member may see (e.g. as related-field choices of the
        # members screen and its `_info`) only the logins that work in their own workspace.
        from app.models.tenancy import WorkspaceMember

        members = select(WorkspaceMember.user_id).where(
            WorkspaceMember.workspace_id == scope.workspace_id)
        return query.filter(model.id.in_(members))
    # Platform tables (plans, global templates) are reachable only through admin views, whose
    # permissions members never get; the query itself stays unrestricted for them.
    return query


def _is_user_model(model) -> bool:
    appbuilder = getattr(current_app, "appbuilder", None) if has_app_context() else None
    user_model = getattr(getattr(appbuilder, "sm", None), "user_model", None)
    return user_model is not None and model is user_model


def scoped_query(model, workspace_id: int | None = None):
    """A query on `model` in the given workspace (jobs, webhooks) or the current scope."""
    from app.extensions import db

    scope = Scope(workspace_id=workspace_id) if workspace_id is not None else None
    return scope_query(db.session.query(model), model, scope)


def get_scoped(model, pk, workspace_id: int | None = None):
    """Load one row by primary key through the scope; None when it is not visible."""
    query = scoped_query(model, workspace_id)
    return query.filter(inspect(model).primary_key[0] == pk).one_or_none()


class ScopedInterface(SQLAInterface):
    """The FAB data interface with the workspace scope applied to every read."""

    def _apply_inner_all(self, query, filters=None, *args, **kwargs):
        query = scope_query(query, self.obj)
        return super()._apply_inner_all(query, filters, *args, **kwargs)

    def _get_base_query(self, query, filters=None, order_column="", order_direction=""):
        query = scope_query(query, self.obj)
        return super()._get_base_query(query, filters, order_column, order_direction)

    def get_related_obj(self, col_name, value):
        if isinstance(value, (list, tuple)):  # a relation filter's value (`?_flt_0_plan=3`)
            if len(value) != 1:
                return None
            value = value[0]
        rel_model = self.get_related_model(col_name)
        query = scope_query(self.session.query(rel_model), rel_model)
        return query.filter(inspect(rel_model).primary_key[0] == value).one_or_none()


# --- write-side guard ---------------------------------------------------------------------------

def _pending_relationship_target(obj, key: str):
    """(True, target) when relationship `key` was assigned since load: that target is what the
    flush writes (it overrides the foreign key column, FAB pitfall 2); else (False, None)."""
    history = inspect(obj).attrs[key].history
    if history.added:
        return True, history.added[0]
    return False, None


def _owner_id(obj) -> int | None:
    """The workspace a flush would store for `obj` (not a stale loaded relationship)."""
    assigned, workspace = _pending_relationship_target(obj, "workspace")
    if assigned:
        return workspace.id if workspace is not None else None
    if obj.workspace_id is not None:
        return obj.workspace_id
    workspace = obj.__dict__.get("workspace")
    return workspace.id if workspace is not None else None


def _session_for(obj):
    session = Session.object_session(obj)
    if session is None and has_app_context():
        from app.extensions import db  # a transient row checked before it is added

        session = db.session
    return session


def _reference_relationships(model):
    """The many-to-one relationships of `model` that point at workspace-owned rows."""
    for rel in inspect(model).relationships:
        if rel.direction.name == "MANYTOONE" and rel.key != "workspace" \
                and is_workspace_owned(rel.mapper.class_):
            yield rel


def _collection_relationships(model):
    """The many-to-many relationships of `model` whose rows are workspace-owned (a contact's
    groups): each row added to such a collection is a reference like a foreign key."""
    for rel in inspect(model).relationships:
        if rel.direction.name == "MANYTOMANY" and is_workspace_owned(rel.mapper.class_):
            yield rel


def foreign_references(obj):
    """Yield (relationship name, owner workspace id) for every workspace-owned row `obj` points
    at, as the next flush would write it: a newly assigned relationship object, otherwise the
    row the foreign key column names (an already loaded relationship object may be stale when
    only the column was changed). An owner not already in memory is read with a one-column
    query, not by loading (and decrypting) the whole row."""
    session = _session_for(obj)
    for rel in _reference_relationships(type(obj)):
        assigned, target = _pending_relationship_target(obj, rel.key)
        if assigned:
            if target is not None:
                yield rel.key, _owner_id(target)
            continue
        fk_col = next(iter(rel.local_columns))
        fk_value = getattr(obj, fk_col.key, None)
        if fk_value is None:
            continue
        loaded = obj.__dict__.get(rel.key)
        if loaded is not None and inspect(loaded).identity == (fk_value,) \
                and "workspace_id" in loaded.__dict__:
            yield rel.key, loaded.workspace_id
        elif session is not None:
            target_model = rel.mapper.class_
            pk = inspect(target_model).primary_key[0]
            with session.no_autoflush:
                owner = session.execute(
                    select(target_model.workspace_id).where(pk == fk_value)).scalar()
            yield rel.key, owner
    for rel in _collection_relationships(type(obj)):
        if rel.key in inspect(obj).attrs:
            for target in inspect(obj).attrs[rel.key].history.added or ():
                yield rel.key, _owner_id(target)


def _references_changed(obj) -> bool:
    """Whether a loaded row's workspace or any of its references changed since load."""
    state = inspect(obj)
    keys = ["workspace", "workspace_id"]
    for rel in _reference_relationships(type(obj)):
        keys.append(rel.key)
        keys.extend(col.key for col in rel.local_columns)
    keys.extend(rel.key for rel in _collection_relationships(type(obj)))
    return any(state.attrs[key].history.has_changes() for key in keys if key in state.attrs)


def check_references(obj, workspace_id: int | None = None) -> None:
    """Raise TenancyError if `obj` references a row of another workspace."""
    owner = workspace_id if workspace_id is not None else _owner_id(obj)
    for key, target_owner in foreign_references(obj):
        if owner is None or target_owner != owner:
            raise TenancyError(str(MISSING_REFERENCE % {"field": key}))


def install_write_guard(session_class) -> None:
    """Refuse cross-workspace references at flush time, for every session of the app."""

    @event.listens_for(session_class, "before_flush")
    def _guard(session, flush_context, instances):  # noqa: ARG001 - SQLAlchemy signature
        scope = current_scope()
        for obj in list(session.new) + list(session.dirty) + list(session.deleted):
            if not is_workspace_owned(type(obj)):
                continue
            owner = _owner_id(obj)
            if scope.workspace_id is not None and owner != scope.workspace_id:
                raise TenancyError(str(MISSING_ROW))
            if obj in session.deleted:
                continue
            # A loaded row whose references did not change was checked when they were written.
            if obj in session.new or _references_changed(obj):
                check_references(obj)
