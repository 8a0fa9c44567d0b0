"""Registers every screen and REST API on an AppBuilder, grouped by workspace section.

Menus follow the workspace sections: Setup, Routing, Communication, Logs, Templates, Support tools.
The master admin's menu is grouped to fit one row: "Master admin", "All workspaces" (every
workspace screen, under one header per section), "Support tools" and FAB's "Security" (user and
role screens, then the raw permission screens); the workspace sections themselves are not shown to
the master admin (their screens are the ones under "All workspaces").
"""
from __future__ import annotations

from flask import current_app
from flask_appbuilder.menu import MenuItem
from flask_babel import lazy_gettext as _l

from app.auth.impersonation import SignInAsView
from app.views.account import MyApiKeysView
from app.views.live import LiveView, TeamApi, TeamFiguresView, live_member
from app.views.admin import (GlobalReplyTemplateView, MyWorkspaceView, PaymentEventView,
                             PlanPriceView, PlanView, WorkspaceAdminView)
from app.views.audit import API_COLUMNS as AUDIT_API_COLUMNS
from app.views.audit import AuditEntryView
from app.views.base import admin_variant, api_for
from app.views.billing import (PENDING_LIST, BillingView, PaymentMethodView,
                               PaymentSubmissionView, SubscriptionAdminMixin)
from app.views.broadcasts import BroadcastApi, BroadcastRecipientView, BroadcastView
from app.views.channels import DetectedChatView
from app.views.contacts import (ContactGroupView, ContactImportView, ContactView,
                                LinkedUserView)
from app.views.conversations import (CONVERSATION_API_COLUMNS, CUSTOMERS_ONLY, ConversationView,
                                     conversation_api)
from app.views.export import with_csv_export
from app.views.formatting import make_readable
from app.views.health import HealthApi, HealthView
from app.views.public_api import ContactsApi, MessagesApi
from app.views.payments import PaymentsView
from app.views.platform_support import (WAITING_LIST, SupportQueueView, SupportTicketApi,
                                        SupportTicketView)
from app.views.inbox import InboxView
from app.views.playground import PlaygroundView
from app.views.dashboard import DashboardApi, DashboardView
from app.views.home import OnboardingApi
from app.views.runners import API_COLUMNS as RUNNER_API_COLUMNS
from app.views.runners import RunnerStateView
from app.views.catalogue import CatalogueApi, TranslationsView
from app.views.runtime import RuntimeApi, RuntimeView
from app.views.saas_api import SubscriptionApi, WorkspaceApi
from app.views.titles import screen_titles
from app.views.replies_catalogue import BuiltInRepliesView
from app.views.mail_templates import EmailTemplateView
from app.views.media import InboxMediaView, MediaView
from app.views.logs import (COOLDOWN_API_COLUMNS, CommandLogView, CommandOrderView,
                            CooldownClaimView, ExternalCallView, InboundEventView,
                            OutboundMessageView)
from app.views.tickets import TicketActivityView, TicketRuleView
from app.views.workspace import WORKSPACE_SCREENS, InvoiceView, MemberView, SubscriptionView

# Read-only in a workspace, but the master admin creates and edits these rows.
ADMIN_MANAGES = {MemberView, SubscriptionView, InvoiceView}
# What the master admin's copy of a screen adds (actions and their pages).
ADMIN_EXTRAS = {SubscriptionView: SubscriptionAdminMixin}
# Screens whose REST twin is written out (app/views/saas_api.py) rather than made by api_for.
OWN_APIS = {SubscriptionView: SubscriptionApi,
            ConversationView: conversation_api(api_for(
                ConversationView, "conversation", **CONVERSATION_API_COLUMNS))}

