"""Workspace screens: what a manager (read-write) and an agent (read-only) work with.

Every class here is scoped to the signed-in member's workspace by `RelaydeskInterface`; the
master admin gets an all-workspaces copy of each (see app/views/__init__.py).
"""
from __future__ import annotations

from flask_appbuilder.fieldwidgets import BS3TextFieldWidget
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Length, Optional

from app.domain.templates import CUSTOM_COMMAND, QUICK_REPLY, ROUTE
from app.extensions import db
from app.models import (AdminIdentity, Channel, ChatIdentity, CommandAlias, CustomCommand,
                        Invoice, LinkedUser, PanelConnection, Provider, ProviderRoute,
                        QuickReply, ReplyTemplate, ServiceRule, Subscription, WorkspaceMember,
                        WorkspaceSettings)
from app.models.channels import AWAITING_VERIFICATION, PAUSING_STATES
from app.ownership import IdentifierFree, require_free_identifiers
from app.security import READ, ROLE_MANAGER, WRITE
from app.status_words import status_detail_words
from app.validation import FieldError, FieldErrors
from app.views.base import RelaydeskInterface, WorkspaceModelView, secret_field
from app.views.billing import pdf_link
from app.labels import code_label
from app.views.channels import (FIELD_HELP, ChannelActionsMixin, ChannelSetupMixin, JoinedText,
                                platform_words, verification_words, verify_after_save)
from app.views.panel import PanelConnectionActionsMixin
from app.views.plan_checks import (channel_fits_plan, member_fits_plan,
                                   panel_fits_plan, route_fits_plan)
from app.views.team import TeamMixin
from app.views.template_fields import (CUSTOM_REPLY_HELP, QUICK_REPLY_HELP, REPLY_HELP,
                                       ROUTE_HELP, TemplateText, custom_reply_valid,
                                       quick_reply_valid, reply_key_field, reply_kind_in_form,
                                       reply_template_valid, route_template_valid)

READ_ONLY = ["can_list", "can_show"]
NO_ADD_DELETE = ["can_list", "can_show", "can_edit"]
MANAGER_ONLY = {ROLE_MANAGER: WRITE}

COMMON_LABELS = {
    "workspace": _l("Workspace"),
    "created_at": _l("Created"),
    "updated_at": _l("Updated"),
    "name": _l("Name"),
    "enabled": _l("Enabled"),
    "notes": _l("Notes"),
    "channel": _l("Channel"),
    "chat_id": _l("Chat id"),
    "language": _l("Language"),
}


def labels(**extra):
    return {**COMMON_LABELS, **extra}


# --- Setup ------------------------------------------------------------------------------------

def _require_kind_fields(channel: Channel) -> None:
    """Each field the channel's platform needs, refused beside the field when empty."""
    missing = channel.missing_fields()
    if missing:
        raise FieldErrors({field: [_("Required for this platform.")] for field in missing})


def _identifier_field(label, column: str, length: int, description=None) -> StringField:
    """A platform identifier's form field: taken by another channel → an error beside it."""
    return StringField(label, description=description, widget=BS3TextFieldWidget(),
                       validators=[IdentifierFree(column), Optional(), Length(max=length)])


def _plain_status_detail(detail: str | None) -> str:
    if detail == AWAITING_VERIFICATION or detail in PAUSING_STATES.values():
        return _(detail)
    return detail or ""


def _status_detail_words(detail: str | None):
    """A stored status detail in the reader's language (app/status_words.py), its technical
    detail folded."""
    return status_detail_words(detail, _plain_status_detail)


