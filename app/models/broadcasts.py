"""Broadcasts: one text sent once to every linked user of an audience (issue 14).

A `Broadcast` is what the manager writes (name, text with `{username}`, audience, when); its
`BroadcastRecipient` rows are made when it starts (one per linked user, through ONE chat
identity) and carry each recipient's state. The sending itself is app/jobs/broadcasts.py's:
an `OutboundMessage` per recipient under the idempotency key `broadcast:<id>:<recipient id>`.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Column, DateTime, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import (CHAT_ID_LENGTH, Timestamps, WorkspaceOwned, code_column,
                             join_list, split_list)
from app.models.events import BigId

#: draft: being written; scheduled: starts at `scheduled_at`; running: sending; paused: the
#: manager paused it (nothing new is sent); done: every recipient has an outcome; canceled:
#: stopped for good (recipients not sent yet stay unsent)
BROADCAST_STATUSES = ("draft", "scheduled", "running", "paused", "done", "canceled")
#: pending: not sent yet; sending: its message is written and on its way; sent; failed (with
#: the reason); skipped: not sent on purpose (opted out, or the broadcast was canceled)
RECIPIENT_STATES = ("pending", "sending", "sent", "failed", "skipped")
NAME_MAX = 120
#: what an audience may hold (`audience` of the REST resource)
AUDIENCE_KEYS = ("channel_kinds", "languages", "tags")


class Broadcast(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "broadcast"

    id = Column(Integer, primary_key=True)
    name = Column(String(NAME_MAX), nullable=False)
    text = Column(Text, nullable=False)
    # the audience: comma lists (empty: everyone)
    channel_kinds = Column(Text, nullable=True)
    languages = Column(Text, nullable=True)
    tags = Column(Text, nullable=True)
    scheduled_at = Column(DateTime, nullable=True)
    status = code_column(BROADCAST_STATUSES, "broadcast_status", default="draft", index=True)
    total = Column(Integer, nullable=False, default=0)
    sent = Column(Integer, nullable=False, default=0)
    failed = Column(Integer, nullable=False, default=0)
    skipped = Column(Integer, nullable=False, default=0)
    started_at = Column(DateTime, nullable=True)
    finished_at = Column(DateTime, nullable=True)
    #: recipients were chosen (once, when it first ran)
    prepared_at = Column(DateTime, nullable=True)
    recipients = relationship("BroadcastRecipient", back_populates="broadcast",
                              cascade="all, delete-orphan", passive_deletes=True,
                              lazy="dynamic")

    @property
    def remaining(self) -> int:
        return max(0, (self.total or 0) - (self.sent or 0) - (self.failed or 0)
                   - (self.skipped or 0))

    @property
    def audience(self) -> dict:
        return {"channel_kinds": split_list(self.channel_kinds),
                "languages": split_list(self.languages), "tags": split_list(self.tags)}

    @audience.setter
    def audience(self, value: dict | None) -> None:
        value = value or {}
        # an empty list is stored as NULL, never '' (as every screen stores an empty field)
        self.channel_kinds = join_list(value.get("channel_kinds") or ()).replace(" ", "") or None
        self.languages = join_list(value.get("languages") or ()).replace(" ", "") or None
        self.tags = join_list(value.get("tags") or ()) or None

    def __str__(self) -> str:
        return self.name or ""


class BroadcastRecipient(WorkspaceOwned, Model):
    """One linked user of a broadcast, reached through one chat identity."""

    __tablename__ = "broadcast_recipient"
    __table_args__ = (
        UniqueConstraint("broadcast_id", "linked_user_id", name="uq_broadcast_recipient_user"),
        Index("ix_broadcast_recipient_state", "broadcast_id", "state", "id"),
    )

    id = Column(BigId, primary_key=True)
    broadcast_id = Column(Integer, ForeignKey("broadcast.id", ondelete="CASCADE"),
                          nullable=False)
    broadcast = relationship("Broadcast", back_populates="recipients")
    linked_user_id = Column(Integer, ForeignKey("linked_user.id", ondelete="SET NULL"),
                            nullable=True, index=True)
    linked_user = relationship("LinkedUser")
    username = Column(String(120), nullable=False, default="")
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="SET NULL"), nullable=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False, default="")
    language = Column(String(10), nullable=False, default="en")
    state = code_column(RECIPIENT_STATES, "broadcast_recipient_state", default="pending")
    reason = Column(String(300), nullable=True)
    outbound_id = Column(BigId, ForeignKey("outbound_message.id", ondelete="SET NULL"),
                         nullable=True, index=True)
    sent_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return f"{self.username} @ {self.chat_id}"
