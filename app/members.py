"""The team of a workspace: inviting, suspending, reactivating, changing roles and removing.

Used by the members screen (a manager for their own workspace, the master admin for any). The
rules, in one place:

* A member's login has the FAB role of their member role (manager → WorkspaceManager, agent →
  WorkspaceAgent); changing one changes the other.
* Suspending deactivates the login and raises its revocation epoch: its sessions and tokens end
  at once and it cannot sign in until reactivated (its API keys stop working while inactive).
* Removing deletes the login with its membership (a login belongs to one workspace only).
* Lockout protection: a workspace always keeps an active manager. Suspending, demoting or
  removing the last active manager is refused, whoever asks (the master admin promotes another
  member first). A manager never suspends, demotes or removes themselves (another manager or the
  master admin does), so nobody locks themselves out by a slip.
"""
from __future__ import annotations

import secrets

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, update
from sqlalchemy.orm.attributes import get_history

from app.auth import revocation
from app.extensions import db
from app.models import WorkspaceMember
from app.plans import check_room
from app.security import MEMBER_ROLE_TO_FAB

ROLES = tuple(MEMBER_ROLE_TO_FAB)


class TeamError(ValueError):
    """A change to the team that the rules refuse; the message is fit for the person."""


LAST_MANAGER = _l("A workspace needs an active manager: make another member a manager first.")
NOT_YOURSELF = _l("You cannot suspend, demote or remove yourself: ask another manager.")
EMAIL_TAKEN = _l("This e-mail address already belongs to a login.")


def _user_model():
    return current_app.appbuilder.sm.user_model


def active_managers(workspace_id: int, excluding_member_id: int | None = None) -> int:
    user = _user_model()
    query = (db.session.query(func.count(WorkspaceMember.id))
             .join(user, user.id == WorkspaceMember.user_id)
             .filter(WorkspaceMember.workspace_id == workspace_id,
                     WorkspaceMember.role == "manager", user.active.is_(True)))
    if excluding_member_id is not None:
        query = query.filter(WorkspaceMember.id != excluding_member_id)
    with db.session.no_autoflush:
        return query.scalar() or 0


def _was_active_manager(member: WorkspaceMember) -> tuple[bool, int | None]:
    """Whether the member was (before pending changes) an active manager, and of which
    workspace."""
    role = get_history(member, "role")
    workspace = get_history(member, "workspace_id")
    old_role = (role.deleted or role.unchanged or role.added or [None])[0]
    old_workspace = (workspace.deleted or workspace.unchanged or workspace.added or [None])[0]
    active = bool(member.user and member.user.active)
    return (old_role == "manager" and active and member.id is not None), old_workspace


def keep_an_active_manager(member: WorkspaceMember, *, leaving: bool = False) -> None:
    """Refuse a change that would leave the member's (former) workspace without an active
    manager. `leaving`: the member is being suspended or removed.

    :raise TeamError: LAST_MANAGER.
    """
    was_manager, old_workspace = _was_active_manager(member)
    if not was_manager:
        return
    # a form sets the relationship; its foreign key column changes only at the flush
    new_workspace = member.workspace.id if member.workspace is not None else member.workspace_id
    stays = not leaving and member.role == "manager" and new_workspace == old_workspace
    if not stays and active_managers(old_workspace, excluding_member_id=member.id) == 0:
        raise TeamError(str(LAST_MANAGER))


def not_yourself(member: WorkspaceMember, actor_id: int | None) -> None:
    """:raise TeamError: NOT_YOURSELF when the member is the person acting."""
    if actor_id is not None and member.user_id == actor_id:
        raise TeamError(str(NOT_YOURSELF))


def set_fab_role(member: WorkspaceMember) -> None:
    """Give the member's login the FAB role of their member role (other roles kept)."""
    sm = current_app.appbuilder.sm
    wanted = sm.find_role(MEMBER_ROLE_TO_FAB[member.role])
    user = member.user
    others = [r for r in user.roles if r.name not in MEMBER_ROLE_TO_FAB.values()]
    if set(user.roles) != {*others, wanted}:
        user.roles = [*others, wanted]


def email_taken(email: str) -> bool:
    user = _user_model()
    lowered = email.strip().lower()
    return db.session.query(user.id).filter(
        or_(func.lower(user.email) == lowered, func.lower(user.username) == lowered)
    ).first() is not None


def invite(workspace_id: int, email: str, full_name: str | None, role: str):
    """Create the login (username = e-mail address, an unguessable password nobody is told)
    and its membership, committed. The caller queues the invitation mail.

    :raise PlanLimitReached: when the workspace's plan has no room for another member
        (`max_team_members`; the workspace's row stays locked until the commit, so two
        invitations at the limit cannot both pass). Nothing is written; the caller rolls back.
    :raise TeamError: EMAIL_TAKEN, or an unknown role.
    """
    if role not in ROLES:
        raise TeamError(f"unknown role {role!r}")
    check_room(workspace_id, "max_team_members")
    email = email.strip().lower()
    if email_taken(email):
        raise TeamError(str(EMAIL_TAKEN))
    sm = current_app.appbuilder.sm
    first, _, last = (full_name or "").strip().partition(" ")
    user = sm.add_user(email, (first or email.split("@")[0])[:64], last[:64], email,
                       sm.find_role(MEMBER_ROLE_TO_FAB[role]),
                       hashed_password=_unusable_password_hash(), commit=False)
    if not user:  # FAB logged the reason and rolled back
        raise TeamError(str(_l("The login could not be created.")))
    db.session.flush()
    db.session.add(WorkspaceMember(workspace_id=workspace_id, user_id=user.id, role=role))
    db.session.commit()
    return user


def _unusable_password_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash(secrets.token_urlsafe(32))


def suspend(member: WorkspaceMember, actor_id: int | None) -> bool:
    """Deactivate the member's login and end its sessions and tokens (the caller commits).
    Returns False when it was already suspended.

    :raise TeamError: NOT_YOURSELF or LAST_MANAGER.
    """
    not_yourself(member, actor_id)
    if not member.user.active:
        return False
    keep_an_active_manager(member, leaving=True)
    member.user.active = False
    revocation.raise_epoch(member.user_id)
    return True


def reactivate(member: WorkspaceMember) -> bool:
    """Let the login sign in again (the caller commits). False when it was active."""
    if member.user.active:
        return False
    member.user.active = True
    return True


def never_signed_in(member: WorkspaceMember) -> bool:
    return bool(member.user) and not member.user.login_count and member.user.last_login is None


def remove(member: WorkspaceMember, actor_id: int | None) -> None:
    """Check that the member may be removed (the caller deletes the row, then calls
    `delete_login`).

    :raise TeamError: NOT_YOURSELF or LAST_MANAGER.
    """
    not_yourself(member, actor_id)
    keep_an_active_manager(member, leaving=True)


def delete_login(user_id: int) -> None:
    """Delete a removed member's login (committed). Logins it created or changed keep their
    rows, with the reference cleared."""
    user = _user_model()
    for column in (user.created_by_fk, user.changed_by_fk):
        db.session.execute(update(user).where(column == user_id).values({column.key: None}))
    row = db.session.get(user, user_id)
    if row is not None:
        db.session.delete(row)
    db.session.commit()
