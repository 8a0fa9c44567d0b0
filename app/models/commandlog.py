"""The command log: for every chat message handled, what was understood, decided and sent.

`CommandLog` is one row per inbound message (UNIQUE inbound_event_id: re-processing a message
after a crash continues the same log), with a step-by-step `trace` so a manager can answer "why
did the bot say that?". `CommandOrder` is one row per (message, order, action): its verdict,
reason, route and the dispatch message. `CooldownClaim` is the atomic cooldown: one row per
(workspace, order, action), taken by an INSERT … ON CONFLICT DO UPDATE … WHERE expired, so two
identical requests at the same moment produce one dispatch. `LinkCode` backs self-service linking.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Index, Integer,
                        String, Text, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, WorkspaceOwned, utcnow
from app.models.events import BigId
from app.redaction import redacted
from app.models.sensitive import HASH, sensitive

COMMAND_STATES = ("processing", "done", "failed")


class CommandLog(WorkspaceOwned, Model):
    __tablename__ = "command_log"
    __table_args__ = (
        UniqueConstraint("inbound_event_id", name="uq_command_log_event"),
        Index("ix_command_log_workspace_created", "workspace_id", "created_at"),
        # a log list: newest first in a workspace (migration 0018)
        Index("ix_command_log_workspace_id_id", "workspace_id", "id"),
        Index("ix_command_log_workspace_outcome", "workspace_id", "outcome", "id"),
        Index("ix_command_log_workspace_channel_id", "workspace_id", "channel_id", "id"),
        Index("ix_command_log_workspace_linked_user_id", "workspace_id", "linked_user_id", "id"),
        # a conversation's thread: the dispatch notes of one chat's commands (migration 0020)
        Index("ix_command_log_chat_thread", "workspace_id", "channel_id", "chat_id",
              "created_at", "id"),
    )

    id = Column(BigId, primary_key=True)
    inbound_event_id = Column(BigId, ForeignKey("inbound_event.id", ondelete="CASCADE"),
                              nullable=False)
    inbound_event = relationship("InboundEvent")
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False, index=True)
    linked_user_id = Column(Integer, ForeignKey("linked_user.id", ondelete="SET NULL"),
                            nullable=True, index=True)
    linked_user = relationship("LinkedUser")
    admin_identity_id = Column(Integer, ForeignKey("admin_identity.id", ondelete="SET NULL"),
                               nullable=True)
    admin_identity = relationship("AdminIdentity")
    text = Column(Text, nullable=True)
    language = Column(String(10), nullable=True)
    actions = Column(String(200), nullable=True)  # e.g. "refill, details"
    order_ids = Column(Text, nullable=True)  # comma separated, for search
    state = Column(String(20), nullable=False, default="processing")
    outcome = Column(String(60), nullable=True)  # e.g. "dispatched", "not_linked", "ignored"
    reply_text = Column(Text, nullable=True)
    trace = Column(JSON, nullable=False, default=list)
    error = Column(Text, nullable=True, info=redacted())
    created_at = Column(DateTime, nullable=False, default=utcnow)
    finished_at = Column(DateTime, nullable=True)
    duration_ms = Column(Float, nullable=True)

    def __str__(self) -> str:
        return f"#{self.id} {self.chat_id}: {(self.text or '')[:40]}"


class CommandOrder(WorkspaceOwned, Model):
    __tablename__ = "command_order"
    __table_args__ = (
        UniqueConstraint("command_log_id", "order_id", "action", name="uq_command_order"),
        Index("ix_command_order_workspace_order", "workspace_id", "order_id"),
        # a log list: newest first in a workspace (migration 0018)
        Index("ix_command_order_workspace_id_id", "workspace_id", "id"),
    )

    id = Column(BigId, primary_key=True)
    command_log_id = Column(BigId, ForeignKey("command_log.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    command_log = relationship("CommandLog")
    order_id = Column(String(20), nullable=False)
    action = Column(String(20), nullable=False)
    ok = Column(Boolean, nullable=False, default=False)
    reason = Column(String(60), nullable=False)
    detail = Column(JSON, nullable=True)
    provider_id = Column(Integer, ForeignKey("provider.id", ondelete="SET NULL"), nullable=True)
    provider = relationship("Provider")
    route_id = Column(Integer, ForeignKey("provider_route.id", ondelete="SET NULL"),
                      nullable=True)
    route = relationship("ProviderRoute")
    external_id = Column(String(120), nullable=True)
    outbound_message_id = Column(BigId, ForeignKey("outbound_message.id", ondelete="SET NULL"),
                                 nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"{self.order_id} {self.action}: {self.reason}"


class CooldownClaim(WorkspaceOwned, Model):
    __tablename__ = "cooldown_claim"
    __table_args__ = (
        UniqueConstraint("workspace_id", "order_id", "action", name="uq_cooldown_claim"),
    )

    id = Column(Integer, primary_key=True)
    order_id = Column(String(20), nullable=False)
    action = Column(String(20), nullable=False)
    claimed_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)
    # the command holding it (crash-safe re-entry); a panel ticket's activity id negated
    command_log_id = Column(BigId, nullable=True)
    # who asked, when known (migration 0021): the chat and its channel, the linked user's
    # username (a panel ticket's: its customer's username, no chat)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="SET NULL"), nullable=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=True)
    username = Column(String(120), nullable=True)

    def __str__(self) -> str:
        return f"{self.order_id} {self.action}"

    def seconds_left(self, now=None) -> float:
        """Seconds until the cooldown ends (0 once it has)."""
        if self.expires_at is None:
            return 0.0
        return max(0.0, (self.expires_at - (now or utcnow())).total_seconds())


class LinkCode(WorkspaceOwned, Model):
    """A one-time code sent through a panel ticket to prove a chat speaks for a username."""

    __tablename__ = "link_code"
    __table_args__ = (Index("ix_link_code_chat", "channel_id", "chat_id"),)

    id = Column(Integer, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    username = Column(String(120), nullable=False)
    code_hash = Column(String(128), nullable=False, info=sensitive(HASH))
    expires_at = Column(DateTime, nullable=False)
    attempts = Column(Integer, nullable=False, default=0)
    used_at = Column(DateTime, nullable=True)
    ticket_id = Column(String(60), nullable=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return f"{self.username} @ {self.chat_id}"
