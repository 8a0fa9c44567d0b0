"""What chat users can say and what they get back: aliases, custom commands, reply templates."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, Enum, Integer, String, Text, UniqueConstraint

from app.models.base import Timestamps, WorkspaceOwned
from app.labels import code_label

ALIAS_ACTIONS = ("refill", "speed", "cancel", "details", "balance", "help")


class CommandAlias(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "command_alias"
    __table_args__ = (UniqueConstraint("workspace_id", "alias", name="uq_command_alias"),)

    id = Column(Integer, primary_key=True)
    action = Column(
        Enum(*ALIAS_ACTIONS, name="alias_action", native_enum=False, create_constraint=True),
        nullable=False,
    )
    alias = Column(String(60), nullable=False)

    def __str__(self) -> str:
        return f"{self.alias} → {code_label('alias_action', self.action)}"


class CustomCommand(Timestamps, WorkspaceOwned, Model):
    """A keyword that answers with a fixed reply (e.g. `prices`, `hours`)."""

    __tablename__ = "custom_command"
    __table_args__ = (UniqueConstraint("workspace_id", "keyword", name="uq_custom_command"),)

    id = Column(Integer, primary_key=True)
    keyword = Column(String(60), nullable=False)
    reply = Column(Text, nullable=False)
    enabled = Column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return self.keyword


class QuickReply(Timestamps, WorkspaceOwned, Model):
    """A canned answer a team member inserts by typing `/shortcut` (e.g. `/delay`), with
    placeholders filled for the conversation (app/quick_replies.py)."""

    __tablename__ = "quick_reply"
    __table_args__ = (UniqueConstraint("workspace_id", "shortcut", name="uq_quick_reply"),)

    id = Column(Integer, primary_key=True)
    shortcut = Column(String(32), nullable=False)  # stored without its slash
    title = Column(String(120), nullable=False)
    body = Column(Text, nullable=False)
    enabled = Column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return f"/{self.shortcut}"


class GlobalReplyTemplate(Timestamps, Model):
    """The platform's default text for a reply key in one language (master admin)."""

    __tablename__ = "global_reply_template"
    __table_args__ = (UniqueConstraint("key", "language", name="uq_global_reply_template"),)

    id = Column(Integer, primary_key=True)
    key = Column(String(60), nullable=False)
    language = Column(String(10), nullable=False, default="en")
    body = Column(Text, nullable=False)

    def __str__(self) -> str:
        return f"{self.key} [{self.language}]"


class ReplyTemplate(Timestamps, WorkspaceOwned, Model):
    """A workspace's own text for a reply key, overriding the global default."""

    __tablename__ = "reply_template"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key", "language", name="uq_reply_template"),
    )

    id = Column(Integer, primary_key=True)
    key = Column(String(60), nullable=False)
    language = Column(String(10), nullable=False, default="en")
    body = Column(Text, nullable=False)

    def __str__(self) -> str:
        return f"{self.key} [{self.language}]"
