"""Words for the codes stored in enumerated columns (`greenapi` → "WhatsApp (Green API)") and for
the FAB roles (`WorkspaceManager` → "Workspace manager").

One table for every place a code meets a person: the list and show screens
(app/views/formatting.py), the choices of the add and edit forms (app/views/base.py), and the
names models give themselves in dropdowns and related columns (`Channel.__str__`). The labels
are lazy: each is translated when it is shown, into the reader's language.
"""
from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l

_PLATFORMS = {
    "greenapi": _l("WhatsApp (Green API)"),
    "meta": _l("WhatsApp (Meta Cloud API)"),
    "telegram": _l("Telegram"),
    "webchat": _l("Web chat"),
}

# Labels of the codes of every enumerated column, by the name of its SQLAlchemy Enum type.
# tests/unit/test_formatting.py fails when a model's Enum has a value without a label here.
ENUM_LABELS: dict[str, dict[str, Any]] = {
    "channel_kind": _PLATFORMS,
    "event_platform": _PLATFORMS,
    "channel_status": {
        "unknown": _l("Not checked yet"), "ok": _l("Working"), "error": _l("Error"),
        "needs_reauth": _l("Needs a new login"), "disabled": _l("Disabled"),
        "paused": _l("Paused: messages are held"),
    },
    "alias_action": {
        "refill": _l("Refill"), "speed": _l("Speed up"), "cancel": _l("Cancel order"),
        "details": _l("Order details"), "balance": _l("Balance"), "help": _l("Help"),
    },
    "event_kind": {
        "message": _l("Message"), "status": _l("Delivery status"),
        "state": _l("Connection state"), "membership": _l("Group membership"),
        "other": _l("Other"),
    },
    "event_state": {
        "pending": _l("Waiting"), "queued": _l("Queued"), "processing": _l("Processing"),
        "done": _l("Done"), "failed": _l("Failed"), "ignored": _l("Ignored"),
        "skipped": _l("Skipped"),
    },
    "event_skip_reason": {
        "plan": _l("The workspace's plan does not include this channel's platform"),
        "suspended": _l("The workspace is suspended"),
        "pending": _l("The workspace waits for its first payment"),
    },
    "outbound_purpose": {
        "reply": _l("Reply to a customer"), "dispatch": _l("Request to a provider"),
        "broadcast": _l("Broadcast"), "test": _l("Test message"), "system": _l("System message"),
        "agent": _l("Reply by a team member"), "api": _l("Sent through the API"),
    },
    "conversation_status": {
        "open": _l("Open"), "pending": _l("Pending"), "resolved": _l("Resolved"),
    },
    "member_availability": {"online": _l("Online"), "away": _l("Away")},
    "contact_source": {
        "manual": _l("Added by hand"), "chat": _l("Wrote to us"), "import": _l("Imported"),
        "api": _l("Added through the API"), "link": _l("Linked their account"),
    },
    "conversation_kind": {
        "customer": _l("Customer chat"), "group": _l("Group chat"),
        "provider": _l("Provider group"),
    },
    "conversation_direction": {"in": _l("Received"), "out": _l("Sent")},
    "media_platform": {k: v for k, v in _PLATFORMS.items() if k != "webchat"},
    "media_direction": {"in": _l("Received"), "out": _l("Sent")},
    "media_kind": {
        "image": _l("Image"), "video": _l("Video"), "audio": _l("Audio"),
        "voice": _l("Voice message"), "document": _l("Document"), "sticker": _l("Sticker"),
        "location": _l("Location"), "contact": _l("Contact card"),
    },
    "media_state": {
        "pending": _l("Downloading"), "stored": _l("Stored"), "failed": _l("Download failed"),
        "too_large": _l("Too large"), "refused": _l("Refused (file type not allowed)"),
    },
    "outbound_state": {
        "pending": _l("Waiting"), "sending": _l("Sending"), "retrying": _l("Retrying"),
        "sent": _l("Sent"), "failed": _l("Failed"),
        "held": _l("Held until the channel works again"),
    },
    "invoice_status": {
        "draft": _l("Draft"), "pending": _l("Awaiting payment"), "paid": _l("Paid"),
        "void": _l("Void"),
    },
    "payment_method": {"manual": _l("Manual"), "stripe": "Stripe", "razorpay": "Razorpay",
                       "free": _l("Free plan")},
    "panel_type": {
        "perfectpanel_v2": _l("Perfect Panel (API v2)"),
        "rentalpanel_v1": _l("Rental Panel (API v1)"),
        "smm_api_v2": _l("Standard SMM panel API (v2)"),
        "demo": _l("Demo panel"),
    },
    "service_rules_mode": {
        "names": _l("From the service names"),
        "cached": _l("From the panel's service list"),
    },
    "billing_interval": {"month": _l("Monthly"), "year": _l("Yearly")},
    # a plan's modules (app/models/billing.py PLAN_MODULES; stored as a comma list)
    "plan_module": {
        "tickets": _l("Ticket workflow"), "broadcasts": _l("Broadcasts"),
        "service_cache": _l("Cached service rules"), "api": _l("API access"),
        "inbox": _l("Inbox"), "marketing": _l("Marketing"),
    },
    "refill_kind": {
        "unknown": _l("Not known"), "none": _l("No refill"),
        "window": _l("Refill for a number of days"), "lifetime": _l("Lifetime refill"),
    },
    "subscription_status": {
        "trialing": _l("Trial"), "pending_payment": _l("Awaiting payment"),
        "pending_approval": _l("Payment waiting for approval"),
        "active": _l("Active"), "past_due": _l("Payment overdue"), "expired": _l("Expired"),
        "canceled": _l("Canceled"),
    },
    "workspace_status": {"pending": _l("Waiting for payment"), "active": _l("Active"),
                         "suspended": _l("Suspended")},
    "submission_status": {"pending": _l("Waiting for approval"), "approved": _l("Approved"),
                          "rejected": _l("Rejected")},
    "payment_provider": {"stripe": "Stripe", "razorpay": "Razorpay"},
    # PaymentEvent.outcome (a plain column: app/payments/events.py OUTCOMES)
    "payment_event_outcome": {
        "applied": _l("Applied"), "recorded": _l("Recorded"),
        "ignored": _l("Ignored: older than what is stored"),
        "unknown_workspace": _l("No workspace of ours"), "unhandled": _l("Not an event we use"),
        "malformed": _l("Could not be read"),
    },
    # Channel.quality_rating (a plain column: Meta's words for a number's quality)
    "meta_quality": {"GREEN": _l("High (green)"), "YELLOW": _l("Medium (yellow)"),
                     "RED": _l("Low (red)"), "UNKNOWN": _l("Not rated yet")},
    "panel_status": {"unknown": _l("Not checked yet"), "ok": _l("Working"), "error": _l("Error")},
    "member_role": {"manager": _l("Manager"), "agent": _l("Agent")},
    # the platform support queue (app/models/support.py)
    "support_category": {"billing": _l("Billing"), "technical": _l("Technical problem"),
                         "account": _l("Account"), "other": _l("Other")},
    "support_status": {"open": _l("Waiting for the platform"), "answered": _l("Answered"),
                       "closed": _l("Closed")},
    "support_priority": {"normal": _l("Normal"), "high": _l("High")},
    # panel tickets (app/models/tickets.py): the workspace's own panel's customers
    "ticket_rule_action": {
        "refill": _l("Refill"), "speed": _l("Speed up"), "cancel": _l("Cancel order"),
        "details": _l("Order details"), "ignore": _l("Leave to the staff"),
    },
    "ticket_activity_state": {
        "claimed": _l("Being handled"), "replying": _l("Posting the reply"),
        "answered": _l("Answered"), "skipped": _l("Left to the staff"),
        "failed": _l("Failed: tried again later"),
        "reply_failed": _l("The panel refused the reply"),
        "reply_unknown": _l("The reply may not have reached the panel"),
    },
    "broadcast_status": {"draft": _l("Draft"), "scheduled": _l("Scheduled"),
                         "running": _l("Sending"), "paused": _l("Paused"), "done": _l("Done"),
                         "canceled": _l("Canceled")},
    "broadcast_recipient_state": {"pending": _l("Waiting"), "sending": _l("Sending"),
                                  "sent": _l("Sent"), "failed": _l("Failed"),
                                  "skipped": _l("Skipped")},
    "call_outcome": {
        "ok": _l("Succeeded"), "transient": _l("Temporary failure"),
        "permanent": _l("Permanent failure"), "timeout": _l("Timed out"), "error": _l("Error"),
    },
    "chat_member_status": {
        "member": _l("Member"), "administrator": _l("Administrator"), "left": _l("Left"),
        "kicked": _l("Removed"),
    },
    # the runners (app/models/runners.py)
    "runner_name": {"tickets": _l("Panel tickets"), "broadcasts": _l("Broadcasts"),
                    "services": _l("Services refresh"), "maintenance": _l("Maintenance"),
                    "health": _l("Health checks")},
    "runner_outcome": {"ok": _l("Succeeded"), "failed": _l("Failed"), "skipped": _l("Skipped")},
    # the audit trail (app/models/audit.py: plain columns)
    "audit_via": {"screen": _l("Screen"), "api": _l("REST API"),
                  "import": _l("Workspace file import"), "cli": _l("Command line"),
                  "system": _l("The platform")},
    "audit_action": {"create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
                     "sign_in_as": _l("Sign in as began"),
                     "sign_in_as_end": _l("Sign in as ended")},
    # what an audit row is about, by model class name (app/audit.py AUDITED)
    "audit_model": {
        "Workspace": _l("Workspace"), "WorkspaceSettings": _l("Settings"),
        "WorkspaceMember": _l("Member"), "User": _l("Login"), "Channel": _l("Channel"),
        "Catalogue": _l("Translation"),
        "PanelConnection": _l("Panel connection"), "ServiceRule": _l("Service rule"),
        "Provider": _l("Provider"), "ProviderRoute": _l("Provider route"),
        "LinkedUser": _l("Linked user"), "ChatIdentity": _l("Chat identity"),
        "AdminIdentity": _l("Admin identity"), "ReplyTemplate": _l("Reply template"),
        "CommandAlias": _l("Command alias"), "CustomCommand": _l("Custom command"),
        "Subscription": _l("Subscription"), "Plan": _l("Plan"), "PlanPrice": _l("Plan price"),
        "GlobalReplyTemplate": _l("Default reply"), "EmailTemplate": _l("E-mail template"),
        "PaymentMethod": _l("Payment method"), "TicketRule": _l("Ticket rule"),
        "Broadcast": _l("Broadcast"), "CooldownClaim": _l("Cooldown"),
    },
}

