"""Per-workspace behaviour settings: cooldowns and limits."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, Integer, UniqueConstraint, event, false, insert

from app.models.base import Timestamps, WorkspaceOwned
from app.models.tenancy import Workspace

DEFAULT_COOLDOWNS = {"refill": 24 * 3600, "speed": 12 * 3600, "cancel": 12 * 3600}
#: how often the panel's pending tickets are read (seconds), and the least a workspace may set
DEFAULT_TICKET_POLL_SECONDS = 60
MIN_TICKET_POLL_SECONDS = 5
#: the inbox: minutes after the last team reply before the bot speaks again (0: on resolve only)
DEFAULT_INBOX_RESUME_MINUTES = 30


class WorkspaceSettings(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "workspace_settings"
    __table_args__ = (UniqueConstraint("workspace_id", name="uq_workspace_settings_workspace"),)

    id = Column(Integer, primary_key=True)
    cooldown_refill_seconds = Column(Integer, nullable=False, default=DEFAULT_COOLDOWNS["refill"])
    cooldown_speed_seconds = Column(Integer, nullable=False, default=DEFAULT_COOLDOWNS["speed"])
    cooldown_cancel_seconds = Column(Integer, nullable=False, default=DEFAULT_COOLDOWNS["cancel"])
    max_ids_per_message = Column(Integer, nullable=False, default=100)
    allow_partial_refill = Column(Boolean, nullable=False, default=False)
    fallback_reply_enabled = Column(Boolean, nullable=False, default=False)
    # while the workspace is suspended, customers who write get the `service_paused` reply (at
    # most one per chat an hour; app/jobs/events.py); off: silence
    paused_reply_enabled = Column(Boolean, nullable=False, default=True)
    # the panel ticket workflow (app/jobs/tickets.py): off until the manager turns it on; it
    # also needs the plan's `tickets` module and a panel engine with tickets
    tickets_enabled = Column(Boolean, nullable=False, default=False)
    ticket_poll_seconds = Column(Integer, nullable=False, default=DEFAULT_TICKET_POLL_SECONDS)
    # the team (migration 0028): a new or reopened unassigned customer conversation goes to the
    # online agent who got one least recently (app/team.py `assign_round_robin`); off: by hand
    round_robin_enabled = Column(Boolean, nullable=False, default=False, server_default=false())
    # the inbox: after a team member's takeover the bot speaks again in the chat once this many
    # minutes passed since the last team reply (0: only when the conversation is resolved)
    inbox_resume_minutes = Column(Integer, nullable=False, default=DEFAULT_INBOX_RESUME_MINUTES,
                                  server_default=str(DEFAULT_INBOX_RESUME_MINUTES))

    def __str__(self) -> str:
        return f"Settings of {self.workspace}"

    def cooldown_seconds(self, action: str) -> int:
        return int(getattr(self, f"cooldown_{action}_seconds", 0) or 0)


@event.listens_for(Workspace, "after_insert")
def _every_workspace_has_its_settings(_mapper, connection, workspace) -> None:
    """A workspace is born with its settings row (the defaults), however it is created: the
    master admin's screen, sign-up, the REST API, the demo. The settings screen edits that row;
    without it a new workspace had nothing to edit and no way to add it."""
    connection.execute(insert(WorkspaceSettings.__table__).values(workspace_id=workspace.id))
