"""A workspace waiting for its first payment sends its members to the sign-up status page.

`send_pending_members_to_status` runs before every request (after FAB has loaded the user):
for a signed-in member of a `pending` workspace, every screen answers with a redirect to
`/signup/status` — which itself sends on to the plan or payment step when that is what is
missing — except the pages they still need: this journey, signing in and out, their own
account (profile, password, API keys, language), the set-password links, static files. The
REST API is closed to them (`refuse_pending_api`: 403 in the REST error shape, for API keys and
JWTs through app/api_limits.py, for a browser session here; the login resource stays open);
webhooks and health checks are left alone (the workspace's events are skipped while it is
pending: app/jobs/events.py).
"""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from werkzeug.exceptions import Forbidden

from app.extensions import db
from app.tenancy import current_scope

#: endpoints (or endpoint prefixes, ending in ".") a member of a pending workspace may open;
#: asking the platform for help (Platform support) and the master admin's "Return to my
#: account" included
ALLOWED = ("signup.", "static", "appbuilder.static", "AuthDBView.", "LocaleView.",
           "UserDBModelView.userinfo", "UserInfoEditView.", "ResetMyPasswordView.",
           "MyApiKeysView.", "PasswordLinkView.", "PaymentsView.", "BillingView.",
           "SupportTicketView.", "SignInAsView.end", "favicon")
NOT_SCREENS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/static/")
#: the REST paths a pending workspace's member may still call (signing in for a token)
API_OPEN = ("/api/v1/security/",)

PENDING_API_MESSAGE = _l("This workspace waits for its first payment: the REST API opens once "
                         "the plan is paid.")


class WorkspacePending(Forbidden):
    """403: the caller's workspace has not paid yet. `api_message`: the REST answer's words."""

    def __init__(self) -> None:
        super().__init__()
        self.api_message = str(PENDING_API_MESSAGE)


def _status(workspace_id: int) -> str | None:
    from app.models import Workspace

    return db.session.execute(
        select(Workspace.status).where(Workspace.id == workspace_id)).scalar_one_or_none()


def refuse_pending_api(workspace_id: int | None) -> None:
    """:raise WorkspacePending: a REST call for a workspace waiting for its first payment."""
    if workspace_id is not None and not request.path.startswith(API_OPEN) \
            and _status(workspace_id) == "pending":
        raise WorkspacePending()


def _allowed(endpoint: str | None) -> bool:
    if endpoint is None:  # no such page: the 404 page is fine
        return True
    return any(endpoint == name or (name.endswith(".") and endpoint.startswith(name))
               for name in ALLOWED)


def send_pending_members_to_status():
    if request.path.startswith("/api/"):  # a browser session calling the REST API
        if current_user and current_user.is_authenticated:
            refuse_pending_api(current_scope().workspace_id)
        return None
    if request.path.startswith(NOT_SCREENS) or _allowed(request.endpoint):
        return None
    if not current_user or not current_user.is_authenticated:
        return None
    workspace_id = current_scope().workspace_id
    if workspace_id is None or _status(workspace_id) != "pending":
        return None
    return redirect(url_for("signup.status"))


def install(app) -> None:
    app.before_request(send_pending_members_to_status)


__all__ = ["ALLOWED", "WorkspacePending", "install", "refuse_pending_api",
           "send_pending_members_to_status"]
