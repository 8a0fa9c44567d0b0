"""Workspaces (tenants) and the people who work in them."""
from __future__ import annotations

import secrets

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, DateTime, Enum, ForeignKey, Integer, String, Text,
                        false)
from sqlalchemy.orm import relationship

from app.models.base import Timestamps, WorkspaceOwned, utcnow

#: `pending`: signed up on a paid plan, waiting for its first payment (or its approval); it is
#: set up but handles no message until it is `active` (app/billing.py)
WORKSPACE_STATUSES = ("pending", "active", "suspended")


def _initial_config_version() -> int:
    return secrets.randbelow(2**30)


MEMBER_ROLES = ("manager", "agent")
MEMBER_AVAILABILITY = ("online", "away")


class Workspace(Timestamps, Model):
    __tablename__ = "workspace"

    id = Column(Integer, primary_key=True)
    slug = Column(String(64), unique=True, nullable=False)
    name = Column(String(120), nullable=False)
    language = Column(String(10), nullable=False, default="en")
    timezone = Column(String(64), nullable=False, default="UTC")
    plan_id = Column(Integer, ForeignKey("plan.id", ondelete="SET NULL"), nullable=True, index=True)
    plan = relationship("Plan")
    status = Column(
        Enum(*WORKSPACE_STATUSES, name="workspace_status", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="active",
    )
    # why the workspace is suspended, in the master admin's words (its members see it)
    suspended_reason = Column(Text, nullable=True)
    # Bumped whenever this workspace's configuration changes (app/jobs/workspace_config.py):
    # workers keep a snapshot of the configuration and reload it when this moves. A new
    # workspace starts at a random value, so one that reuses a deleted workspace's id (SQLite
    # reuses row ids) never matches a snapshot of the old one.
    config_version = Column(Integer, nullable=False, default=_initial_config_version,
                            server_default="0")

    def __str__(self) -> str:
        return self.name or self.slug


class WorkspaceMember(WorkspaceOwned, Model):
    """A login (FAB user) working in one workspace. A user belongs to at most one workspace."""

    __tablename__ = "workspace_member"

    id = Column(Integer, primary_key=True)
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False,
                     unique=True)
    user = relationship("User")
    role = Column(
        Enum(*MEMBER_ROLES, name="member_role", native_enum=False, create_constraint=True),
        nullable=False,
        default="agent",
    )
    created_at = Column(DateTime, nullable=False, default=utcnow)
    # the team (issue 16): what the member says (online takes new conversations in the
    # round-robin, away does not), when an open inbox page last showed them present, and when
    # the round-robin last gave them a conversation
    availability = Column(Enum(*MEMBER_AVAILABILITY, name="member_availability",
                               native_enum=False, create_constraint=True),
                          nullable=False, default="away")
    last_seen_at = Column(DateTime, nullable=True)
    last_assigned_at = Column(DateTime, nullable=True)
    # the member's own notification preferences on a new inbound message (migration 0028): a
    # sound, and the browser's notification (which the browser also asks the person to allow)
    notify_sound = Column(Boolean, nullable=False, default=False, server_default=false())
    notify_desktop = Column(Boolean, nullable=False, default=False, server_default=false())

    def __str__(self) -> str:
        return f"{self.user} ({self.role})"

    # What a manager needs to know of a member's login, and nothing more (no password hash,
    # no login counters): the members screen and its REST twin show these.
    def username(self) -> str | None:
        return self.user.username if self.user else None

    def full_name(self) -> str | None:
        return self.user.get_full_name() if self.user else None

    def email(self) -> str | None:
        return self.user.email if self.user else None

    def active(self) -> bool | None:
        return bool(self.user.active) if self.user else None

    def status(self) -> str | None:
        """"active", "invited" (never signed in yet) or "suspended" (the login is inactive)."""
        if self.user is None:
            return None
        if not self.user.active:
            return "suspended"
        if not self.user.login_count and self.user.last_login is None:
            return "invited"
        return "active"

    def last_login(self) -> str | None:
        when = self.user.last_login if self.user else None
        return when.isoformat(timespec="seconds") if when else None