# Screens registered after the workspace ones: (menu name, label, category, icon, view, resource)
EXTRA_SCREENS = [
    # under Communication: the menu bar keeps one row at 1280 px in every language
    ("Contacts", _l("Contacts"), "Communication", "fa-address-book", ContactView, "contact"),
    ("Contact groups", _l("Contact groups"), "Communication", "fa-users", ContactGroupView,
     "contact_group"),
    # the contacts with a panel username (app/views/contacts.py)
    ("Linked users", _l("Linked users"), "Communication", "fa-link", LinkedUserView,
     "linked_user"),
    ("Detected chats", _l("Detected chats"), "Communication", "fa-eye", DetectedChatView,
     "detected_chat"),
    ("Conversations", _l("Conversations"), "Logs", "fa-comments-o", ConversationView,
     "conversation"),
    ("Commands", _l("Commands"), "Logs", "fa-list-alt", CommandLogView, "command_log"),
    ("Command orders", _l("Command orders"), "Logs", "fa-list", CommandOrderView,
     "command_order"),
    ("Inbound events", _l("Inbound events"), "Logs", "fa-inbox", InboundEventView,
     "inbound_event"),
    ("Outbound messages", _l("Outbound messages"), "Logs", "fa-paper-plane",
     OutboundMessageView, "outbound_message"),
    ("External calls", _l("External calls"), "Logs", "fa-exchange", ExternalCallView,
     "external_call"),
    ("Cooldowns", _l("Cooldowns"), "Logs", "fa-hourglass-half", CooldownClaimView,
     "cooldown_claim"),
    ("Media", _l("Media"), "Logs", "fa-paperclip", MediaView, "media"),
    # the workspace's own panel's tickets (app/jobs/tickets.py), not the platform support queue
    ("Ticket rules", _l("Ticket rules"), "Routing", "fa-ticket", TicketRuleView, "ticket_rule"),
    ("Panel tickets", _l("Panel tickets"), "Logs", "fa-ticket", TicketActivityView,
     "ticket_activity"),
    ("Runners", _l("Runners"), "Logs", "fa-clock-o", RunnerStateView, "runner_state"),
]
# REST twins whose columns differ from their screen's (api_for's `columns`)
API_COLUMNS_OF = {RunnerStateView: RUNNER_API_COLUMNS, CooldownClaimView: COOLDOWN_API_COLUMNS,
                  LinkedUserView: {"base_filters": LinkedUserView.base_filters}}

# The REST API takes and gives a price's amount in minor units (the screens type it as money).
PLAN_PRICE_API_COLUMNS = {
    "list_columns": ["plan", "currency", "interval", "amount_cents", "stripe_price_id",
                     "razorpay_plan_id"],
    "show_columns": ["plan", "currency", "interval", "amount_cents", "stripe_price_id",
                     "razorpay_plan_id", "created_at", "updated_at"],
    "add_columns": ["plan", "currency", "interval", "amount_cents", "stripe_price_id",
                    "razorpay_plan_id"],
    "edit_columns": ["plan", "currency", "interval", "amount_cents", "stripe_price_id",
                     "razorpay_plan_id"],
}

CATEGORY_LABELS = {
    "Setup": _l("Setup"),
    "Routing": _l("Routing"),
    "Communication": _l("Communication"),
    "Logs": _l("Logs"),
    "Templates": _l("Templates"),
    "Contacts": _l("Contacts"),
    "Support tools": _l("Support tools"),
    "Master admin": _l("Master admin"),
    "All workspaces": _l("All workspaces"),
}
# Categories a member sees and the master admin does not (their screens are under "All workspaces").
WORKSPACE_SECTIONS = ("Setup", "Routing", "Communication", "Logs", "Templates")
# Menu entries of other categories that only members see (the master admin's twin is elsewhere).
MEMBER_ONLY_ENTRIES = ("Platform support",)
# FAB's security screens: people first, then the raw permission screens after a separator.
SECURITY_PEOPLE = ("List Users", "List Roles", "User's Statistics")
CATEGORY_ICONS = {
    "Setup": "fa-cogs", "Routing": "fa-random", "Communication": "fa-comments",
    "Logs": "fa-history", "Templates": "fa-file-text-o", "Contacts": "fa-address-book",
    "Support tools": "fa-wrench",
    "Master admin": "fa-shield", "All workspaces": "fa-globe",
}


def add_screen(appbuilder, view, name, label, category, icon=""):
    screen_titles(view, label)  # "Channels", "Channels › Add"... (app/views/titles.py)
    make_readable(view)  # values as words in every list and show column (app/views/formatting.py)
    return appbuilder.add_view(
        view, name, label=label, icon=icon, category=category,
        category_label=CATEGORY_LABELS[category], category_icon=CATEGORY_ICONS[category],
    )


