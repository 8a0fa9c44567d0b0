"""A workspace waiting for its first payment sends its members to the sign-up status page.

`send_pending_members_to_status` runs before every request (after FAB has loaded the user):
for a signed-in member of a `pending` workspace, every screen answers with a redirect to
`/signup/status` — which itself sends on to the plan or payment step when that is what is
missing — except the pages they still need: this journey, signing in and out, their own
account (profile, password, API keys, language), the set-password links, static files. The
REST API, webhooks and health checks are not screens and are left alone (the workspace's
events are skipped while it is pending: app/jobs/events.py).
"""
from __future__ import annotations

from flask import redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.tenancy import current_scope

#: endpoints (or endpoint prefixes, ending in ".") a member of a pending workspace may open
ALLOWED = ("signup.", "static", "appbuilder.static", "AuthDBView.", "LocaleView.",
           "UserDBModelView.userinfo", "UserInfoEditView.", "ResetMyPasswordView.",
           "MyApiKeysView.", "PasswordLinkView.", "favicon")
NOT_SCREENS = ("/api/", "/webhooks/", "/healthz", "/readyz", "/static/")


def _allowed(endpoint: str | None) -> bool:
    if endpoint is None:  # no such page: the 404 page is fine
        return True
    return any(endpoint == name or (name.endswith(".") and endpoint.startswith(name))
               for name in ALLOWED)


def send_pending_members_to_status():
    if request.path.startswith(NOT_SCREENS) or _allowed(request.endpoint):
        return None
    if not current_user or not current_user.is_authenticated:
        return None
    workspace_id = current_scope().workspace_id
    if workspace_id is None:
        return None
    from app.models import Workspace

    status = db.session.execute(
        select(Workspace.status).where(Workspace.id == workspace_id)).scalar_one_or_none()
    if status != "pending":
        return None
    return redirect(url_for("signup.status"))


def install(app) -> None:
    app.before_request(send_pending_members_to_status)


__all__ = ["ALLOWED", "install", "send_pending_members_to_status"]
