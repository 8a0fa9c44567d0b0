"""Authentication add-ons and the role definitions.

Roles are defined in code: every Relaydesk view class names the roles that may use it in
`relaydesk_roles` ({role: "read" | "write"}). `sync_role_definitions` turns that into the exact
permission set of each role, in the database, so the FAB role screens show the truth. It runs
when permissions are updated: at start-up while FAB_UPDATE_PERMS is on (development) and on
deploy through `flask fab create-permissions`.
"""
from __future__ import annotations

import datetime
import logging

from flask import g, has_request_context, request
from flask_appbuilder import AppBuilder
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_login import user_logged_in
from sqlalchemy import func, select, update
from werkzeug.security import check_password_hash

from app.api_limits import limit_api_request
from app.auth import revocation
from app.auth.api import SecurityApi
from app.auth.limits import LoginLocked, client_address, login_limits
from app.auth.passwords import check_password
from app.auth.views import (AuthDBView, PermissionModelView, PermissionViewModelView,
                            ResetMyPasswordView, ResetPasswordView, RoleModelView,
                            UserDBModelView, UserGroupModelView, ViewMenuModelView)

log = logging.getLogger(__name__)

ROLE_ADMIN = "Admin"
ROLE_MANAGER = "WorkspaceManager"
ROLE_AGENT = "WorkspaceAgent"
ROLE_TRANSLATOR = "Translator"
ROLES = (ROLE_ADMIN, ROLE_MANAGER, ROLE_AGENT, ROLE_TRANSLATOR)
MEMBER_ROLE_TO_FAB = {"manager": ROLE_MANAGER, "agent": ROLE_AGENT}

READ = "read"
WRITE = "write"
READ_PERMISSIONS = {"can_list", "can_show", "can_get", "can_info", "can_download"}

# What every signed-in person needs: own profile, own password, language switch, menu API, own
# API keys and the API documentation (OpenAPI at /api/v1/_openapi, Swagger UI at /swagger/v1).
SELF_SERVICE = {
    "UserDBModelView": {"can_userinfo", "userinfoedit", "resetmypassword"},
    "UserInfoEditView": {"can_this_form_get", "can_this_form_post"},
    "ResetMyPasswordView": {"can_this_form_get", "can_this_form_post"},
    "LocaleView": {"can_index"},
    "MenuApi": {"can_get"},
    "MyApiKeysView": {"can_list", "can_create", "can_revoke"},
    "OpenApi": {"can_get"},
    "SwaggerView": {"can_show"},
}
# Menu entries every signed-in person sees (with their category), by menu name.
SELF_SERVICE_MENUS = {"API keys", "API documentation"}


# Longest username or password a sign-in looks up or hashes; anything longer simply fails.
MAX_LOGIN_NAME = 320
MAX_LOGIN_PASSWORD = 1024


#: where a request keeps its roles' permissions (RelaydeskSecurityManager.exist_permission_on_roles)
PERMISSIONS_ENVIRON_KEY = "relaydesk.role_permissions"