# String columns holding codes without an Enum type: (model class name, column) → ENUM_LABELS key.
CODE_COLUMNS = {
    ("AuditEntry", "via"): "audit_via",
    ("AuditEntry", "action"): "audit_action",
    ("AuditEntry", "model"): "audit_model",
    ("CooldownClaim", "action"): "alias_action",
    ("Channel", "quality_rating"): "meta_quality",
    ("ExternalCall", "outcome"): "call_outcome",
    ("DetectedChat", "member_status"): "chat_member_status",
    ("PanelConnection", "status"): "panel_status",
}

# Text columns holding a comma list of codes (`greenapi,telegram`): (model class name, column) →
# ENUM_LABELS key. Forms offer them as a multiple choice by label (app/views/base.py
# `code_list_choices`), lists and show pages read them as labels ("WhatsApp (Green API),
# Telegram"); the codes a column accepts are its rule's (app/validation.py `code_list`).
CODE_LIST_COLUMNS = {
    ("Plan", "mediums"): "channel_kind",
    ("Plan", "modules"): "plan_module",
    ("Broadcast", "channel_kinds"): "channel_kind",
}


# The FAB roles by the words the screens use for them (the Security screens, the user form's role
# list, the Profile page); a role a master admin added keeps its own name.
ROLE_LABELS: dict[str, Any] = {
    "Admin": _l("Master admin"),
    "WorkspaceManager": _l("Workspace manager"),
    "WorkspaceAgent": _l("Workspace agent"),
    "Translator": _l("Translator"),
    "Public": _l("Public"),
}


def role_label(name: Any) -> Any:
    """The words for a FAB role's name ("WorkspaceManager" → "Workspace manager"), or the name
    itself for a role without a label."""
    return ROLE_LABELS.get(name, name)


def code_label(enum_name: str, value: Any) -> Any:
    """The label of `value` in the Enum type `enum_name`, or the value itself when it has none
    (None stays None)."""
    return ENUM_LABELS.get(enum_name, {}).get(value, value)