def register_views(appbuilder) -> None:
    # the team's inbox (app/views/inbox.py): a menu entry of its own, first for members
    screen_titles(InboxView, _l("Inbox"))
    appbuilder.add_view(InboxView, "Inbox", label=_l("Inbox"), icon="fa-inbox")
    add_screen(appbuilder, MyWorkspaceView, "My workspace", _l("My workspace"), "Setup",
               "fa-building")
    for name, label, category, icon, view, resource in WORKSPACE_SCREENS + EXTRA_SCREENS:
        add_screen(appbuilder, view, name, label, category, icon)
        api = OWN_APIS.get(view) or api_for(view, resource, **API_COLUMNS_OF.get(view, {}))
        appbuilder.add_api(with_csv_export(api) if getattr(view, "csv_resource", "") else api)
    add_screen(appbuilder, ContactImportView, "Import contacts", _l("Import contacts"),
               "Communication", "fa-upload")

    # the workspace's audit trail (read-only; the master admin's copy is under Master admin)
    add_screen(appbuilder, AuditEntryView, "Audit trail", _l("Audit trail"), "Logs",
               "fa-history")
    appbuilder.add_api(api_for(AuditEntryView, "audit_entry", **AUDIT_API_COLUMNS))

    # the catalogue of built-in replies, beside the workspace's Reply templates; the master admin
    # (who does not see Templates) reaches it under Master admin, next to Default replies
    add_screen(appbuilder, BuiltInRepliesView, "Built-in replies", _l("Built-in replies"),
               "Templates", "fa-book")
    add_screen(appbuilder, PlaygroundView, "Playground", _l("Playground"), "Support tools",
               "fa-flask")
    add_screen(appbuilder, MyApiKeysView, "API keys", _l("API keys"), "Support tools", "fa-key")
    # real time and the team (app/views/live.py): the live channel, availability, figures
    appbuilder.add_view_no_menu(LiveView)
    appbuilder.add_view(TeamFiguresView, "Team figures", label=_l("Team figures"),
                        icon="fa-bar-chart", category="Setup",
                        category_label=CATEGORY_LABELS["Setup"],
                        category_icon=CATEGORY_ICONS["Setup"])
    appbuilder.add_api(TeamApi)
    register_platform_support(appbuilder)
    register_broadcasts(appbuilder)
    register_health(appbuilder)
    appbuilder.add_link("API documentation", label=_l("API documentation"),
                        href="/swagger/v1", icon="fa-book", category="Support tools",
                        category_label=CATEGORY_LABELS["Support tools"],
                        category_icon=CATEGORY_ICONS["Support tools"])

    add_screen(appbuilder, DashboardView, "Dashboard", _l("Dashboard"), "Master admin",
               "fa-tachometer")
    appbuilder.add_api(DashboardApi)
    appbuilder.add_api(OnboardingApi)
    # the public API's exact paths (docs/contracts.md "Public API")
    appbuilder.add_api(ContactsApi)
    appbuilder.add_api(MessagesApi)
    add_screen(appbuilder, WorkspaceAdminView, "Workspaces", _l("Workspaces"), "Master admin",
               "fa-building")
    appbuilder.add_api(WorkspaceApi)
    add_screen(appbuilder, PlanView, "Plans", _l("Plans"), "Master admin", "fa-tags")
    # a plan's prices: on the plan's page (PlanView.related_views), no menu entry of their own
    screen_titles(PlanPriceView, _l("Plan prices"))
    make_readable(PlanPriceView)
    appbuilder.add_view_no_menu(PlanPriceView)
    # the composer's attachment upload (POST /inbox/media), on a conversation's page
    appbuilder.add_view_no_menu(InboxMediaView)
    # the card-payment buttons' POST routes (/billing/...), shown on the billing page
    appbuilder.add_view_no_menu(PaymentsView)
    # "Sign in as manager" (the Workspaces screen's action) and "Return to my account"
    appbuilder.add_view_no_menu(SignInAsView)
    appbuilder.add_api(api_for(PlanView, "plan", show_columns=[*PlanView.show_columns,
                                                                "prices"]))
    appbuilder.add_api(api_for(PlanPriceView, "plan_price", **PLAN_PRICE_API_COLUMNS))
    add_screen(appbuilder, GlobalReplyTemplateView, "Default replies", _l("Default replies"),
               "Master admin", "fa-comment-o")
    add_screen(appbuilder, PaymentEventView, "Payment events", _l("Payment events"),
               "Master admin", "fa-exchange")
    appbuilder.add_api(api_for(PaymentEventView, "payment_event"))
    add_screen(appbuilder, EmailTemplateView, "E-mail templates", _l("E-mail templates"),
               "Master admin", "fa-envelope-o")
    appbuilder.add_api(api_for(EmailTemplateView, "email_template"))
    register_billing(appbuilder)
    appbuilder.add_link("Built-in replies catalogue", label=_l("Built-in replies"),
                        href="/replies/built-in/", icon="fa-book", category="Master admin",
                        category_label=CATEGORY_LABELS["Master admin"],
                        category_icon=CATEGORY_ICONS["Master admin"])
    add_screen(appbuilder, RuntimeView, "Runtime", _l("Runtime"), "Master admin", "fa-heartbeat")
    add_screen(appbuilder, admin_variant(AuditEntryView), "Audit trail (all workspaces)",
               _l("Audit trail"), "Master admin", "fa-history")
    appbuilder.add_api(RuntimeApi)
    # the translators' workspace: every catalogue, edited live (Translator and Admin)
    add_screen(appbuilder, TranslationsView, "Translations", _l("Translations"), "Master admin",
               "fa-language")
    appbuilder.add_api(CatalogueApi)
    for name, label, _category, icon, view, _resource in WORKSPACE_SCREENS + EXTRA_SCREENS:
        full = admin_variant(view)
        if view in ADMIN_EXTRAS:
            full = type(full.__name__, (ADMIN_EXTRAS[view], full),
                        {"__module__": full.__module__, "__doc__": full.__doc__})
        if view in ADMIN_MANAGES:
            full.base_permissions = None  # read-only for members, full CRUD for the master admin
        add_screen(appbuilder, full, f"All {name.lower()}", label, "All workspaces", icon)
    open_on_customers(appbuilder)
    group_menus(appbuilder)