class RelaydeskSecurityManager(SecurityManager):
    """FAB's security manager with X-API-Key, the sign-in limits (app.auth.limits), the password
    policy (app.auth.passwords) on every password it sets and the per-login epoch that ends
    sessions and tokens (app.auth.revocation)."""

    authdbview = AuthDBView
    userdbmodelview = UserDBModelView
    rolemodelview = RoleModelView
    groupmodelview = UserGroupModelView
    permissionmodelview = PermissionModelView
    viewmenumodelview = ViewMenuModelView
    permissionviewmodelview = PermissionViewModelView
    resetmypasswordview = ResetMyPasswordView
    resetpasswordview = ResetPasswordView
    security_api = SecurityApi
    # FAB's "User's Statistics" chart loads Google's chart library from another host; the app
    # serves only its own assets (app/security_headers.py). Login counts are on the user screens.
    userstatschartview = None

    def register_views(self):
        """FAB's security screens, their values readable like every other screen's (Yes/No,
        "—", times in the reader's zone, roles by their words: app/views/formatting.py), the
        Profile page (`/users/userinfo/`) included."""
        from app.views.formatting import make_readable  # app.views imports this module

        for view in (self.userdbmodelview, self.rolemodelview, self.groupmodelview,
                     self.permissionmodelview, self.viewmenumodelview,
                     self.permissionviewmodelview):
            make_readable(view)
        super().register_views()

    # --- permission checks ---------------------------------------------------------------------

    def exist_permission_on_roles(self, view_name: str, permission_name: str,
                                  role_ids: list[int]) -> bool:
        """FAB asks this once per menu entry, button and action on a page (about fifty queries
        a page). Within a request the roles' (permission, view) pairs are read once, in one
        query, and every later question is answered from them. The pairs live on the request
        (its WSGI environ), never longer: a change of a role's permissions applies from the
        next request."""
        if not has_request_context():
            return super().exist_permission_on_roles(view_name, permission_name, role_ids)
        key = tuple(sorted(set(role_ids)))
        cached = request.environ.get(PERMISSIONS_ENVIRON_KEY)
        if cached is None or cached[0] != key:
            cached = (key, self._permission_pairs(key))
            request.environ[PERMISSIONS_ENVIRON_KEY] = cached
        return (permission_name, view_name) in cached[1]

    def _permission_pairs(self, role_ids: tuple[int, ...]) -> frozenset[tuple[str, str]]:
        from flask_appbuilder.security.sqla.models import assoc_permissionview_role

        permission_view = self.permissionview_model
        rows = self.session.execute(
            select(self.permission_model.name, self.viewmenu_model.name)
            .select_from(permission_view)
            .join(assoc_permissionview_role,
                  permission_view.id == assoc_permissionview_role.c.permission_view_id)
            .join(self.permission_model, permission_view.permission_id == self.permission_model.id)
            .join(self.viewmenu_model, permission_view.view_menu_id == self.viewmenu_model.id)
            .where(assoc_permissionview_role.c.role_id.in_(role_ids))).all()
        return frozenset((permission, view) for permission, view in rows)

    # --- sessions and tokens -------------------------------------------------------------------

    def create_login_manager(self, app):
        manager = super().create_login_manager(app)
        # FAB hands `current_app` (a proxy): the signal's sender is the app itself.
        flask_app = app._get_current_object() if hasattr(app, "_get_current_object") else app
        user_logged_in.connect(revocation.on_login, flask_app, weak=False)
        return manager

    def create_jwt_manager(self, app):
        manager = super().create_jwt_manager(app)
        manager.additional_claims_loader(revocation.jwt_claims)
        manager.token_in_blocklist_loader(revocation.jwt_revoked)
        return manager

    def load_user(self, pk):
        """The browser session's login, if still active and its epoch is the login's own."""
        user = super().load_user(pk)
        if user is None or revocation.session_epoch() != revocation.current_epoch(user.id):
            return None
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """The token's login (its epoch was checked by the blocklist loader). The call counts
        against the workspace's API rate limit (app/api_limits.py)."""
        user = super().load_user(jwt_data["sub"])
        if user is not None:
            g.user = user
            limit_api_request(user)
        return user

    def validate_api_key(self, api_key_string):
        """FAB's API-key check; a call with a valid key counts against the workspace's API rate
        limit (app/api_limits.py)."""
        user = super().validate_api_key(api_key_string)
        if user is not None:
            limit_api_request(user)
        return user

    # --- signing in ----------------------------------------------------------------------------

    def auth_user_db(self, username, password):
        """FAB's password check under the sign-in limits.

        :raise LoginLocked: while the account or the client address is locked (the password is
            not checked then).
        """
        limits = login_limits()
        address = client_address()
        name = username if isinstance(username, str) else ""
        if len(name) > MAX_LOGIN_NAME or "\x00" in name or not isinstance(password, str) \
                or len(password) > MAX_LOGIN_PASSWORD:  # no login has such a name (PostgreSQL
            # refuses NUL in a query): a failure, counted on the address only
            retry = limits.retry_after(None, address)
            if retry:
                raise LoginLocked(retry)
            limits.failed(None, address)
            return None
        account = self.login_account(name)
        retry = limits.retry_after(account, address)
        if retry:
            log.info("sign-in refused while locked (%s s left)", retry)
            raise LoginLocked(retry)
        user = super().auth_user_db(name, password)
        if user:
            limits.succeeded(account)
        else:
            limits.failed(account, address)
        return user

    def login_account(self, name: str) -> str:
        """The account a sign-in name counts for: the login's username when the name is one's
        username or e-mail address, else the name itself (compared without regard to case)."""
        if not name.strip():
            return ""
        user = self.find_user(username=name) or self.find_user(email=name)
        return user.username if user is not None else name

    def verify_current_password(self, user, password: str) -> bool:
        """The current password asked before changing one's own: a wrong one is a failed
        sign-in (counted on the login and in the limits).

        :raise LoginLocked: while the account or the client address is locked.
        """
        limits = login_limits()
        address = client_address()
        retry = limits.retry_after(user.username, address)
        if retry:
            raise LoginLocked(retry)
        if isinstance(password, str) and len(password) <= MAX_LOGIN_PASSWORD \
                and check_password_hash(user.password, password):
            limits.succeeded(user.username)
            return True
        self.update_user_auth_stat(user, False)
        limits.failed(user.username, address)
        return False

    def update_user_auth_stat(self, user, success=True):
        """FAB's sign-in statistics, counted with one atomic UPDATE (concurrent failures in
        several processes are all counted), except that a success no longer resets
        `fail_login_count`: it counts every failed attempt, so a burst of failures stays
        visible to the master admin after the next successful sign-in (FAB zeroes it)."""
        model = self.user_model
        counter = model.login_count if success else model.fail_login_count
        values = {counter.key: func.coalesce(counter, 0) + 1}
        if success:
            values["last_login"] = datetime.datetime.now()  # local time, as FAB writes it
        self.session.execute(update(model).where(model.id == user.id).values(**values))
        self.session.commit()
        if success:
            self.on_user_login(user)
        else:
            self.on_user_login_failed(user)

    # --- setting passwords ---------------------------------------------------------------------

    def add_user(self, username, first_name, last_name, email, role=None, password="",
                 hashed_password="", groups=None, commit=True):
        """FAB's add_user; a plain-text password must pass the policy.

        :raise PasswordPolicyError: if it does not (nothing is written).
        """
        if password and not hashed_password:
            check_password(password, username, subject=f"password of '{username}'")
        return super().add_user(username, first_name, last_name, email, role=role,
                                password=password, hashed_password=hashed_password,
                                groups=groups, commit=commit)

    def reset_password(self, userid, password):
        """Set a login's password (policy checked) and end all its sessions and tokens, in one
        transaction.

        :raise PasswordPolicyError: if the policy refuses it (nothing is written).
        :raise LookupError: if there is no such login.
        """
        user = self.get_user_by_id(userid)
        if user is None:
            raise LookupError(f"no login with id {userid}")
        check_password(password, user.username, subject=f"password of '{user.username}'")
        revocation.raise_epoch(user.id)
        super().reset_password(user.id, password)

    @staticmethod
    def extract_api_key_from_request():
        """Per-user API keys come as `X-API-Key` (also accepted: `Authorization: Bearer rdk_…`)."""
        key = request.headers.get("X-API-Key", "").strip()
        if key:
            return key
        return SecurityManager.extract_api_key_from_request()

    def sync_role_definitions(self) -> None:
        """Make each role's permissions exactly what the view classes declare."""
        wanted: dict[str, set[tuple[str, str]]] = {r: set() for r in ROLES if r != ROLE_ADMIN}
        menu_of = _menu_names_by_view(self.appbuilder)
        for view in self.appbuilder.baseviews:
            view_name = view.class_permission_name
            perms = set(view.base_permissions or [])
            for role, level in getattr(view, "relaydesk_roles", {}).items():
                granted = perms if level == WRITE else perms & READ_PERMISSIONS
                wanted[role] |= {(p, view_name) for p in granted}
                for menu_name in menu_of.get(view.__class__.__name__, ()):
                    wanted[role].add(("menu_access", menu_name))
            own = SELF_SERVICE.get(view.__class__.__name__) or SELF_SERVICE.get(view_name)
            if own:
                for role in wanted:
                    wanted[role] |= {(p, view_name) for p in own & perms}
        for role in wanted:
            wanted[role] |= {("menu_access", name) for name in _self_service_menus(self.appbuilder)}
        for role_name, pairs in wanted.items():
            role = self.add_role(role_name)
            pvms = []
            for perm, view_menu in sorted(pairs):
                pvm = self.add_permission_view_menu(perm, view_menu)
                if pvm is not None:
                    pvms.append(pvm)
            role.permissions = pvms
            self.session.merge(role)
        self.add_role(ROLE_ADMIN)
        self.session.commit()


