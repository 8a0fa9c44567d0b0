"""The panel connection of a workspace and its per-service rules."""
from __future__ import annotations

from flask_appbuilder import Model
from sqlalchemy import (Boolean, Column, DateTime, Enum, Float, Integer, String, Text,
                        UniqueConstraint)

from app.crypto import EncryptedText
from app.integrations.urlpolicy import TenantUrl
from app.models.base import Timestamps, WorkspaceOwned
from app.redaction import redacted
from app.models.sensitive import SECRET, sensitive
from app.labels import code_label

PANEL_TYPES = ("perfectpanel_v2", "rentalpanel_v1", "smm_api_v2", "demo")
SERVICE_RULE_MODES = ("names", "cached")
REFILL_KINDS = ("unknown", "none", "window", "lifetime")


class PanelConnection(Timestamps, WorkspaceOwned, Model):
    __tablename__ = "panel_connection"
    __table_args__ = (UniqueConstraint("workspace_id", name="uq_panel_connection_workspace"),)

    id = Column(Integer, primary_key=True)
    panel_type = Column(
        Enum(*PANEL_TYPES, name="panel_type", native_enum=False, create_constraint=True),
        nullable=False,
        default="demo",
    )
    url = Column(String(255), nullable=False, default="")
    api_path = Column(String(100), nullable=True)  # detected, e.g. /admin/adminapi/v2
    api_key = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    # optional: the panel's reseller (user) API key, for the services list in cached mode
    user_api_key = Column(EncryptedText, nullable=True, info=sensitive(SECRET))
    service_rules_mode = Column(
        Enum(*SERVICE_RULE_MODES, name="service_rules_mode", native_enum=False,
             create_constraint=True),
        nullable=False,
        default="names",
    )
    requests_per_second = Column(Float, nullable=False, default=5.0)
    timeout_seconds = Column(Float, nullable=False, default=15.0)
    status = Column(String(40), nullable=False, default="unknown")
    status_detail = Column(String(500), nullable=True, info=redacted())
    last_checked_at = Column(DateTime, nullable=True)

    #: the panel URL receives the admin API key, and the user API key for the services list
    #: (the demo panel is never called); outbound URL policy
    tenant_urls = (
        TenantUrl("url", secrets=("api_key",), dropped=("user_api_key",),
                  when=("panel_type", tuple(t for t in PANEL_TYPES if t != "demo"))),
    )

    def __str__(self) -> str:
        return f"{code_label('panel_type', self.panel_type)} {self.url}".strip()


class ServiceRule(Timestamps, WorkspaceOwned, Model):
    """What the workspace says about one panel service, overriding what its name suggests."""

    __tablename__ = "service_rule"
    __table_args__ = (UniqueConstraint("workspace_id", "service_id", name="uq_service_rule"),)

    id = Column(Integer, primary_key=True)
    service_id = Column(String(64), nullable=False)
    service_name = Column(String(500), nullable=True)
    refill_kind = Column(
        Enum(*REFILL_KINDS, name="refill_kind", native_enum=False, create_constraint=True),
        nullable=False,
        default="unknown",
    )
    refill_days = Column(Integer, nullable=True)
    start_minutes_max = Column(Integer, nullable=True)
    allow_refill = Column(Boolean, nullable=False, default=True)
    allow_speed = Column(Boolean, nullable=False, default=True)
    allow_cancel = Column(Boolean, nullable=False, default=True)
    is_override = Column(Boolean, nullable=False, default=False)
    notes = Column(Text, nullable=True)
    # cached mode: what the panel's services list says, and when it was fetched
    panel_refill = Column(Boolean, nullable=True)
    panel_cancel = Column(Boolean, nullable=True)
    recognised = Column(String(500), nullable=True)  # what the name parser recognised
    fetched_at = Column(DateTime, nullable=True)

    def __str__(self) -> str:
        return f"#{self.service_id} {self.service_name or ''}".strip()