class ChannelView(ChannelSetupMixin, ChannelActionsMixin, WorkspaceModelView):
    """Green API instances, Meta numbers, Telegram bots and the web chat widget.

    The screens ask for the platform first and then show only its fields (ChannelSetupMixin:
    `add_variants`, per-platform forms, the show page's webhook URL and live state); the REST
    twin takes every column, `kind` in the body.

    A platform identifier (instance id, bot, phone number id, WABA id) belongs to one channel of
    the whole platform (app/ownership.py); a Meta channel receives nothing until verified
    (app/jobs/verification.py), which is queued after every save that needs it."""

    datamodel = RelaydeskInterface(Channel)
    # the REST twin (api_for) runs these too
    item_validators = (_require_kind_fields, require_free_identifiers)
    plan_checks = (channel_fits_plan,)  # the plan's mediums and `max_channels`
    after_save = (verify_after_save,)
    list_columns = ["name", "kind", "enabled", "status", "verification", "last_webhook_at"]
    show_columns = ["name", "kind", "enabled", "status", "status_detail", "verification",
                    "verified_at", "last_webhook_at",
                    "api_url", "id_instance", "api_token", "webhook_token",
                    "bot_id", "bot_token", "secret_token", "api_base",
                    "phone_number_id", "waba_id", "access_token", "token_expires_on",
                    "app_secret", "quality_rating", "quality_checked_at",
                    "widget_key", "notes", "created_at", "updated_at"]
    add_columns = ["name", "kind", "enabled", "api_url", "id_instance", "api_token",
                   "webhook_token", "bot_token", "secret_token", "api_base", "phone_number_id",
                   "waba_id", "access_token", "token_expires_on", "app_secret", "notes"]
    edit_columns = add_columns
    search_columns = ["name", "kind", "enabled", "status", "id_instance", "bot_id",
                      "phone_number_id"]
    order_columns = ["name", "kind", "status", "last_webhook_at"]
    label_columns = labels(
        kind=_l("Kind"), status=_l("Status"), status_detail=_l("Status detail"),
        last_webhook_at=_l("Last webhook"), api_url=_l("Green API URL"),
        id_instance=_l("Instance id"), api_token=_l("API token"),
        webhook_token=_l("Webhook token"), bot_token=_l("Bot token"), bot_id=_l("Bot id"),
        secret_token=_l("Webhook secret token"), api_base=_l("Bot API base URL"),
        phone_number_id=_l("Phone number id"), waba_id=_l("WhatsApp Business account id"),
        access_token=_l("Access token"), app_secret=_l("App secret (manual mode)"),
        widget_key=_l("Widget key"), verification=_l("Verification"),
        verified_at=_l("Verified"), token_expires_on=_l("Access token expires on"),
        quality_rating=_l("Quality rating"), quality_checked_at=_l("Quality read"),
    )
    formatters_columns = {"kind": platform_words, "verification": verification_words,
                          "status_detail": _status_detail_words}
    edit_form_extra_fields = {
        "id_instance": _identifier_field(label_columns["id_instance"], "id_instance", 32),
        "bot_token": secret_field(label_columns["bot_token"], [IdentifierFree("bot_id")]),
        "phone_number_id": _identifier_field(label_columns["phone_number_id"],
                                             "phone_number_id", 40),
        "waba_id": _identifier_field(
            label_columns["waba_id"], "waba_id", 40, description=_l(
                "A Meta channel receives messages only once Meta confirms that its access "
                "token controls this number and this account.")),
    }
    description_columns = {
        **FIELD_HELP,
        "kind": _l("greenapi: WhatsApp through Green API · meta: WhatsApp Cloud API · "
                   "telegram: a Telegram bot · webchat: the web chat widget"),
    }


class PanelConnectionView(PanelConnectionActionsMixin, WorkspaceModelView):
    """The SMM panel this workspace answers for (one per workspace)."""

    datamodel = RelaydeskInterface(PanelConnection)
    relaydesk_roles = MANAGER_ONLY
    plan_checks = (panel_fits_plan,)  # cached service rules need the `service_cache` module
    list_columns = ["panel_type", "url", "service_rules_mode", "status", "last_checked_at"]
    show_columns = ["panel_type", "url", "api_key", "user_api_key", "service_rules_mode",
                    "requests_per_second",
                    "timeout_seconds", "status", "status_detail", "last_checked_at",
                    "created_at", "updated_at"]
    add_columns = ["panel_type", "url", "api_key", "user_api_key", "service_rules_mode",
                   "requests_per_second",
                   "timeout_seconds"]
    edit_columns = add_columns
    # a new connection starts on the most common real engine, not the demo panel (the
    # model's default, which the REST API and the workspace file keep)
    add_defaults = {"panel_type": "perfectpanel_v2"}
    search_columns = ["panel_type", "url", "status"]
    label_columns = labels(
        panel_type=_l("Panel engine"), url=_l("Panel URL"), api_key=_l("Admin API key"),
        user_api_key=_l("User API key (services list)"),
        service_rules_mode=_l("Service rules from"), requests_per_second=_l("Requests per second"),
        timeout_seconds=_l("Timeout (seconds)"), status=_l("Status"),
        status_detail=_l("Status detail"), last_checked_at=_l("Last checked"),
    )
    formatters_columns = {"status_detail": status_detail_words}
    description_columns = {
        "panel_type": JoinedText(
            code_label("panel_type", "perfectpanel_v2"), _l("(the panel's admin API)"), "·",
            code_label("panel_type", "rentalpanel_v1"), _l("(the panel's admin API)"), "·",
            code_label("panel_type", "smm_api_v2"), _l("(the reseller API: services only)"),
            "·", code_label("panel_type", "demo"), _l("(sample orders, offline)")),
        "url": _l("The panel's base URL; Relaydesk appends the API path."),
        "service_rules_mode": JoinedText(
            code_label("service_rules_mode", "names"),
            _l("(refill and start time are read from each service's name)"), "·",
            code_label("service_rules_mode", "cached"),
            _l("(Relaydesk fetches the services and keeps a rule per service)")),
    }