def _self_service_menus(appbuilder) -> set[str]:
    """The SELF_SERVICE_MENUS present in the menu, with their categories."""
    names: set[str] = set()
    for item in appbuilder.menu.get_list():
        for child in item.childs or [item]:
            if getattr(child, "name", None) in SELF_SERVICE_MENUS:
                names.add(child.name)
                if child is not item:
                    names.add(item.name)
    return names


def _menu_names_by_view(appbuilder) -> dict[str, set[str]]:
    """Menu entries (and their categories) that lead to each view class."""
    result: dict[str, set[str]] = {}
    for item in appbuilder.menu.get_list():
        children = item.childs or [item]
        for child in children:
            if child.baseview is None:
                continue
            names = result.setdefault(child.baseview.__class__.__name__, set())
            names.add(child.name)
            if child is not item:
                names.add(item.name)
    return result


class RelaydeskAppBuilder(AppBuilder):
    """AppBuilder that re-syncs the code-defined roles whenever permissions are updated."""

    def _add_admin_views(self) -> None:
        # FAB grants every permission it creates to the Admin role, which it would look up and
        # find missing on a fresh database (FAB_CREATE_DB is off: Alembic owns the schema). Then
        # the first start logs a traceback per view and the master admin is left without those
        # permissions. Create the role first; this runs right after the security manager exists.
        if self.update_perms:
            self.sm.add_role(self.sm.auth_role_admin)
        from app.openapi import RelaydeskOpenApiManager

        # the OpenAPI document describes every operation's real answers (app/openapi.py)
        self.openapi_manager = RelaydeskOpenApiManager(self)
        super()._add_admin_views()

    def add_permissions(self, update_perms: bool = False) -> None:
        # `flask fab create-permissions` (the release step) on a new database runs before
        # `flask init` has made any role: FAB grants each permission it writes to the Admin
        # role, found missing, so it logged a traceback per view and the master admin got
        # nothing from it. Create the role first, as `_add_admin_views` does at a start-up.
        if self.update_perms or update_perms:
            self.sm.add_role(self.sm.auth_role_admin)
        super().add_permissions(update_perms=update_perms)
        if self.update_perms or update_perms:
            self.sm.sync_role_definitions()
