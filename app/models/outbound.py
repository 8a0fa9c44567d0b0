"""Messages we send, and every call we make to an outside service.

An `OutboundMessage` row is written (UNIQUE idempotency key) before the platform is called, so a
retry resumes the same row and never sends again what was already sent: long texts are split into
parts and `parts_sent` records progress part by part.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Column, DateTime, Enum, Float, ForeignKey, Index, Integer, String,
                        Text, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, WorkspaceOwned, utcnow
from app.models.events import BigId
from app.redaction import redacted
from app.labels import code_label

# held: waiting for its paused channel (app/jobs/outbound.py `hold`); released, not retried
OUTBOUND_STATES = ("pending", "sending", "retrying", "sent", "failed", "held")
# agent: a team member's reply from the inbox; api: sent through the public API (issue 16)
OUTBOUND_PURPOSES = ("reply", "dispatch", "broadcast", "test", "system", "agent", "api")
# Delivery statuses only move forward: a late "delivered" never overwrites "read", and "failed"
# can only follow "sent" (a delivered message cannot fail afterwards).
DELIVERY_RANK = {"sent": 1, "failed": 2, "delivered": 2, "read": 3}


class OutboundMessage(WorkspaceOwned, Model):
    __tablename__ = "outbound_message"
    __table_args__ = (
        UniqueConstraint("channel_id", "idempotency_key", name="uq_outbound_idempotency"),
        Index("ix_outbound_state_next", "state", "next_attempt_at"),
        Index("ix_outbound_workspace_created", "workspace_id", "created_at"),
        # a log list: newest first in a workspace (migration 0018)
        Index("ix_outbound_message_workspace_id_id", "workspace_id", "id"),
        Index("ix_outbound_message_workspace_state", "workspace_id", "state", "id"),
        Index("ix_outbound_message_workspace_channel_id", "workspace_id", "channel_id", "id"),
        # a conversation's thread: one chat's messages newest first (migration 0020)
        Index("ix_outbound_message_chat_thread", "workspace_id", "channel_id", "chat_id",
              "created_at", "id"),
    )

    id = Column(BigId, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    idempotency_key = Column(String(200), nullable=False)
    purpose = Column(Enum(*OUTBOUND_PURPOSES, name="outbound_purpose", native_enum=False,
                          create_constraint=True), nullable=False, default="reply")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    text = Column(Text, nullable=False)
    parts_total = Column(Integer, nullable=False, default=1)
    parts_sent = Column(Integer, nullable=False, default=0)
    platform_message_ids = Column(JSON, nullable=False, default=list)
    # id of the last part sent: what delivery statuses refer to
    platform_message_id = Column(String(255), nullable=True, index=True)
    state = Column(Enum(*OUTBOUND_STATES, name="outbound_state", native_enum=False,
                        create_constraint=True), nullable=False, default="pending")
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=True)
    lease_until = Column(DateTime, nullable=True)
    last_error = Column(Text, nullable=True, info=redacted())
    error_code = Column(String(40), nullable=True)
    delivery_status = Column(String(20), nullable=True)
    delivery_status_at = Column(DateTime, nullable=True)
    inbound_event_id = Column(BigId, ForeignKey("inbound_event.id", ondelete="SET NULL"),
                              nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    sent_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return f"→ {self.chat_id} [{code_label('outbound_state', self.state)}]"


class ExternalCall(WorkspaceOwned, Model):
    """One HTTP call to a panel or a messaging platform: timing, outcome, redacted bodies."""

    __tablename__ = "external_call"
    __table_args__ = (Index("ix_external_call_workspace_at", "workspace_id", "at"),
                      Index("ix_external_call_workspace_id_id", "workspace_id", "id"))

    id = Column(BigId, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow)
    service = Column(String(40), nullable=False)  # greenapi, meta, telegram, panel:<engine>
    operation = Column(String(80), nullable=False)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="SET NULL"), nullable=True)
    method = Column(String(10), nullable=False)
    url = Column(String(500), nullable=False)  # secrets in paths replaced by ****
    status_code = Column(Integer, nullable=True)
    duration_ms = Column(Float, nullable=False, default=0.0)
    outcome = Column(String(20), nullable=False)  # ok, transient, permanent, timeout, error
    request_body = Column(Text, nullable=True)
    response_body = Column(Text, nullable=True)
    error = Column(Text, nullable=True, info=redacted())

    def __str__(self) -> str:
        return f"{self.service} {self.operation} {self.status_code or self.outcome}"
