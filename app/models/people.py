"""Who speaks in the chats: contacts (linked panel users among them), their chat identities,
contact groups and admin identities.

**A contact and a linked user are one row** (`linked_user`, decision of issue 16): a contact is
a person the workspace talks to (name, phone or chat id, email, language, tags, custom fields,
opt-out, first and last seen); a contact whose `username` is set is a *linked user* (it speaks
for that panel username). One table means one opt-out state, one tag list, one plan limit
("linked users and contacts") and one audience for broadcasts. `ChatIdentity` stays the only
*trusted* link from a chat to a username: a contact created from a chat is reached through its
conversation (`conversation.linked_user_id`), never through a chat identity, so writing to the
bot can never make a chat speak for a username.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (JSON, Boolean, Column, DateTime, Enum, ForeignKey, Index, Integer,
                        String, Table, Text, UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, Timestamps, WorkspaceOwned

# where a contact came from: typed on a screen, a chat that wrote to us, a file, the public API,
# or the self-service linking flow
CONTACT_SOURCES = ("manual", "chat", "import", "api", "link")

contact_group_member = Table(
    "contact_group_member", Model.metadata,
    Column("contact_id", Integer, ForeignKey("linked_user.id", ondelete="CASCADE"),
           primary_key=True),
    Column("group_id", Integer, ForeignKey("contact_group.id", ondelete="CASCADE"),
           primary_key=True, index=True),
)


class LinkedUser(Timestamps, WorkspaceOwned, Model):
    """A contact; with a `username`, a linked user (a panel username that chats may speak for)."""

    __tablename__ = "linked_user"
    __table_args__ = (
        UniqueConstraint("workspace_id", "username", name="uq_linked_user_username"),
        Index("ix_linked_user_workspace_phone", "workspace_id", "phone"),
        Index("ix_linked_user_workspace_last_seen", "workspace_id", "last_seen_at"),
    )

    id = Column(Integer, primary_key=True)
    # NULL: a contact not (yet) linked to a panel username; unique within a workspace when set
    username = Column(String(120), nullable=True)
    name = Column(String(255), nullable=True)
    phone = Column(String(32), nullable=True)  # digits of the international number, no +
    email = Column(String(254), nullable=True)
    custom_fields = Column(JSON, nullable=False, default=dict)
    source = Column(Enum(*CONTACT_SOURCES, name="contact_source", native_enum=False,
                         create_constraint=True), nullable=False, default="manual")
    first_seen_at = Column(DateTime, nullable=True)  # first message from any of its chats
    last_seen_at = Column(DateTime, nullable=True)  # last message from any of its chats
    language = Column(String(10), nullable=False, default="en")
    notes = Column(Text, nullable=True)
    # a comma list of the manager's words (`vip, reseller`): broadcasts' audiences pick by them
    tags = Column(Text, nullable=True)
    # wrote a `stop` keyword (app/domain/optout.py): never sent a broadcast until `start`
    opted_out = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(DateTime, nullable=True)
    identities = relationship("ChatIdentity", back_populates="linked_user",
                              cascade="all, delete-orphan")
    groups = relationship("ContactGroup", secondary=contact_group_member,
                          back_populates="contacts")

    def __str__(self) -> str:
        return self.username or self.name or self.phone or f"#{self.id}"


class ContactGroup(Timestamps, WorkspaceOwned, Model):
    """A named set of contacts (a manager's list: "VIP resellers", "imported 2026-12")."""

    __tablename__ = "contact_group"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_contact_group_name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    description = Column(Text, nullable=True)
    contacts = relationship("LinkedUser", secondary=contact_group_member,
                            back_populates="groups")

    def __str__(self) -> str:
        return self.name


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