def open_on_customers(appbuilder) -> None:
    """Logs › Conversations (and the master admin's copy) open on customer chats: their menu
    entries link to the list with the `kind` filter set."""
    for item in (appbuilder.menu.find("Conversations"),
                 appbuilder.menu.find("All conversations")):
        if item is not None and item.baseview is not None:
            item.href = f"/{item.baseview.route_base.strip('/')}/list/{CUSTOMERS_ONLY}"


def register_platform_support(appbuilder) -> None:
    """Support tools › Platform support (a workspace's tickets to the platform team; hidden
    from the master admin, whose tickets page is Master admin › Support queue, opened on the
    tickets waiting for the platform) and their REST resource `support_ticket`."""
    add_screen(appbuilder, SupportTicketView, "Platform support", _l("Platform support"),
               "Support tools", "fa-life-ring")
    appbuilder.add_api(SupportTicketApi)
    screen_titles(SupportQueueView, _l("Support queue"))
    make_readable(SupportQueueView)
    appbuilder.add_view_no_menu(SupportQueueView)
    appbuilder.add_link("Support queue", label=_l("Support queue"), href=WAITING_LIST,
                        icon="fa-life-ring", category="Master admin",
                        category_label=CATEGORY_LABELS["Master admin"],
                        category_icon=CATEGORY_ICONS["Master admin"])


def register_health(appbuilder) -> None:
    """Setup › Health (a manager's workspace; the master admin's link lists every workspace
    with problems) and `GET /api/v1/health`."""
    add_screen(appbuilder, HealthView, "Health", _l("Health"), "Setup", "fa-heartbeat")
    appbuilder.add_api(HealthApi)
    appbuilder.add_link("Health (all workspaces)", label=_l("Health"), href="/health/",
                        icon="fa-heartbeat", category="Master admin",
                        category_label=CATEGORY_LABELS["Master admin"],
                        category_icon=CATEGORY_ICONS["Master admin"])


