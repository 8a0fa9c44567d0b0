"""The REST resources the master admin runs the SaaS with: `workspace` and `subscription`.

* `/api/v1/workspace/` (`WorkspaceApi`): the master admin lists, shows, adds and edits every
  workspace; `PUT {"status": "suspended", "suspended_reason": "…"}` suspends one and
  `PUT {"status": "active"}` resumes it (the reason is forgotten on resume, as on the screen).
  A workspace member (manager or agent) reads their own workspace only: the list holds that one
  row, any other id answers 404, and every write 403. No delete through the API: a workspace
  is suspended, not deleted (deleting it deletes everything it holds).
* `/api/v1/subscription/` (`SubscriptionApi`): the master admin lists, shows, adds and edits
  every workspace's subscriptions (`workspace` and `plan` by id); a workspace's manager reads
  its own (as on the Subscription screen; agents do not see billing). Payment ids are the
  model's sensitive columns: write-only, shown masked, never in an answer.

Both are the screens' twins (same interface, scope, checks: app/views/base.py): checks refuse
with 422 naming the field, an unknown related id with 400 naming it, a row outside the
reader's scope with 404.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.security import READ, ROLE_AGENT, ROLE_MANAGER
from app.views.admin import ForgetsReasonWhenActive, WorkspaceAdminView
from app.views.base import PlatformRestApi, WorkspaceRestApi
from app.views.workspace import SubscriptionView

#: read for the roles given READ, every one of these for the master admin
WRITABLE_BY_ADMIN = ["can_get", "can_info", "can_post", "can_put"]


#: the price a subscription was agreed at, and how it is paid
PRICE_COLUMNS = ("interval", "amount_cents", "currency", "payment_method")


def _unmasked(columns) -> list[str]:
    return [c.removesuffix("_masked") for c in columns]


def _columns(*names: str) -> list[str]:
    """The names in order, each once (the screen may list a price column too, one day)."""
    return list(dict.fromkeys(names))


class WorkspaceApi(ForgetsReasonWhenActive, PlatformRestApi):
    """Every workspace for the master admin; a member's own workspace, read-only."""

    resource_name = "workspace"
    datamodel = WorkspaceAdminView.datamodel
    relaydesk_roles = {ROLE_MANAGER: READ, ROLE_AGENT: READ}
    base_permissions = WRITABLE_BY_ADMIN
    list_columns = ["id", "slug", "name", "plan", "status", "suspended_reason", "language",
                    "timezone", "created_at", "updated_at"]
    show_columns = list_columns
    add_columns = list(WorkspaceAdminView.add_columns)
    edit_columns = list(WorkspaceAdminView.edit_columns)
    search_columns = list(WorkspaceAdminView.search_columns)
    order_columns = ["id", "slug", "name", "status", "created_at"]
    label_columns = dict(WorkspaceAdminView.label_columns)
    description_columns = dict(WorkspaceAdminView.description_columns)
    item_validators = WorkspaceAdminView.item_validators


class SubscriptionApi(WorkspaceRestApi):
    """Every subscription for the master admin; a manager's own workspace's, read-only. Besides
    the screen's columns it carries the agreed price (`interval`, `amount_cents` in the
    currency's minor units, `currency`: what the dashboard's MRR counts) and how it is paid."""

    resource_name = "subscription"
    datamodel = SubscriptionView.datamodel
    relaydesk_roles = dict(SubscriptionView.relaydesk_roles)
    base_permissions = WRITABLE_BY_ADMIN
    list_columns = _columns("id", "workspace", *_unmasked(SubscriptionView.list_columns),
                            *PRICE_COLUMNS)
    show_columns = _columns("id", "workspace", *_unmasked(SubscriptionView.show_columns),
                            *PRICE_COLUMNS, "cancel_at_period_end")
    add_columns = _columns("workspace", *SubscriptionView.add_columns, *PRICE_COLUMNS,
                           "cancel_at_period_end")
    # a subscription stays in its workspace
    edit_columns = _columns(*SubscriptionView.edit_columns, *PRICE_COLUMNS,
                            "cancel_at_period_end")
    search_columns = _columns("workspace", *SubscriptionView.search_columns)
    label_columns = {**SubscriptionView.label_columns, "workspace": _l("Workspace")}
    item_validators = SubscriptionView.item_validators
    plan_checks = getattr(SubscriptionView, "plan_checks", ())
