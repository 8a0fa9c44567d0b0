""""Sign in as": the master admin acts as one of a workspace's managers, and returns.

* `POST /impersonation/start/<workspace id>` (CSRF; the Admin role only, FAB permission
  `can_start`): with `user` (a login id) signs in as that manager; without it, as the
  workspace's only active manager, or shows the page to pick one when it has several
  (`GET /impersonation/choose/<workspace id>`, permission `can_choose`). The Workspaces screen's
  action "Sign in as manager" posts here. Refused (a message, nothing changed): a login that is
  not an active manager of that workspace, an Admin login, the admin's own login, or an admin
  already acting as someone.
* `POST /impersonation/end` (CSRF; whoever holds a "Sign in as" session): "Return to my
  account", back to the master admin's own session.

How it is kept: the browser session (signed with SECRET_KEY, so never forged) holds
`{admin_id, admin_epoch, user_id, workspace_id}` beside the manager's ordinary sign-in. Every
request checks it (`check_request`, before any view): the session must still be that manager's,
the manager still an active manager of that workspace and no admin, the admin still an active
Admin whose sign-in epoch (app/auth/revocation.py) is the one it started with. When the manager
side fails, the admin gets their own session back; when the admin side fails (deactivated,
signed out everywhere, password changed), nobody stays signed in. A manager's session thus never
becomes the admin's except through "Return to my account" of a session the admin started.

Both ends are written to the audit trail (`sign_in_as`, `sign_in_as_end`), and every change made
meanwhile carries the admin as `impersonator` (app/audit.py reads `g.relaydesk_impersonator`).
REST calls with a JWT or an API key carry no browser session and are not affected.
"""
from __future__ import annotations

import logging

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from app import audit
from app.auth import revocation
from app.extensions import db
from app.models import Workspace, WorkspaceMember
from app.redaction import flash
from app.tenancy import ADMIN_ROLE

log = logging.getLogger(__name__)

SESSION_KEY = "_relaydesk_sign_in_as"


class SignInAsRefused(Exception):
    """A "Sign in as" that may not happen, with words for the master admin."""

    def __init__(self, message) -> None:
        super().__init__(str(message))
        self.message = str(message)


NOT_A_MANAGER = _l("This login is not an active manager of this workspace.")
NO_MANAGER = _l("This workspace has no active manager to sign in as.")
ALREADY = _l("Return to your own account first.")


def _is_admin(user) -> bool:
    return any(role.name == ADMIN_ROLE for role in (getattr(user, "roles", None) or []))


def _user_model():
    return current_app.appbuilder.sm.user_model


def managers_of(workspace_id: int) -> list:
    """The logins a master admin may sign in as: the workspace's active managers that are not
    Admins, oldest membership first."""
    user = _user_model()
    rows = db.session.execute(
        select(user).join(WorkspaceMember, WorkspaceMember.user_id == user.id)
        .where(WorkspaceMember.workspace_id == workspace_id, WorkspaceMember.role == "manager",
               user.active.is_(True))
        .order_by(WorkspaceMember.id)).scalars().all()
    return [row for row in rows if not _is_admin(row)]


def _manager(workspace_id: int, user_id) -> object:
    """:raise SignInAsRefused: unless `user_id` is one of `managers_of(workspace_id)`."""
    for user in managers_of(workspace_id):
        if str(user.id) == str(user_id):
            return user
    raise SignInAsRefused(NOT_A_MANAGER)


def marker() -> dict | None:
    value = session.get(SESSION_KEY)
    return value if isinstance(value, dict) else None


def begin(admin, workspace: Workspace, user) -> None:
    """Sign the current browser session in as `user`, a manager of `workspace`, on behalf of
    `admin`; records `sign_in_as` and commits.

    :raise SignInAsRefused: when `admin` is not an active Admin, is already acting as someone,
        or `user` is not an active manager (no Admin) of the workspace."""
    if not (_is_admin(admin) and admin.active) or marker() is not None:
        raise SignInAsRefused(ALREADY if marker() is not None else NOT_A_MANAGER)
    target = _manager(workspace.id, user.id)
    admin_label = audit.user_label(admin)
    audit.record(db.session, "sign_in_as", workspace_id=workspace.id, model="User",
                 row_id=target.id, row_label=audit.user_label(target),
                 actor=audit.Actor(via="screen", user_id=admin.id, label=admin_label))
    db.session.commit()
    state = {"admin_id": admin.id, "admin_epoch": revocation.current_epoch(admin.id),
             "user_id": target.id, "workspace_id": workspace.id, "admin_label": admin_label}
    login_user(target, remember=False)  # stamps the session with the manager's epoch
    session[SESSION_KEY] = state
    log.info("master admin %s signed in as %s (workspace %s)", state["admin_id"], target.id,
             workspace.id)


def _admin_back(state: dict):
    """The admin of a "Sign in as" when they may have their session back, else None."""
    admin = db.session.get(_user_model(), state.get("admin_id"))
    if admin is None or not admin.active or not _is_admin(admin) \
            or revocation.current_epoch(admin.id) != state.get("admin_epoch"):
        return None
    return admin


