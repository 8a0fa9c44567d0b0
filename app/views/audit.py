"""The audit trail's screens (read-only): a manager's own workspace's trail and the master
admin's whole trail (its admin variant, under Master admin). Nothing here writes: the rows are
app/audit.py's. A row's show page lists each changed field with its value before and after, in
words (the field's label on its screen, values as every screen shows them)."""
from __future__ import annotations

from flask import current_app
from flask_appbuilder import Model
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from sqlalchemy import inspect

from app.audit import CHANGED
from app.models import AuditEntry
from app.models.base import is_workspace_owned
from app.security import READ, ROLE_MANAGER
from app.tenancy import get_scoped
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.formatting import EMPTY, column_formatter

SECRET_CHANGED = _l("Changed (not shown)")
SECRET_HIDDEN = _l("Not shown")
SECRET_SET = _l("Set (not shown)")
#: why a "Sign in as" ended without the admin's "Return to my account"
END_REASONS = {
    "admin_unavailable": _l("The master admin's account can no longer be used (deactivated, "
                            "signed out or its password changed)."),
    "manager_unavailable": _l("The manager can no longer be acted as (deactivated, removed or "
                              "no longer a manager)."),
}
#: most field names the list shows per row
LIST_FIELDS = 5


def _model_class(name: str):
    for mapper in Model.registry.mappers:
        if mapper.class_.__name__ == name:
            return mapper.class_
    if name == "User":
        return current_app.appbuilder.sm.user_model
    return None


def field_label(model_name: str, column: str) -> str:
    """A column's words: its label on a screen over the model, else the column's name."""
    labels = _screen_labels(current_app.appbuilder).get(model_name, {})
    label = labels.get(column)
    return str(label) if label else column.replace("_", " ").capitalize()


_labels_of: dict[int, dict[str, dict]] = {}


def _screen_labels(appbuilder) -> dict[str, dict]:
    """{model class name: {column: label}} of every registered screen, gathered once per app
    (the labels stay lazy: each page reads them in its reader's language)."""
    found = _labels_of.get(id(appbuilder))
    if found is None:
        found = {}
        for view in appbuilder.baseviews:
            model = getattr(getattr(view, "datamodel", None), "obj", None)
            if model is not None:
                merged = found.setdefault(model.__name__, {})
                for column, label in (getattr(view, "label_columns", None) or {}).items():
                    merged.setdefault(column, label)
        _labels_of[id(appbuilder)] = found
    return found


def _reference(model, column: str, value):
    """The label of the row a foreign key column names, when it can be read, else `#id`."""
    try:
        declared = inspect(model).columns.get(column)
    except Exception:  # noqa: BLE001 - not a mapped model
        declared = None
    if declared is None or not declared.foreign_keys or value is None:
        return None
    target_table = next(iter(declared.foreign_keys)).column.table
    target = next((m.class_ for m in Model.registry.mappers
                   if getattr(m.class_, "__table__", None) is target_table), None)
    row = None
    if target is not None and (is_workspace_owned(target) or target.__name__ in (
            "Workspace", "Plan", "PaymentMethod")):
        row = get_scoped(target, value)
    return str(row) if row is not None else f"#{value}"


def value_words(model, column: str, value):
    if value is None or value == "":
        return EMPTY
    reference = _reference(model, column, value) if model is not None else None
    if reference is not None:
        return Markup("<bdi>%s</bdi>") % reference
    return column_formatter(model, column)(value)


def _rows(entry: tuple) -> list[tuple[str, object, object]]:
    model_name, action, changes = entry
    model = _model_class(model_name)
    rows = []
    for column, pair in changes.items():
        if column == "reason" and action == "sign_in_as_end":
            rows.append((str(_l("Why it ended")), EMPTY,
                         str(END_REASONS.get(pair, pair))))
            continue
        label = field_label(model_name, column)
        if pair == CHANGED:
            words = SECRET_SET if action == "create" else SECRET_CHANGED
            rows.append((label, EMPTY if action == "create" else str(SECRET_HIDDEN), str(words)))
            continue
        before, after = pair if isinstance(pair, (list, tuple)) and len(pair) == 2 \
            else (None, pair)
        rows.append((label, value_words(model, column, before), value_words(model, column, after)))
    return rows


def change_table(entry: tuple) -> Markup | str:
    """Every changed field: its label, the value before and the value after."""
    rows = _rows(entry)
    if not rows:
        return EMPTY
    head = Markup("<tr><th>%s</th><th>%s</th><th>%s</th></tr>") % (
        _l("Field"), _l("Before"), _l("After"))
    body = Markup("").join(
        Markup("<tr><td>%s</td><td>%s</td><td>%s</td></tr>") % (label, before, after)
        for label, before, after in rows)
    table = Markup('<table class="table table-condensed table-bordered audit-changes">%s%s</table>')
    return table % (head, body)


def changed_fields(entry: tuple) -> str:
    """The changed fields' labels, for the list."""
    model_name, action, changes = entry
    if action not in ("create", "update", "delete"):
        return EMPTY
    labels = [field_label(model_name, column) for column in changes]
    shown = ", ".join(labels[:LIST_FIELDS])
    return shown + (" …" if len(labels) > LIST_FIELDS else "") if shown else EMPTY


class AuditEntryView(WorkspaceModelView):
    """Who changed what in the workspace's configuration, and when (read-only)."""

    datamodel = RelaydeskInterface(AuditEntry)
    base_permissions = ["can_list", "can_show"]
    relaydesk_roles = {ROLE_MANAGER: READ}
    base_order = ("created_at", "desc")
    page_size = 50
    list_columns = ["created_at", "actor_label", "via", "action", "model", "row_label",
                    "changed_fields"]
    show_columns = ["created_at", "actor_label", "impersonator_label", "via", "action", "model",
                    "row_id", "row_label", "change_table"]
    search_columns = ["created_at", "actor_label", "impersonator_label", "via", "action",
                      "model", "row_label"]
    order_columns = ["created_at", "actor_label", "via", "action", "model", "row_label"]
    label_columns = {"created_at": _l("When"), "actor_label": _l("Who"),
                     "impersonator_label": _l("Signed in as them by"), "via": _l("How"),
                     "action": _l("What was done"), "model": _l("What"),
                     "row_id": _l("Row id"), "row_label": _l("Which"),
                     "changed_fields": _l("Fields"), "change_table": _l("Changes"),
                     "changes": _l("Changes"), "workspace": _l("Workspace")}
    description_columns = {"via": _l("A screen, the REST API, a workspace file import, a "
                                     "command line command, or the platform itself.")}
    formatters_columns = {"change_table": change_table, "changed_fields": changed_fields}


#: the REST resource `audit_entry` (read-only): the stored columns, `changes` as stored
_API_READ = ["workspace_id", "created_at", "actor_user_id", "actor_label",
              "impersonator_user_id", "impersonator_label", "via", "action", "model", "row_id",
              "row_label", "changes"]
API_COLUMNS = {
    "list_columns": _API_READ,
    "show_columns": _API_READ,
    "search_columns": ["created_at", "actor_user_id", "actor_label", "via", "action", "model",
                       "row_id", "row_label"],
}
