"""Master admin screens: platform tables that belong to no single workspace."""
from __future__ import annotations

from flask import abort
from flask_appbuilder.actions import action
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms.validators import InputRequired

from app.auth.impersonation import start_response
from app.domain.templates import reply_kind
from app.extensions import db
from app.labels import code_label
from app.models import GlobalReplyTemplate, PaymentEvent, Plan, PlanPrice, Workspace
from app.models.billing import PLAN_LIMIT_DEFAULTS, PLAN_LIMITS
from app.security import ROLE_MANAGER, ROLE_TRANSLATOR, WRITE
from app.views.base import CheckedModelView, MoneyCheck, MoneyField, RelaydeskInterface
from app.views.template_fields import (REPLY_HELP, TemplateText, reply_key_field,
                                       reply_kind_in_form, reply_template_valid)


def forget_reason_when_active(workspace) -> None:
    """An active workspace has no suspension reason: resuming forgets it, so a later
    suspension never shows its members a reason from an earlier one."""
    if workspace.status == "active":
        workspace.suspended_reason = None


class ForgetsReasonWhenActive:
    """Workspaces written by the master admin (screen or REST): `forget_reason_when_active`
    before every add and update."""

    def pre_add(self, item):
        forget_reason_when_active(item)
        super().pre_add(item)

    def pre_update(self, item):
        forget_reason_when_active(item)
        super().pre_update(item)


class WorkspaceAdminView(ForgetsReasonWhenActive, CheckedModelView):
    """Every workspace on the platform; suspending is its status (members then read the
    reason on every page), resuming forgets the reason."""

    # Scoped like every view over tenant data: the master admin's scope is every workspace, and
    # the view stays safe even if a role were ever granted it by mistake.
    datamodel = RelaydeskInterface(Workspace)
    relaydesk_roles: dict = {}
    page_size = 25
    list_columns = ["slug", "name", "plan", "status", "language", "timezone", "created_at"]
    show_columns = list_columns + ["suspended_reason", "updated_at"]
    add_columns = ["slug", "name", "plan", "status", "suspended_reason", "language", "timezone"]
    edit_columns = add_columns
    search_columns = ["slug", "name", "plan", "status", "language", "created_at"]
    label_columns = {"slug": _l("Slug"), "name": _l("Name"), "plan": _l("Plan"),
                     "status": _l("Status"), "language": _l("Language"),
                     "timezone": _l("Time zone"), "created_at": _l("Created"),
                     "updated_at": _l("Updated"),
                     "suspended_reason": _l("Why it is suspended")}
    description_columns = {"suspended_reason": _l(
        "Shown to the workspace's members while it is suspended, with how to resume.")}

    @action("sign_in_as", _l("Sign in as manager"),
            _l("Act as this workspace's manager? Every change is recorded under both names."),
            "fa-user-secret", multiple=False)
    def sign_in_as(self, item):
        """Act as the workspace's manager (app/auth/impersonation.py)."""
        if item is None or isinstance(item, list):
            abort(404)
        return start_response(item)


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


def unlimited(value):
    """A plan limit: the number in the reader's notation, or "Unlimited" for NULL."""
    if value is None:
        return _("Unlimited")
    return format_decimal(value)


#: what each limit counts; every limit is unlimited when left empty
LIMIT_HELP = {
    "max_channels": _l("The most channels a workspace on this plan may connect. Leave empty "
                       "for unlimited."),
    "max_linked_users": _l("The most linked users and contacts a workspace may have. Leave "
                           "empty for unlimited."),
    "max_team_members": _l("The most team members (managers and agents) a workspace may have. "
                           "Leave empty for unlimited."),
    "max_broadcasts_per_month": _l("Broadcasts a workspace may send each month; 0: none. "
                                   "Leave empty for unlimited."),
    "log_retention_days": _l("How many days the logs of a workspace are kept. Leave empty to "
                             "keep them without limit."),
    "api_requests_per_minute": _l("REST API requests a workspace may make each minute. Leave "
                                  "empty for unlimited."),
    "api_requests_per_day": _l("REST API requests a workspace may make each day. Leave empty "
                               "for unlimited."),
}


AMOUNT_LABEL = _l("Amount")
AMOUNT_HELP = _l("The price for one billing interval, e.g. 19.00 (a decimal point, no "
                 "thousands separators).")


def _amount_field() -> MoneyField:
    """A price's amount, typed as money (a new field for each form class)."""
    return MoneyField(AMOUNT_LABEL, validators=[InputRequired(), MoneyCheck()],
                      description=AMOUNT_HELP)