def finish(state: dict, *, reason: str | None = None, restore: bool = True):
    """End the "Sign in as" of this session: records `sign_in_as_end` (by the admin) and
    commits; the admin's own session comes back when `restore` and the admin may still have it.
    Returns the admin signed in again, or None (nobody is signed in then)."""
    session.pop(SESSION_KEY, None)
    g.pop("relaydesk_impersonator", None)
    admin = _admin_back(state) if restore else None
    target = db.session.get(_user_model(), state.get("user_id"))
    audit.record(db.session, "sign_in_as_end", workspace_id=state.get("workspace_id"),
                 model="User", row_id=state.get("user_id"),
                 row_label=audit.user_label(target) if target is not None else None,
                 changes={"reason": reason} if reason else None,
                 actor=audit.Actor(via="screen" if reason is None else "system",
                                   user_id=state.get("admin_id"),
                                   label=state.get("admin_label")))
    db.session.commit()
    logout_user()
    revocation.forget_session()
    if admin is not None:
        login_user(admin, remember=False)
    g.user = current_user
    return admin


def check_request() -> None:
    """Before every request: a "Sign in as" session that is no longer valid ends here (see the
    module docstring); a valid one names its admin for the audit trail."""
    state = marker()
    if state is None:
        return
    user = current_user
    if not getattr(user, "is_authenticated", False) or user.id != state.get("user_id"):
        # signed out, or another sign-in: the marker belongs to nobody now
        session.pop(SESSION_KEY, None)
        return
    admin = _admin_back(state)
    if admin is None:
        finish(state, reason="admin_unavailable", restore=False)
        return
    member = db.session.execute(select(WorkspaceMember).where(
        WorkspaceMember.user_id == user.id)).scalar_one_or_none()
    if member is None or member.workspace_id != state.get("workspace_id") \
            or member.role != "manager" or not user.active or _is_admin(user):
        finish(state, reason="manager_unavailable")
        return
    g.relaydesk_impersonator = {"admin_id": admin.id, "admin_label": state.get("admin_label")}


def banner() -> dict | None:
    """What the red banner says while the master admin acts as a manager, or None."""
    state = g.get("relaydesk_impersonator")
    current = marker()
    if state is None or current is None:
        return None
    workspace = db.session.get(Workspace, current.get("workspace_id"))
    return {"user": audit.user_label(current_user), "admin": state["admin_label"],
            "workspace": workspace.name if workspace is not None else "",
            "end_url": url_for("SignInAsView.end")}


def init_impersonation(app) -> None:
    app.before_request(check_request)
    app.add_template_global(banner, "relaydesk_sign_in_as")


def _refused(message: str, workspace: Workspace):
    db.session.rollback()
    flash(message, "danger")
    return redirect(url_for("WorkspaceAdminView.show", pk=workspace.id))


def start_response(workspace: Workspace, wanted=None):
    """The answer to the master admin's "Sign in as" on `workspace` (a POST: the Workspaces
    screen's action, or a button of the choosing page): signed in as `wanted` (a login id),
    else as the only active manager, or the page to choose one; a refusal flashed on the
    workspace's page."""
    if not wanted:
        managers = managers_of(workspace.id)
        if not managers:
            return _refused(str(NO_MANAGER), workspace)
        if len(managers) > 1:
            return redirect(url_for("SignInAsView.choose", pk=workspace.id))
        wanted = managers[0].id
    try:
        target = _manager(workspace.id, wanted)
        # the login itself: g.user follows the session, which is about to change hands
        begin(getattr(g.user, "_get_current_object", lambda: g.user)(), workspace, target)
    except SignInAsRefused as exc:
        return _refused(exc.message, workspace)
    flash(gettext("You are signed in as %(user)s of %(workspace)s.",
                  user=audit.user_label(target), workspace=workspace.name), "warning")
    return redirect(current_app.appbuilder.get_url_for_index)


class SignInAsView(BaseView):
    """The master admin's "Sign in as" and everyone's "Return to my account"."""

    route_base = "/impersonation"
    default_view = "choose"
    relaydesk_roles: dict = {}
    base_permissions = ["can_start", "can_choose"]

    def _workspace(self, pk) -> Workspace:
        workspace = db.session.get(Workspace, pk)
        if workspace is None:
            abort(404)
        return workspace

    @expose("/start/<int:pk>", methods=["POST"])
    @has_access
    def start(self, pk):
        """Sign in as a manager of workspace `pk` (`user`, else its only one).
        :raise 404: no such workspace."""
        return start_response(self._workspace(pk), request.form.get("user"))

    @expose("/choose/<int:pk>", methods=["GET"])
    @has_access
    def choose(self, pk):
        """The workspace's active managers, one "Sign in as" button each.
        :raise 404: no such workspace."""
        workspace = self._workspace(pk)
        return self.render_template(
            "relaydesk/sign_in_as.html", workspace=workspace,
            managers=managers_of(workspace.id),
            title=gettext("Sign in as a manager of %(workspace)s", workspace=workspace.name),
            back=url_for("WorkspaceAdminView.show", pk=workspace.id))

    @expose("/end", methods=["POST"])
    def end(self):
        """Return to the master admin's own account (no permission: the session's marker is
        the right to it)."""
        state = marker()
        if state is None or not getattr(current_user, "is_authenticated", False) \
                or current_user.id != state.get("user_id"):
            return redirect("/")
        admin = finish(state)
        if admin is None:
            return redirect(current_app.appbuilder.get_url_for_login)
        flash(gettext("You are back in your own account."), "success")
        return redirect(url_for("WorkspaceAdminView.show", pk=state.get("workspace_id")))
