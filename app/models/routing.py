"""Providers (upstream wholesalers) and the chat each command for them is sent to."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import relationship

from app.domain.templates import DEFAULT_ROUTE_TEMPLATE
from app.models.base import CHAT_ID_LENGTH, Timestamps, WorkspaceOwned, split_list

ROUTE_ACTIONS = ("refill", "speed", "cancel")


class Provider(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "provider"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_provider_workspace_name"),)

    id = Column(Integer, primary_key=True)
    name = Column(String(120), nullable=False)
    domains = Column(Text, nullable=True)  # comma separated, matched against the order's provider
    aliases = Column(Text, nullable=True)
    notes = Column(Text, nullable=True)
    routes = relationship("ProviderRoute", back_populates="provider", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name

    @property
    def domain_list(self) -> list[str]:
        return split_list(self.domains)

    @property
    def alias_list(self) -> list[str]:
        return split_list(self.aliases)


class ProviderRoute(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "provider_route"
    __table_args__ = (
        UniqueConstraint("provider_id", "channel_id", "chat_id", name="uq_provider_route_target"),
    )

    id = Column(Integer, primary_key=True)
    provider_id = Column(Integer, ForeignKey("provider.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    provider = relationship("Provider", back_populates="routes")
    channel_id = Column(Integer, ForeignKey("channel.id", ondelete="CASCADE"), nullable=False,
                        index=True)
    channel = relationship("Channel")
    chat_id = Column(String(CHAT_ID_LENGTH), nullable=False)
    template = Column(String(500), nullable=False, default=DEFAULT_ROUTE_TEMPLATE)
    actions = Column(String(120), nullable=False, default="refill, speed, cancel")
    enabled = Column(Boolean, nullable=False, default=True)

    def __str__(self) -> str:
        return f"{self.provider} → {self.chat_id}"

    @property
    def action_list(self) -> list[str]:
        return split_list(self.actions)