class WorkspaceSettingsView(WorkspaceModelView):
    """Cooldowns and limits."""

    datamodel = RelaydeskInterface(WorkspaceSettings)
    relaydesk_roles = MANAGER_ONLY
    base_permissions = NO_ADD_DELETE
    list_columns = ["cooldown_refill_seconds", "cooldown_speed_seconds",
                    "cooldown_cancel_seconds", "max_ids_per_message", "allow_partial_refill",
                    "fallback_reply_enabled", "paused_reply_enabled", "tickets_enabled",
                    "ticket_poll_seconds", "inbox_resume_minutes", "round_robin_enabled"]
    show_columns = list_columns
    add_columns = list_columns
    edit_columns = list_columns
    search_columns = ["allow_partial_refill", "fallback_reply_enabled", "paused_reply_enabled"]
    label_columns = labels(
        cooldown_refill_seconds=_l("Refill cooldown (seconds)"),
        cooldown_speed_seconds=_l("Speed cooldown (seconds)"),
        cooldown_cancel_seconds=_l("Cancel cooldown (seconds)"),
        max_ids_per_message=_l("Most order ids in one message"),
        allow_partial_refill=_l("Allow refill of partial orders"),
        fallback_reply_enabled=_l("Answer messages that are not commands"),
        paused_reply_enabled=_l("Tell customers when the service is paused"),
        tickets_enabled=_l("Answer panel tickets"),
        ticket_poll_seconds=_l("Read panel tickets every (seconds)"),
        inbox_resume_minutes=_l("Bot resumes after a takeover (minutes)"),
        round_robin_enabled=_l("Assign new conversations in turn"),
    )
    description_columns = {"paused_reply_enabled": _l(
        "While the workspace is suspended, a customer who writes gets the “service paused” "
        "reply, at most once an hour (its text is a reply template). Off: no reply at all."),
        "tickets_enabled": _l(
            "Read the pending tickets of the panel (Perfect Panel admin API v2) and answer "
            "refill, speed-up, cancel and status requests in the ticket, with the same checks "
            "as chat commands (Routing › Ticket rules). Needs a plan with the ticket workflow."),
        "ticket_poll_seconds": _l("At least 5 seconds; 60 by default."),
        "round_robin_enabled": _l(
            "A new or reopened customer conversation nobody is assigned to goes to the online "
            "team member (seen in the last 2 minutes) who got one least recently. Off: "
            "conversations are assigned by hand."),
        "inbox_resume_minutes": _l(
            "When a team member takes over a conversation in the Inbox the bot stays quiet in "
            "it. It speaks again when the conversation is resolved, or once this many minutes "
            "passed since the team's last reply. 0: only when resolved. 30 by default.")}