class PlanPriceView(CheckedModelView):
    """A plan's price in one currency for one billing interval. Listed, added, edited and
    deleted from the plan's page (`PlanView.related_views`); the amount is typed as money and
    stored in the currency's minor units (app/money.py)."""

    datamodel = RelaydeskInterface(PlanPrice)
    relaydesk_roles: dict = {}
    page_size = 25
    list_columns = ["plan", "price_text", "currency", "interval", "stripe_price_id",
                    "razorpay_plan_id"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["plan", "currency", "interval", "amount", "stripe_price_id",
                   "razorpay_plan_id"]
    edit_columns = add_columns
    search_columns = ["plan", "currency", "interval", "stripe_price_id", "razorpay_plan_id"]
    order_columns = ["currency", "interval", "amount_cents", "stripe_price_id", "razorpay_plan_id"]
    base_order = ("currency", "asc")
    label_columns = {"plan": _l("Plan"), "price_text": _l("Price"), "currency": _l("Currency"),
                     "interval": _l("Billing interval"), "amount": AMOUNT_LABEL,
                     "amount_cents": _l("Amount (minor units)"),
                     "stripe_price_id": _l("Stripe price id"),
                     "razorpay_plan_id": _l("Razorpay plan id"), "created_at": _l("Created"),
                     "updated_at": _l("Updated")}
    description_columns = {
        "currency": _l("Three capital letters (ISO 4217), e.g. USD, EUR or INR."),
        "interval": _l("How often the price is charged."),
        "amount": AMOUNT_HELP,
        "stripe_price_id": _l("Optional: the Stripe price charged for this plan in this "
                              "currency and interval (price_…)."),
        "razorpay_plan_id": _l("Optional: the Razorpay plan charged for this plan in this "
                               "currency and interval (plan_…)."),
    }

    add_form_extra_fields = {"amount": _amount_field()}
    edit_form_extra_fields = {"amount": _amount_field()}

    def _get_view_widget(self, **kwargs):
        """The list on a plan's page (FAB's related view): without the plan's own column."""
        widget = super()._get_view_widget(**kwargs)
        widget.template_args["include_columns"] = [
            c for c in widget.template_args["include_columns"] if c != "plan"]
        return widget


def plan_not_in_use(plan) -> None:
    """A plan that workspaces are on is not deleted: they would be left without a plan, which
    limits nothing (app/plans.py)."""
    if db.session.query(Workspace.id).filter(Workspace.plan_id == plan.id).first() is not None:
        raise ValueError(str(_l("Workspaces are still on this plan: move them to another plan "
                                "before deleting it.")))


class PlanView(CheckedModelView):
    """Plans the platform sells: mediums, modules and limits (empty: unlimited); the show page
    lists the plan's prices, where they are added, edited and deleted."""

    datamodel = RelaydeskInterface(Plan)
    relaydesk_roles: dict = {}
    page_size = 25
    related_views = [PlanPriceView]
    show_template = "relaydesk/plan_show.html"
    edit_template = "relaydesk/plan_edit.html"
    list_columns = ["code", "name", "max_channels", "max_linked_users", "max_team_members",
                    "api_requests_per_minute", "api_requests_per_day", "is_public"]
    show_columns = ["code", "name", "description", "mediums", "modules", *PLAN_LIMITS,
                    "is_public", "sort_order"]
    add_columns = show_columns
    edit_columns = add_columns
    search_columns = ["code", "name", "is_public"]
    base_order = ("sort_order", "asc")
    label_columns = {"max_channels": _l("Channels"), "max_linked_users": _l("Linked users"),
                     "max_team_members": _l("Team members"),
                     "max_broadcasts_per_month": _l("Broadcasts a month"),
                     "log_retention_days": _l("Log retention (days)"),
                     "api_requests_per_minute": _l("API requests per minute"),
                     "api_requests_per_day": _l("API requests per day"),
                     "mediums": _l("Channel platforms"), "modules": _l("Modules"),
                     "sort_order": _l("Display order"), "prices": _l("Prices"),
                     "code": _l("Code"), "name": _l("Name"), "description": _l("Description"),
                     "is_public": _l("Public")}
    description_columns = {
        **LIMIT_HELP,
        "code": _l("Short and lasting: workspace files name the plan by it (e.g. pro)."),
        "mediums": _l("The platforms workspaces on this plan may connect channels on: at "
                      "least one."),
        "modules": _l("The features workspaces on this plan may use; API access lets them use "
                      "the REST API."),
        "is_public": _l("Offered to people choosing a plan; a plan that is not public is "
                        "given by the master admin only."),
        "sort_order": _l("Plans are listed by this number, smallest first."),
    }
    formatters_columns = {limit: unlimited for limit in PLAN_LIMITS}
    add_defaults = dict(PLAN_LIMIT_DEFAULTS)  # a new plan starts limited, never unlimited
    delete_validators = (plan_not_in_use,)


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



class PaymentEventView(CheckedModelView):
    """Every Stripe and Razorpay webhook event received, once each, with what was done."""

    datamodel = RelaydeskInterface(PaymentEvent)
    relaydesk_roles: dict = {}
    base_permissions = ["can_list", "can_show"]
    page_size = 50
    base_order = ("received_at", "desc")
    list_columns = ["received_at", "provider", "event_type", "workspace", "outcome"]
    show_columns = ["received_at", "provider", "event_type", "event_id", "created", "workspace",
                    "outcome", "detail", "processed_at"]
    search_columns = ["provider", "event_type", "workspace", "outcome", "event_id",
                      "received_at"]
    label_columns = {"received_at": _l("Received"), "provider": _l("Provider"),
                     "event_type": _l("Event"), "event_id": _l("Event id"),
                     "created": _l("Sent by the provider"), "workspace": _l("Workspace"),
                     "outcome": _l("What was done"), "detail": _l("Detail"),
                     "processed_at": _l("Handled")}
    formatters_columns = {"outcome": lambda value: code_label("payment_event_outcome", value)}
