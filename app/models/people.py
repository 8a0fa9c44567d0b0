"""Who speaks in the chats: linked panel users (with their chat identities) and admin identities."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, DateTime, ForeignKey, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, Timestamps, WorkspaceOwned


class LinkedUser(Timestamps, WorkspaceOwned, Model):
    """A panel username that chats may speak for."""

    __tablename__ = "linked_user"
    __table_args__ = (UniqueConstraint("workspace_id", "username", name="uq_linked_user_username"),)

    id = Column(Integer, primary_key=True)
    username = Column(String(120), nullable=False)
    language = Column(String(10), nullable=False, default="en")
    notes = Column(Text, nullable=True)
    # a comma list of the manager's words (`vip, reseller`): broadcasts' audiences pick by them
    tags = Column(Text, nullable=True)
    # wrote a `stop` keyword (app/domain/optout.py): never sent a broadcast until `start`
    opted_out = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(DateTime, nullable=True)
    identities = relationship("ChatIdentity", back_populates="linked_user",
                              cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.username


class ChatIdentity(Timestamps, WorkspaceOwned, Model):
    """One chat (on one channel) trusted to speak for a linked user."""

    __tablename__ = "chat_identity"
    __table_args__ = (UniqueConstraint("channel_id", "chat_id", name="uq_chat_identity_chat"),)

    id = Column(Integer, primary_key=True)
    linked_user_id = Column(Integer, ForeignKey("linked_user.id", ondelete="CASCADE"),
                            nullable=False, index=True)
    linked_user = relationship("LinkedUser", back_populates="identities")
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    verified_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return f"{self.linked_user} @ {self.chat_id}"


class AdminIdentity(Timestamps, WorkspaceOwned, Model):
    """A chat of the panel's own staff: gets technical replies and may force past cooldowns."""

    __tablename__ = "admin_identity"
    __table_args__ = (UniqueConstraint("channel_id", "chat_id", name="uq_admin_identity_chat"),)

    id = Column(Integer, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    name = Column(String(120), nullable=False, default="")

    def __str__(self) -> str:
        return self.name or self.chat_id