class MemberView(TeamMixin, WorkspaceModelView):
    """Who works in this workspace. A manager invites members by e-mail, changes their role,
    suspends, reactivates and removes them (app/views/team.py, rules in app/members.py); the
    master admin does the same in every workspace (its copy of this screen)."""

    datamodel = RelaydeskInterface(WorkspaceMember)
    plan_checks = (member_fits_plan,)  # a member moved to another workspace: its room
    base_permissions = ["can_list", "can_show", "can_invite", "can_change_role", "can_remove"]
    relaydesk_roles = {ROLE_MANAGER: WRITE}
    list_columns = ["username", "full_name", "email", "role", "status", "availability",
                    "last_login"]
    show_columns = list_columns + ["last_seen_at", "last_assigned_at", "created_at"]
    add_columns = ["user", "role"]  # the screen's "add" is the invitation form (TeamMixin)
    edit_columns = ["role"]
    search_columns = ["role"]
    label_columns = labels(user=_l("User"), role=_l("Role"), username=_l("Username"),
                           full_name=_l("Full name"), email=_l("E-mail"), active=_l("Active"),
                           status=_l("Status"), last_login=_l("Last login"),
                           availability=_l("Availability"), last_seen_at=_l("Last seen"),
                           last_assigned_at=_l("Last given a conversation"))
    description_columns = {"role": _l("Managers change settings and manage the team; agents "
                                      "read the workspace.")}


class SubscriptionView(WorkspaceModelView):
    """The workspace's plan subscription (read-only for members)."""

    datamodel = RelaydeskInterface(Subscription)
    base_permissions = READ_ONLY
    relaydesk_roles = {ROLE_MANAGER: READ}
    list_columns = ["plan", "status", "current_period_start", "current_period_end"]
    show_columns = list_columns + ["stripe_customer_id", "stripe_subscription_id", "created_at"]
    add_columns = ["plan", "status", "current_period_start", "current_period_end",
                   "stripe_customer_id", "stripe_subscription_id"]
    edit_columns = add_columns
    search_columns = ["status", "current_period_end"]  # the dashboard links to renewals due
    label_columns = labels(plan=_l("Plan"), status=_l("Status"),
                           current_period_start=_l("Period start"),
                           current_period_end=_l("Period end"),
                           stripe_customer_id=_l("Stripe customer id"),
                           stripe_subscription_id=_l("Stripe subscription id"))


class InvoiceView(WorkspaceModelView):
    """Invoices of the workspace (read-only for members), each with its PDF."""

    datamodel = RelaydeskInterface(Invoice)
    base_permissions = READ_ONLY
    relaydesk_roles = {ROLE_MANAGER: READ}
    list_columns = ["number", "amount_text", "status", "payment_method", "issued_at", "paid_at",
                    "pdf_path"]
    show_columns = ["number", "amount_text", "status", "payment_method", "payment_reference",
                    "plan", "period_start", "period_end", "issued_at", "paid_at",
                    "stripe_invoice_id", "subscription", "pdf_path"]
    add_columns = ["number", "subscription", "amount_cents", "currency", "status",
                   "payment_method", "payment_reference", "issued_at", "paid_at"]
    edit_columns = add_columns
    search_columns = ["number", "status", "payment_method", "payment_reference"]
    label_columns = labels(number=_l("Number"), amount_cents=_l("Amount (cents)"),
                           amount_text=_l("Amount"), currency=_l("Currency"),
                           status=_l("Status"), payment_method=_l("Payment method"),
                           issued_at=_l("Issued"), paid_at=_l("Paid"),
                           payment_reference=_l("Payment reference"), plan=_l("Plan"),
                           period_start=_l("Period start"), period_end=_l("Period end"),
                           stripe_invoice_id=_l("Stripe invoice id"),
                           subscription=_l("Subscription"), pdf_path=_l("File"))
    formatters_columns = {"pdf_path": pdf_link}


# --- Routing ----------------------------------------------------------------------------------

class ProviderView(WorkspaceModelView):
    """Upstream providers, recognised by the domains and aliases the panel reports."""

    datamodel = RelaydeskInterface(Provider)
    list_columns = ["name", "domains", "aliases"]
    show_columns = ["name", "domains", "aliases", "notes", "created_at", "updated_at"]
    add_columns = ["name", "domains", "aliases", "notes"]
    edit_columns = add_columns
    search_columns = ["name", "domains", "aliases"]
    label_columns = labels(domains=_l("Domains"), aliases=_l("Aliases"))
    description_columns = {
        "domains": _l("Comma separated, e.g. smmrush.com, api.smmrush.com"),
        "aliases": _l("Other names the panel may report for this provider"),
    }


