"""First-run set-up: roles and the master admin. Idempotent."""
from __future__ import annotations

from flask import current_app

from app.auth.passwords import check_password, generate_password
from app.security import ROLE_ADMIN, ROLES


def ensure_roles() -> None:
    """Create the roles and give each its permissions.

    With FAB_UPDATE_PERMS off (production) the start-up wrote no permissions; on a new database
    the Admin role would then have none, and the master admin could sign in and open nothing.
    They are written here, once the Admin role exists (FAB grants every permission it writes to
    that role). Later deploys keep running `flask fab create-permissions`.
    """
    appbuilder = current_app.appbuilder
    sm = appbuilder.sm
    for role in ROLES:
        sm.add_role(role)
    sm.add_role(current_app.config.get("AUTH_ROLE_PUBLIC", "Public"))
    if appbuilder.update_perms or sm.find_role(ROLE_ADMIN).permissions:
        sm.sync_role_definitions()
    else:
        appbuilder.add_permissions(update_perms=True)  # RelaydeskAppBuilder syncs the roles too


def ensure_master_admin() -> tuple[bool, str | None]:
    """Create the master admin if missing. Returns (created, generated password or None).

    The password comes from ADMIN_PASSWORD or is generated here: there is no fixed default.

    :raise PasswordPolicyError: if ADMIN_PASSWORD does not pass the password policy (nothing is
        created; `flask init` prints the reasons and exits with status 1).
    """
    sm = current_app.appbuilder.sm
    config = current_app.config
    username = config["ADMIN_USERNAME"]
    if sm.find_user(username=username) is not None:
        return False, None
    password = config.get("ADMIN_PASSWORD")
    generated = None
    if password:
        check_password(password, username, subject="ADMIN_PASSWORD is refused")
    else:
        password = generated = generate_password(username)
    user = sm.add_user(username, "Master", "Admin", config["ADMIN_EMAIL"],
                       sm.find_role(ROLE_ADMIN), password=password)
    if not user:
        raise RuntimeError(f"could not create the master admin '{username}'")
    return True, generated
