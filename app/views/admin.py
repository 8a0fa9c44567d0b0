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
    show_columns = list_columns + ["updated_at"]
    add_columns = ["slug", "name", "plan", "status", "language", "timezone"]
    edit_columns = add_columns
    search_columns = ["slug", "name", "plan", "status", "language"]
    label_columns = {"slug": _l("Slug"), "name": _l("Name"), "plan": _l("Plan"),
                     "status": _l("Status"), "language": _l("Language"),
                     "timezone": _l("Time zone"), "created_at": _l("Created"),
                     "updated_at": _l("Updated")}


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
    list_columns = ["code", "name", "price_cents", "currency", "interval", "max_channels",
                    "max_linked_users", "max_commands_per_month", "is_public"]
    show_columns = list_columns + ["description", "stripe_price_id"]
    add_columns = ["code", "name", "description", "price_cents", "currency", "interval",
                   "max_channels", "max_linked_users", "max_commands_per_month",
                   "stripe_price_id", "is_public"]
    edit_columns = add_columns
    search_columns = ["code", "name", "interval", "is_public"]
    label_columns = {"price_cents": _l("Price (cents)"), "max_channels": _l("Channels"),
                     "max_linked_users": _l("Linked users"),
                     "max_commands_per_month": _l("Commands per month"),
                     "code": _l("Code"), "name": _l("Name"), "description": _l("Description"),
                     "currency": _l("Currency"), "interval": _l("Billing interval"),
                     "is_public": _l("Public"), "stripe_price_id": _l("Stripe price id")}


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

