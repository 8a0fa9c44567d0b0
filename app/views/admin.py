"""Master admin screens: platform tables that belong to no single workspace."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.domain.templates import reply_kind
from app.extensions import db
from app.models import GlobalReplyTemplate, Plan, Workspace
from app.security import ROLE_MANAGER, ROLE_TRANSLATOR, WRITE
from app.views.base import CheckedModelView, RelaydeskInterface
from app.views.template_fields import (REPLY_HELP, TemplateText, reply_key_field,
                                       reply_kind_in_form, reply_template_valid)


class WorkspaceAdminView(CheckedModelView):
    """Every workspace on the platform."""

    # Scoped like every view over tenant data: the master admin's scope is every workspace, and
    # the view stays safe even if a role were ever granted it by mistake.
    datamodel = RelaydeskInterface(Workspace)
    relaydesk_roles: dict = {}
    page_size = 25
    list_columns = ["slug", "name", "plan", "status", "language", "timezone", "created_at"]
    show_columns = list_columns + ["suspended_reason", "updated_at"]
    add_columns = ["slug", "name", "plan", "status", "suspended_reason", "language", "timezone"]
    edit_columns = add_columns
    search_columns = ["slug", "name", "plan", "status", "language"]
    label_columns = {"slug": _l("Slug"), "name": _l("Name"), "plan": _l("Plan"),
                     "status": _l("Status"), "language": _l("Language"),
                     "timezone": _l("Time zone"), "created_at": _l("Created"),
                     "updated_at": _l("Updated"),
                     "suspended_reason": _l("Why it is suspended")}
    description_columns = {"suspended_reason": _l(
        "Shown to the workspace's members while it is suspended, with how to resume.")}


class MyWorkspaceView(CheckedModelView):
    """A manager's own workspace: name, language and time zone."""

    datamodel = RelaydeskInterface(Workspace)
    relaydesk_roles = {ROLE_MANAGER: WRITE}
    base_permissions = ["can_list", "can_show", "can_edit"]
    list_columns = ["slug", "name", "language", "timezone", "plan", "status"]
    show_columns = list_columns
    edit_columns = ["name", "language", "timezone"]
    search_columns = ["name"]
    label_columns = WorkspaceAdminView.label_columns


class PlanView(CheckedModelView):
    """Plans the platform sells."""

    datamodel = RelaydeskInterface(Plan)
    relaydesk_roles: dict = {}
    page_size = 25
    list_columns = ["code", "name", "max_channels", "max_linked_users", "max_team_members",
                    "is_public"]
    show_columns = ["code", "name", "description", "mediums", "modules", "max_channels",
                    "max_linked_users", "max_team_members", "max_broadcasts_per_month",
                    "log_retention_days", "api_requests_per_minute", "api_requests_per_day",
                    "is_public", "sort_order"]
    add_columns = show_columns
    edit_columns = add_columns
    search_columns = ["code", "name", "is_public"]
    label_columns = {"max_channels": _l("Channels"), "max_linked_users": _l("Linked users"),
                     "max_team_members": _l("Team members"),
                     "max_broadcasts_per_month": _l("Broadcasts a month"),
                     "log_retention_days": _l("Log retention (days)"),
                     "api_requests_per_minute": _l("API requests a minute"),
                     "api_requests_per_day": _l("API requests a day"),
                     "mediums": _l("Mediums"), "modules": _l("Modules"),
                     "sort_order": _l("Order"),
                     "code": _l("Code"), "name": _l("Name"), "description": _l("Description"),
                     "is_public": _l("Public")}


def _global_reply_kind(form):
    """The reply kind of a default reply's form: the key field on add; on edit (the text only)
    the key of the row being edited (FAB puts its id on the form before validating)."""
    if getattr(form, "key", None) is not None:
        return reply_kind_in_form(form)
    row = db.session.get(GlobalReplyTemplate, getattr(form, "_id", None) or 0)
    return reply_kind(row.key) if row is not None else None


class GlobalReplyTemplateView(CheckedModelView):
    """Default customer replies in every language; workspaces may override them."""

    datamodel = RelaydeskInterface(GlobalReplyTemplate)
    relaydesk_roles = {ROLE_TRANSLATOR: WRITE}
    base_permissions = ["can_list", "can_show", "can_edit", "can_add"]
    page_size = 50
    list_columns = ["key", "language", "body"]
    show_columns = list_columns + ["updated_at"]
    add_columns = ["key", "language", "body"]
    edit_columns = ["body"]
    search_columns = ["key", "language", "body"]
    label_columns = {"key": _l("Reply"), "language": _l("Language"), "body": _l("Text"),
                     "updated_at": _l("Updated")}
    add_form_extra_fields = {"key": reply_key_field()}
    validators_columns = {"body": [TemplateText(_global_reply_kind)]}
    description_columns = {"body": REPLY_HELP}

    item_validators = (reply_template_valid,)