class ProviderRouteView(WorkspaceModelView):
    """Where each provider's commands are sent, and in what words."""

    datamodel = RelaydeskInterface(ProviderRoute)
    plan_checks = (route_fits_plan,)  # only through a channel of a medium the plan includes
    item_validators = (route_template_valid,)
    validators_columns = {"template": [TemplateText(ROUTE)]}
    list_columns = ["provider", "channel", "chat_id", "template", "actions", "enabled"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["provider", "channel", "chat_id", "template", "actions", "enabled"]
    edit_columns = add_columns
    search_columns = ["provider", "channel", "chat_id", "enabled"]
    label_columns = labels(provider=_l("Provider"), template=_l("Command template"),
                           actions=_l("Actions"))
    description_columns = {
        "chat_id": _l("The provider's group: 120363…@g.us on WhatsApp, -100… on Telegram"),
        "template": ROUTE_HELP,
        "actions": _l("Which of refill, speed, cancel go to this chat"),
    }


class ServiceRuleView(WorkspaceModelView):
    """Per-service refill and start-time rules that override what the service name says."""

    datamodel = RelaydeskInterface(ServiceRule)
    list_columns = ["service_id", "service_name", "refill_kind", "refill_days",
                    "start_minutes_max", "allow_refill", "allow_speed", "allow_cancel",
                    "is_override"]
    show_columns = list_columns + ["notes", "created_at", "updated_at"]
    add_columns = ["service_id", "service_name", "refill_kind", "refill_days",
                   "start_minutes_max", "allow_refill", "allow_speed", "allow_cancel",
                   "is_override", "notes"]
    edit_columns = add_columns
    search_columns = ["service_id", "service_name", "refill_kind", "is_override"]
    label_columns = labels(service_id=_l("Service id"), service_name=_l("Service name"),
                           refill_kind=_l("Refill"), refill_days=_l("Refill days"),
                           start_minutes_max=_l("Starts within (minutes)"),
                           allow_refill=_l("Refill allowed"), allow_speed=_l("Speed allowed"),
                           allow_cancel=_l("Cancel allowed"), is_override=_l("Manager override"))


# --- Communication ----------------------------------------------------------------------------

def identity_has_username(identity) -> None:
    """A chat speaks for a panel username: the contact it is linked to must have one."""
    with db.session.no_autoflush:
        user = identity.linked_user or (db.session.get(LinkedUser, identity.linked_user_id)
                                        if identity.linked_user_id else None)
    if user is not None and not user.username:
        raise FieldError("linked_user", _l("Choose a contact that has a panel username (a "
                                           "linked user): a chat speaks for a username."))


class ChatIdentityView(WorkspaceModelView):
    """One chat on one channel, linked to a panel user."""

    datamodel = RelaydeskInterface(ChatIdentity)
    item_validators = (identity_has_username,)
    list_columns = ["linked_user", "channel", "chat_id", "verified_at"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["linked_user", "channel", "chat_id"]
    edit_columns = add_columns
    search_columns = ["linked_user", "channel", "chat_id"]
    search_by_label = {"linked_user": "username"}  # a text box, not a select of every user
    label_columns = labels(linked_user=_l("Linked user"), verified_at=_l("Verified"))
    description_columns = {"chat_id": _l("79001234567@c.us on WhatsApp, 123456789 on Telegram")}


class AdminIdentityView(WorkspaceModelView):
    """Chats of the panel's own staff: technical replies, may force past cooldowns."""

    datamodel = RelaydeskInterface(AdminIdentity)
    list_columns = ["name", "channel", "chat_id"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["name", "channel", "chat_id"]
    edit_columns = add_columns
    search_columns = ["name", "channel", "chat_id"]
    label_columns = labels()


# --- Templates --------------------------------------------------------------------------------

class ReplyTemplateView(WorkspaceModelView):
    """This workspace's wording of customer replies (overrides the platform defaults)."""

    datamodel = RelaydeskInterface(ReplyTemplate)
    item_validators = (reply_template_valid,)
    list_columns = ["key", "language", "body"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["key", "language", "body"]
    edit_columns = add_columns
    search_columns = ["key", "language", "body"]
    label_columns = labels(key=_l("Reply"), body=_l("Text"))
    add_form_extra_fields = {"key": reply_key_field()}
    edit_form_extra_fields = add_form_extra_fields
    validators_columns = {"body": [TemplateText(reply_kind_in_form)]}
    description_columns = {"body": REPLY_HELP}


class CommandAliasView(WorkspaceModelView):
    """Extra words customers use for an action (e.g. `dolum` for refill)."""

    datamodel = RelaydeskInterface(CommandAlias)
    list_columns = ["alias", "action"]
    show_columns = list_columns + ["created_at"]
    add_columns = ["alias", "action"]
    edit_columns = add_columns
    search_columns = ["alias", "action"]
    label_columns = labels(alias=_l("Word"), action=_l("Action"))


class CustomCommandView(WorkspaceModelView):
    """A keyword that answers with a fixed text (prices, opening hours…)."""

    datamodel = RelaydeskInterface(CustomCommand)
    item_validators = (custom_reply_valid,)
    list_columns = ["keyword", "reply", "enabled"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["keyword", "reply", "enabled"]
    edit_columns = add_columns
    search_columns = ["keyword", "reply", "enabled"]
    label_columns = labels(keyword=_l("Keyword"), reply=_l("Reply"))
    validators_columns = {"reply": [TemplateText(CUSTOM_COMMAND)]}
    description_columns = {"reply": CUSTOM_REPLY_HELP}


class QuickReplyView(WorkspaceModelView):
    """Canned answers the team inserts by typing /shortcut (e.g. /delay) when replying."""

    datamodel = RelaydeskInterface(QuickReply)
    item_validators = (quick_reply_valid,)
    list_columns = ["shortcut", "title", "body", "enabled"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["shortcut", "title", "body", "enabled"]
    edit_columns = add_columns
    search_columns = ["shortcut", "title", "body", "enabled"]
    base_order = ("shortcut", "asc")
    label_columns = labels(shortcut=_l("Shortcut"), title=_l("Title"), body=_l("Answer"))
    validators_columns = {"body": [TemplateText(QUICK_REPLY)]}
    description_columns = {
        "shortcut": _l("Typed after a slash to insert the answer: delay is used as /delay."),
        "title": _l("What the answer is about, shown in the list of quick replies."),
        "body": QUICK_REPLY_HELP,
    }
    formatters_columns = {"shortcut": lambda value: f"/{value}" if value else value,
                          "body": lambda text: (text or "")[:120]}


# (menu name, label, category, icon, view class, REST resource name)
WORKSPACE_SCREENS = [
    ("Channels", _l("Channels"), "Setup", "fa-plug", ChannelView, "channel"),
    ("Panel connection", _l("Panel connection"), "Setup", "fa-server", PanelConnectionView,
     "panel_connection"),
    ("Settings", _l("Settings"), "Setup", "fa-sliders", WorkspaceSettingsView,
     "workspace_settings"),
    ("Members", _l("Members"), "Setup", "fa-users", MemberView, "member"),
    ("Subscription", _l("Subscription"), "Setup", "fa-credit-card", SubscriptionView,
     "subscription"),
    ("Invoices", _l("Invoices"), "Setup", "fa-file-text-o", InvoiceView, "invoice"),
    ("Providers", _l("Providers"), "Routing", "fa-truck", ProviderView, "provider"),
    ("Provider routes", _l("Provider routes"), "Routing", "fa-random", ProviderRouteView,
     "provider_route"),
    ("Service rules", _l("Service rules"), "Routing", "fa-list-ol", ServiceRuleView,
     "service_rule"),
    ("Chat identities", _l("Chat identities"), "Communication", "fa-comments",
     ChatIdentityView, "chat_identity"),
    ("Admin identities", _l("Admin identities"), "Communication", "fa-user-secret",
     AdminIdentityView, "admin_identity"),
    ("Reply templates", _l("Reply templates"), "Templates", "fa-comment", ReplyTemplateView,
     "reply_template"),
    ("Command aliases", _l("Command aliases"), "Templates", "fa-language", CommandAliasView,
     "command_alias"),
    ("Custom commands", _l("Custom commands"), "Templates", "fa-terminal", CustomCommandView,
     "custom_command"),
    ("Quick replies", _l("Quick replies"), "Templates", "fa-bolt", QuickReplyView,
     "quick_reply"),
]
