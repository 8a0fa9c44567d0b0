"""The audit trail: one row per configuration change (who, when, how, what, before → after).

Rows are written by one session hook (app/audit.py), never by screens or the REST API, and are
never changed or deleted by the application: the screens and the REST resource over them are
read-only. A row of a workspace's configuration carries that workspace's id (its managers read
it); a change of platform data (plans, default replies, e-mail templates) carries none (the
master admin's only).

No foreign keys, on purpose: the trail outlives what it describes. A deleted workspace, row or
login leaves its rows (and their labels, copied when written) in place, and a row can be written
in the same flush that deletes the workspace it belongs to.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import JSON, Column, DateTime, Index, Integer, String
from sqlalchemy.orm import relationship

from app.models.base import utcnow

#: how a change was made: a screen (a browser form or action), the REST API, a workspace file
#: import, a command line command, or the platform itself (jobs, webhooks, sign-up)
AUDIT_VIA = ("screen", "api", "import", "cli", "system")
#: what was done; `sign_in_as` / `sign_in_as_end`: the master admin began / ended acting as a
#: workspace's manager (app/auth/impersonation.py)
AUDIT_ACTIONS = ("create", "update", "delete", "sign_in_as", "sign_in_as_end")


class AuditEntry(Model):
    """One change. `changes` is `{column: [before, after]}` (create: before is null; delete:
    after is null); a secret's value is never stored, only the word `"changed"` (app/audit.py)."""

    __tablename__ = "audit_entry"
    # Scoped like workspace-owned rows (app/tenancy.py): a manager sees their workspace's rows,
    # never the platform's (workspace_id NULL) nor another workspace's.
    __workspace_owned__ = True
    __table_args__ = (
        Index("ix_audit_entry_workspace_created", "workspace_id", "created_at"),
        Index("ix_audit_entry_created_at", "created_at"),
    )

    id = Column(Integer, primary_key=True)
    workspace_id = Column(Integer, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    actor_user_id = Column(Integer, nullable=True)
    actor_label = Column(String(200), nullable=True)
    via = Column(String(20), nullable=False, default="system")
    impersonator_user_id = Column(Integer, nullable=True)
    impersonator_label = Column(String(200), nullable=True)
    action = Column(String(20), nullable=False)
    model = Column(String(60), nullable=False)
    row_id = Column(Integer, nullable=True)
    row_label = Column(String(200), nullable=True)
    changes = Column(JSON, nullable=True)

    # no foreign key (see the module docstring): joined on the column, read-only
    workspace = relationship("Workspace", primaryjoin="foreign(AuditEntry.workspace_id) == "
                             "Workspace.id", viewonly=True)

    def __str__(self) -> str:
        return f"{self.action} {self.model} #{self.row_id}"

    # What the screens show (app/views/audit.py formats them): the changes with the model they
    # belong to, since a column's words and values depend on it.
    def change_table(self) -> tuple[str, str, dict]:
        return (self.model, self.action, dict(self.changes or {}))

    def changed_fields(self) -> tuple[str, str, dict]:
        return (self.model, self.action, dict(self.changes or {}))
