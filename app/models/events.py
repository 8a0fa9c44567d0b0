"""What the platforms tell us: one row per notification, committed before the webhook answers.

`InboundEvent` rows are the durable queue (docs/contracts.md "Persist first, then process"):
the UNIQUE (channel_id, dedupe_key) makes duplicate deliveries harmless, and `state` + `lease_until`
let the maintenance runner re-enqueue what a dead worker or a Redis outage left behind.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, BigInteger, Boolean, Column, DateTime, Enum, ForeignKey, Index,
                        Integer, String, Text, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, WorkspaceOwned, utcnow
from app.redaction import redacted
from app.labels import code_label

EVENT_KINDS = ("message", "status", "state", "membership", "other")
EVENT_STATES = ("pending", "queued", "processing", "done", "failed", "ignored", "skipped")
# why an event was `skipped` (stored, never processed, never retried: app/jobs/events.py
# `skip_reason`): the plan does not include the channel's medium, the workspace is suspended, or
# it waits for its first payment
SKIP_REASONS = ("plan", "suspended", "pending")
PLATFORMS = ("greenapi", "meta", "telegram", "webchat")

# BIGINT on PostgreSQL, INTEGER on SQLite (which only autoincrements INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class InboundEvent(WorkspaceOwned, Model):
    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("channel_id", "dedupe_key", name="uq_inbound_event_dedupe"),
        Index("ix_inbound_event_state_lease", "state", "lease_until"),
        Index("ix_inbound_event_workspace_received", "workspace_id", "received_at"),
        # a log list: newest first in a workspace (migration 0018)
        Index("ix_inbound_event_workspace_id_id", "workspace_id", "id"),
        # a conversation's thread: one chat's messages newest first (migration 0020)
        Index("ix_inbound_event_chat_thread", "workspace_id", "channel_id", "chat_id",
              "received_at", "id"),
    )

    id = Column(BigId, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    platform = Column(Enum(*PLATFORMS, name="event_platform", native_enum=False,
                           create_constraint=True), nullable=False)
    kind = Column(Enum(*EVENT_KINDS, name="event_kind", native_enum=False,
                       create_constraint=True), nullable=False)
    type = Column(String(60), nullable=False)  # the platform's own name for it
    dedupe_key = Column(String(255), nullable=False)
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=True, index=True)
    sender = Column(String(CHAT_ID_LENGTH), nullable=True)
    sender_name = Column(String(255), nullable=True)
    is_group = Column(Boolean, nullable=False, default=False)
    from_me = Column(Boolean, nullable=False, default=False)  # our own / the phone's sends
    from_bot = Column(Boolean, nullable=False, default=False)
    text = Column(Text, nullable=True)
    message_id = Column(String(255), nullable=True)
    status = Column(String(40), nullable=True)  # delivery status or instance state
    error_code = Column(String(40), nullable=True)
    error_title = Column(String(500), nullable=True, info=redacted())
    occurred_at = Column(DateTime, nullable=True)
    received_at = Column(DateTime, nullable=False, default=utcnow)
    payload = Column(JSON, nullable=False)

    state = Column(Enum(*EVENT_STATES, name="event_state", native_enum=False,
                        create_constraint=True), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    lease_until = Column(DateTime, nullable=True)
    job_id = Column(String(64), nullable=True)
    processed_at = Column(DateTime, nullable=True)
    last_error = Column(Text, nullable=True, info=redacted())
    skip_reason = Column(Enum(*SKIP_REASONS, name="event_skip_reason", native_enum=False,
                              create_constraint=True), nullable=True)

    def __str__(self) -> str:
        return (f"{code_label('event_platform', self.platform)} "
                f"{code_label('event_kind', self.kind)} {self.chat_id or ''}").strip()


class DetectedChat(WorkspaceOwned, Model):
    """A chat the bot was added to (Telegram my_chat_member), waiting to be assigned."""

    __tablename__ = "detected_chat"
    __table_args__ = (UniqueConstraint("channel_id", "chat_id", name="uq_detected_chat"),)

    id = Column(Integer, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    title = Column(String(255), nullable=True)
    chat_type = Column(String(40), nullable=True)
    member_status = Column(String(40), nullable=True)  # member, administrator, left, kicked
    detected_at = Column(DateTime, nullable=False, default=utcnow)
    last_seen_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"{self.title or self.chat_id} ({self.chat_type or '?'})"
