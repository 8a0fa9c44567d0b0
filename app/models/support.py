"""The platform support queue: a workspace's tickets to the platform team and their messages.

Not the SMM panel's own customer tickets (those live on the panel, app/integrations/panels):
these are what a workspace's managers ask Relaydesk's operators. The rules (who may write
what, statuses, mails) are app/support.py's.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import relationship

from app.models.base import Timestamps, WorkspaceOwned, utcnow

SUPPORT_CATEGORIES = ("billing", "technical", "account", "other")
#: `open`: waits for the platform's answer; `answered`: the platform answered, the customer may
#: reply (which opens it again); `closed`: done (either side may reopen it)
SUPPORT_STATUSES = ("open", "answered", "closed")
SUPPORT_PRIORITIES = ("normal", "high")
SUBJECT_MAX = 200
BODY_MAX = 5000


class SupportTicket(Timestamps, WorkspaceOwned, Model):
    """A question of a workspace to the platform team, answered in its messages."""

    __tablename__ = "support_ticket"

    id = Column(Integer, primary_key=True)
    subject = Column(String(SUBJECT_MAX), nullable=False)
    category = Column(
        Enum(*SUPPORT_CATEGORIES, name="support_category", native_enum=False,
             create_constraint=True),
        nullable=False, default="other")
    status = Column(
        Enum(*SUPPORT_STATUSES, name="support_status", native_enum=False,
             create_constraint=True),
        nullable=False, default="open", index=True)
    priority = Column(
        Enum(*SUPPORT_PRIORITIES, name="support_priority", native_enum=False,
             create_constraint=True),
        nullable=False, default="normal")
    opened_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"),
                          nullable=True)
    opened_by = relationship("User")
    # the newest public message (internal notes do not count): the queue's "waiting since"
    last_reply_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    last_reply_by_platform = Column(Boolean, nullable=False, default=False)
    messages = relationship("SupportMessage", back_populates="ticket",
                            cascade="all, delete-orphan",
                            order_by="(SupportMessage.created_at, SupportMessage.id)")

    @property
    def number(self) -> str:
        return f"#{self.id}" if self.id is not None else ""

    def __str__(self) -> str:
        return f"{self.number} {self.subject}"


class SupportMessage(WorkspaceOwned, Model):
    """One message of a ticket: the customer's, the platform's public reply, or a platform
    note (`internal`) that only the master admins ever see. The workspace is the ticket's
    (kept on the row so that every query of it is scoped like any other)."""

    __tablename__ = "support_message"

    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("support_ticket.id", ondelete="CASCADE"),
                       nullable=False, index=True)
    ticket = relationship("SupportTicket", back_populates="messages")
    author_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)
    author = relationship("User")
    # the author's name when it was written (a login renamed or deleted later keeps it)
    author_label = Column(String(200), nullable=False)
    from_platform = Column(Boolean, nullable=False, default=False)
    internal = Column(Boolean, nullable=False, default=False)
    body = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"{self.ticket} · {self.author_label}"
