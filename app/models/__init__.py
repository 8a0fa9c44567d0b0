"""All models, imported so that metadata (and Alembic) sees every table."""
from app.models.audit import AuditEntry
from app.models.auth import UserAuthState
from app.models.broadcasts import Broadcast, BroadcastRecipient
from app.models.billing import (EmailTemplate, Invoice, InvoiceCounter, PaymentEvent,
                                 PaymentMethod, PaymentSubmission, Plan, PlanPrice, Subscription)
from app.models.channels import Channel
from app.models.events import DetectedChat, InboundEvent
from app.models.health import HealthProblem
from app.models.media import Media
from app.models.outbound import ExternalCall, OutboundMessage
from app.models.commandlog import CommandLog, CommandOrder, CooldownClaim, LinkCode
from app.models.conversations import Conversation, ConversationMention, ConversationNote
from app.models.commands import (CommandAlias, CustomCommand, GlobalReplyTemplate, QuickReply,
                                 ReplyTemplate)
from app.models.panel import PanelConnection, ServiceRule
from app.models.people import AdminIdentity, ChatIdentity, ContactGroup, LinkedUser
from app.models.routing import Provider, ProviderRoute
from app.models.runners import HealthSnapshot, RunnerState
from app.models.settings import WorkspaceSettings
from app.models.support import SupportMessage, SupportTicket
from app.models.tickets import TicketActivity, TicketRule
from app.models.tenancy import Workspace, WorkspaceMember
from app.models.sensitive import install as _install_sensitive
from app.redaction import install_column_redaction as _install_redaction

__all__ = [
    "AdminIdentity", "AuditEntry", "Broadcast", "BroadcastRecipient", "Channel",
    "ChatIdentity", "CommandAlias", "Conversation", "ConversationMention", "ConversationNote",
    "CustomCommand",
    "DetectedChat",
    "ExternalCall", "InboundEvent", "OutboundMessage", "CommandLog", "CommandOrder",
    "CooldownClaim", "LinkCode",
    "EmailTemplate", "GlobalReplyTemplate", "HealthProblem", "HealthSnapshot", "Invoice",
    "InvoiceCounter",
    "ContactGroup",
    "LinkedUser", "Media",
    "PanelConnection", "PaymentEvent",
    "PaymentMethod", "PaymentSubmission", "Plan", "PlanPrice", "Provider",
    "ProviderRoute", "QuickReply", "ReplyTemplate", "RunnerState", "ServiceRule", "Subscription",
    "SupportMessage",
    "SupportTicket", "TicketActivity", "TicketRule", "UserAuthState", "Workspace",
    "WorkspaceMember", "WorkspaceSettings",
]

_install_sensitive(globals()[name] for name in __all__)
_install_redaction(globals()[name] for name in __all__)
