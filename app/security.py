"""Authentication add-ons and the role definitions.

Roles are defined in code: every Relaydesk view class names the roles that may use it in
`relaydesk_roles` ({role: "read" | "write"}). `sync_role_definitions` turns that into the exact
permission set of each role, in the database, so the FAB role screens show the truth. It runs
when permissions are updated: at start-up while FAB_UPDATE_PERMS is on (development) and on
deploy through `flask fab create-permissions`.
"""
from __future__ import annotations

import logging

from flask import request
from flask_appbuilder import AppBuilder
from flask_appbuilder.security.sqla.manager import SecurityManager

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


class RelaydeskSecurityManager(SecurityManager):
    # FAB's "User's Statistics" chart loads Google's chart library from another host; the app
    # serves only its own assets (app/security_headers.py). Login counts are on the user screens.
    userstatschartview = None

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
        super()._add_admin_views()

    def add_permissions(self, update_perms: bool = False) -> None:
        super().add_permissions(update_perms=update_perms)
        if self.update_perms or update_perms:
            self.sm.sync_role_definitions()