def register_broadcasts(appbuilder) -> None:
    """Communication › Broadcasts and their REST resource `broadcast` (with its four
    actions); each broadcast's recipients (on its page, no menu entry) and their read-only
    REST resource `broadcast_recipient`."""
    add_screen(appbuilder, BroadcastView, "Broadcasts", _l("Broadcasts"), "Communication",
               "fa-bullhorn")
    appbuilder.add_api(BroadcastApi)
    screen_titles(BroadcastRecipientView, _l("Broadcast recipients"))
    make_readable(BroadcastRecipientView)
    appbuilder.add_view_no_menu(BroadcastRecipientView)
    appbuilder.add_api(with_csv_export(api_for(BroadcastRecipientView, "broadcast_recipient")))


def register_billing(appbuilder) -> None:
    """Master admin › Payment methods and Pending approvals (the submissions list, opened
    filtered to pending); the manager's Billing page under Setup; invoice PDFs."""
    add_screen(appbuilder, PaymentMethodView, "Payment methods", _l("Payment methods"),
               "Master admin", "fa-university")
    screen_titles(PaymentSubmissionView, _l("Pending approvals"))
    make_readable(PaymentSubmissionView)
    appbuilder.add_view_no_menu(PaymentSubmissionView)
    # its REST twin reads (approving and rejecting are the review page's, with a note)
    submission_columns = ["workspace", "plan", "interval", "amount_cents", "currency",
                          "reference", "customer_note", "status", "review_note", "reviewed_at",
                          "invoice", "created_at"]
    appbuilder.add_api(api_for(PaymentSubmissionView, "payment_submission",
                               list_columns=submission_columns,
                               show_columns=submission_columns,
                               search_columns=["workspace", "status", "reference", "plan"]))
    appbuilder.add_link("Pending approvals", label=_l("Pending approvals"), href=PENDING_LIST,
                        icon="fa-check-square-o", category="Master admin",
                        category_label=CATEGORY_LABELS["Master admin"],
                        category_icon=CATEGORY_ICONS["Master admin"])
    appbuilder.add_view(BillingView, "Billing", label=_l("Billing"), icon="fa-money",
                        category="Setup", category_label=CATEGORY_LABELS["Setup"],
                        category_icon=CATEGORY_ICONS["Setup"])


def group_menus(appbuilder) -> None:
    """Section headers under "All workspaces", FAB's Security screens in two groups, and the
    menu categories hidden from the master admin (navbar_menu.html asks `relaydesk_menu_hidden`).
    """
    section_of = {f"All {name.lower()}": category
                  for name, _label, category, *_rest in WORKSPACE_SCREENS + EXTRA_SCREENS}
    everything = appbuilder.menu.find("All workspaces")
    if everything is not None:
        everything.childs.sort(key=lambda item: _section_rank(section_of.get(item.name)))
        for item in everything.childs:
            section = section_of.get(item.name)
            item.relaydesk_section = CATEGORY_LABELS.get(section) if section else None
    security = appbuilder.menu.find("Security")
    if security is not None and not any(item.name == "-" for item in security.childs):
        people = [item for item in security.childs if item.name in SECURITY_PEOPLE]
        rest = [item for item in security.childs if item.name not in SECURITY_PEOPLE]
        security.childs[:] = people + ([MenuItem("-")] if people and rest else []) + rest
    current_app.add_template_global(hidden_menu_categories, "relaydesk_menu_hidden")
    current_app.add_template_global(live_member, "relaydesk_member")


def _section_rank(section: str | None) -> int:
    order = ("Setup", "Routing", "Communication", "Templates", "Logs")
    return order.index(section) if section in order else len(order)


def hidden_menu_categories() -> frozenset[str]:
    """Menu categories (and entries) not shown to the signed-in person: the workspace sections
    for the master admin, whose menu would not fit one row otherwise, and the member-only
    entries (Platform support: the master admin's is the Support queue)."""
    from app.tenancy import current_scope

    if current_scope().all_workspaces:
        return frozenset(WORKSPACE_SECTIONS + MEMBER_ONLY_ENTRIES)
    return frozenset()
