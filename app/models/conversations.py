"""Conversations: one row per chat (workspace, channel, chat id), kept up to date as it talks.

A `Conversation` summarises a chat for the Logs › Conversations list (newest activity first):
when it was first seen and last active, the last message's short plain-text preview and
direction, how many messages came in and went out, the contact's name and the linked user the
chat speaks for (its chat identity). The messages themselves stay in their own tables
(inbound_event, outbound_message, command_log / command_order): the thread page reads them by
(workspace, channel, chat id). The row is written by one upsert per batch (app/store.py
`touch_conversations`) where an inbound message is handled (app/jobs/events.py) and where an
outbound message is created (`insert_outbound`); migration 0020 filled it from the rows that
existed before.

`kind`: `customer` (a private chat), `group` (a group chat that is not a provider's: e.g. a
customer's linked group) or `provider` (the chat of a provider route: where dispatches go).
The list shows customer chats by default. Dispatches (outbound purpose `dispatch`) touch no
conversation: they are the dispatch notes of the customer's thread, and counting them on the
provider group's row would make every batch of the fleet wait for that one row's lock.
"""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Column, DateTime, Enum, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint)
from sqlalchemy.orm import relationship

from app.models.base import CHAT_ID_LENGTH, WorkspaceOwned, utcnow
from app.models.events import BigId

CONVERSATION_KINDS = ("customer", "group", "provider")
# the inbox (issue 16): open (waiting for us), pending (waiting for the customer or a third
# party), resolved (done: the bot speaks again, a new message opens it again)
CONVERSATION_STATUSES = ("open", "pending", "resolved")
DIRECTIONS = ("in", "out")
PREVIEW_LENGTH = 160


class Conversation(WorkspaceOwned, Model):
    __tablename__ = "conversation"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel_id", "chat_id", name="uq_conversation_chat"),
        # the list: a workspace's chats by last activity, newest first
        Index("ix_conversation_workspace_activity", "workspace_id", "last_activity_at", "id"),
        Index("ix_conversation_workspace_kind_activity", "workspace_id", "kind",
              "last_activity_at", "id"),
        Index("ix_conversation_workspace_linked_user", "workspace_id", "linked_user_id",
              "last_activity_at"),
        # the inbox: by status, and "mine" (assignee) by status, newest activity first
        Index("ix_conversation_workspace_status_activity", "workspace_id", "status",
              "last_activity_at", "id"),
        Index("ix_conversation_workspace_assignee_status", "workspace_id", "assignee_id",
              "status", "last_activity_at"),
    )

    id = Column(BigId, primary_key=True)
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    kind = Column(Enum(*CONVERSATION_KINDS, name="conversation_kind", native_enum=False,
                       create_constraint=True), nullable=False, default="customer")
    linked_user_id = Column(Integer, ForeignKey("linked_user.id", ondelete="SET NULL"),
                            nullable=True)
    linked_user = relationship("LinkedUser")
    contact_name = Column(String(255), nullable=True)  # the sender's name the platform gave
    first_seen_at = Column(DateTime, nullable=False, default=utcnow)
    last_activity_at = Column(DateTime, nullable=False, default=utcnow)
    last_inbound_at = Column(DateTime, nullable=True)
    last_direction = Column(Enum(*DIRECTIONS, name="conversation_direction", native_enum=False,
                                 create_constraint=True), nullable=False, default="in")
    preview = Column(String(PREVIEW_LENGTH), nullable=True)  # the last message, plain text
    inbound_count = Column(Integer, nullable=False, default=0)
    outbound_count = Column(Integer, nullable=False, default=0)

    # --- the inbox (issue 16) ---
    status = Column(Enum(*CONVERSATION_STATUSES, name="conversation_status", native_enum=False,
                         create_constraint=True), nullable=False, default="open")
    assignee_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)
    assignee = relationship("User", foreign_keys=[assignee_id])
    unread_count = Column(Integer, nullable=False, default=0)  # inbound since a member read it
    # human takeover: while set, the bot sends nothing in this chat (commands are still logged)
    bot_paused_at = Column(DateTime, nullable=True)
    bot_paused_by_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"),
                              nullable=True)
    bot_paused_by = relationship("User", foreign_keys=[bot_paused_by_id])
    last_agent_reply_at = Column(DateTime, nullable=True)
    # the figures: when it last became open, the first team reply after that, when resolved
    opened_at = Column(DateTime, nullable=True)
    first_response_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)

    @property
    def message_count(self) -> int:
        return (self.inbound_count or 0) + (self.outbound_count or 0)

    def __str__(self) -> str:
        return self.contact_name or self.chat_id


class ConversationNote(WorkspaceOwned, Model):
    """An internal note of the inbox (issue 16): written by a team member in a conversation's
    thread, never sent to the chat; `@username` of a teammate mentions them
    (`ConversationMention`)."""

    __tablename__ = "conversation_note"
    __table_args__ = (
        Index("ix_conversation_note_thread", "conversation_id", "created_at", "id"),
    )

    id = Column(BigId, primary_key=True)
    conversation_id = Column(BigId, ForeignKey("conversation.id", ondelete="CASCADE"),
                             nullable=False)
    conversation = relationship("Conversation")
    author_id = Column(Integer, ForeignKey("ab_user.id", ondelete="SET NULL"), nullable=True)
    author = relationship("User", foreign_keys=[author_id])
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    def __str__(self) -> str:
        return (self.text or "")[:60]


class ConversationMention(WorkspaceOwned, Model):
    """A teammate named in an internal note: theirs to see (the inbox's "Mentions" filter and
    count) until they open the conversation (`seen_at`)."""

    __tablename__ = "conversation_mention"
    __table_args__ = (
        UniqueConstraint("note_id", "user_id", name="uq_conversation_mention"),
        Index("ix_conversation_mention_user_seen", "workspace_id", "user_id", "seen_at"),
        Index("ix_conversation_mention_conversation", "conversation_id", "user_id"),
    )

    id = Column(BigId, primary_key=True)
    note_id = Column(BigId, ForeignKey("conversation_note.id", ondelete="CASCADE"),
                     nullable=False)
    note = relationship("ConversationNote")
    conversation_id = Column(BigId, ForeignKey("conversation.id", ondelete="CASCADE"),
                             nullable=False)
    conversation = relationship("Conversation")
    user_id = Column(Integer, ForeignKey("ab_user.id", ondelete="CASCADE"), nullable=False)
    user = relationship("User", foreign_keys=[user_id])
    created_at = Column(DateTime, nullable=False, default=utcnow)
    seen_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return f"@{self.user_id}"
