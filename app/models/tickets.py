"""Panel tickets: the workspace's subject rules (configuration) and the ticket activity (what
the ticket runner did with each customer message it read, app/jobs/tickets.py).

These are the tickets of the workspace's own SMM panel (Perfect Panel), answered for the
panel's customers. The platform's support queue (a workspace's tickets to the Relaydesk team,
app/models/support.py) is a different thing and shares nothing with them.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, Index, Integer, String, Text,
                        UniqueConstraint)

from app.models.base import Timestamps, WorkspaceOwned, code_column, utcnow
from app.models.events import BigId
from app.redaction import redacted

#: what a subject rule makes of a ticket: an order action, or `ignore` (left to the staff)
TICKET_RULE_ACTIONS = ("refill", "speed", "cancel", "details", "ignore")

#: claimed: being handled now (re-taken by another poll once TICKET_CLAIM_LEASE passed);
#: replying: the reply is being posted (never posted again); answered: the reply reached the
#: panel; skipped: nothing to answer (no rule, no order id, `ignore`); failed: the run or the
#: panel failed before anything was posted (tried again at a later poll, a few times);
#: reply_failed: the panel refused the reply; reply_unknown: the reply may or may not have
#: reached the panel (a timeout): it is never posted again
TICKET_STATES = ("claimed", "replying", "answered", "skipped", "failed", "reply_failed",
                 "reply_unknown")


class TicketRule(Timestamps, WorkspaceOwned, Model):
    """A subject rule: a ticket whose subject contains one of `subject_words` and/or whose
    customer message contains one of `message_words` gets `action` on the order ids the
    customer wrote. Words are plain text (no patterns), matched case- and accent-insensitively;
    rules are tried by `position`, then the built-in defaults (app/domain/ticket_rules.py)."""

    __tablename__ = "ticket_rule"
    __table_args__ = (Index("ix_ticket_rule_workspace_position", "workspace_id", "position"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(100), nullable=False)
    position = Column(Integer, nullable=False, default=100)
    subject_words = Column(Text, nullable=True)
    message_words = Column(Text, nullable=True)
    action = code_column(TICKET_RULE_ACTIONS, "ticket_rule_action")
    enabled = Column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return self.name or f"#{self.id}"


class TicketActivity(WorkspaceOwned, Model):
    """One customer message of a panel ticket, as the ticket runner handled it. The row is
    also the claim: UNIQUE (workspace, ticket, message key) is taken before anything is done,
    so a message is answered once across polls, restarts and workers."""

    __tablename__ = "ticket_activity"
    __table_args__ = (
        UniqueConstraint("workspace_id", "ticket_id", "message_key", name="uq_ticket_activity"),
        Index("ix_ticket_activity_workspace_created", "workspace_id", "created_at"),
        # a log list: newest first in a workspace (migration 0018)
        Index("ix_ticket_activity_workspace_id_id", "workspace_id", "id"),
    )

    id = Column(BigId, primary_key=True)
    ticket_id = Column(String(40), nullable=False)
    #: which customer message: its position in the ticket and a hash of its text
    message_key = Column(String(80), nullable=False)
    username = Column(String(120), nullable=True)
    subject = Column(String(300), nullable=True)
    #: the customer's messages after the last staff reply, as read
    customer_text = Column(Text, nullable=True)
    rule = Column(String(120), nullable=True)
    action = Column(String(20), nullable=True)
    order_ids = Column(Text, nullable=True)
    language = Column(String(10), nullable=True)
    state = code_column(TICKET_STATES, "ticket_activity_state")
    outcome = Column(String(60), nullable=True)
    reply_text = Column(Text, nullable=True)
    #: per order: its verdict, route and dispatch message
    orders = Column(JSON, nullable=False, default=list)
    trace = Column(JSON, nullable=False, default=list)
    error = Column(Text, nullable=True, info=redacted())
    attempts = Column(Integer, nullable=False, default=1)
    claimed_at = Column(DateTime, nullable=False, default=utcnow)
    #: the last poll that read this message (tickets least recently read are read first)
    checked_at = Column(DateTime, nullable=False, default=utcnow)
    replied_at = Column(DateTime, nullable=True)
    duration_ms = Column(Float, nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"#{self.ticket_id} {self.username or ''}".strip()
