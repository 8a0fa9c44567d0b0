"""Panel tickets: the subject rules (Routing › Ticket rules) and what the ticket runner did
(Logs › Panel tickets, read-only). Both have REST twins (`ticket_rule`, `ticket_activity`).

These are the tickets of the workspace's own panel (app/jobs/tickets.py), not the platform's
support queue (app/views/platform_support.py).
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.models import TicketActivity, TicketRule
from app.validation import FieldErrors
from app.views.export import CsvExportButton
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.logs import LOG_PERMISSIONS, LOG_ROLES, pretty_json
from app.views.trace import OUTCOMES, trace_steps

#: a ticket message's outcome in words (the pipeline's, and the ticket runner's own)
TICKET_OUTCOMES = {
    **OUTCOMES,
    "no_rule": _l("left to the staff: no subject rule matched"),
    "ignored_by_rule": _l("left to the staff by a rule"),
    "no_user": _l("left to the staff: the ticket names no customer"),
    "no_ids": _l("left to the staff: no order id in the customer's message"),
    "error": _l("failed: tried again at the next poll"),
}


def outcome_words(outcome: str | None) -> str:
    if not outcome:
        return "—"
    label = TICKET_OUTCOMES.get(outcome)
    return str(label) if label is not None else outcome


def rule_has_words(item) -> None:
    """A rule needs subject words, message words or both (else it would match nothing)."""
    if not (item.subject_words or "").strip() and not (item.message_words or "").strip():
        message = _l("Give subject words, message words or both.")
        raise FieldErrors({"subject_words": [message], "message_words": [message]})


class TicketRuleView(WorkspaceModelView):
    """Subject rules of the panel ticket workflow: which action a ticket asks for."""

    datamodel = RelaydeskInterface(TicketRule)
    item_validators = (rule_has_words,)
    base_order = ("position", "asc")
    list_columns = ["position", "name", "subject_words", "message_words", "action", "enabled"]
    show_columns = list_columns + ["created_at", "updated_at"]
    add_columns = ["name", "position", "subject_words", "message_words", "action", "enabled"]
    edit_columns = add_columns
    search_columns = ["name", "subject_words", "message_words", "action", "enabled"]
    order_columns = ["position", "name", "action"]
    label_columns = {"workspace": _l("Workspace"), "name": _l("Name"),
                     "position": _l("Order"), "subject_words": _l("Subject contains"),
                     "message_words": _l("Message contains"), "action": _l("Action"),
                     "enabled": _l("Enabled"), "created_at": _l("Created"),
                     "updated_at": _l("Updated")}
    description_columns = {
        "subject_words": _l("Words or phrases separated by commas; the rule matches when the "
                            "ticket's subject contains one of them (capitals and accents do "
                            "not matter). Plain words, not patterns."),
        "message_words": _l("Words or phrases separated by commas, looked for in the "
                            "customer's new messages. With subject words too, both must "
                            "match."),
        "position": _l("Rules are tried from the lowest number; the built-in rules (Order - "
                       "Refill, Speed up, Cancel, Refund… in every shipped language) come "
                       "after yours. A rule that leaves matching tickets to the staff turns "
                       "a built-in one off."),
        "action": _l("What is done for the order ids the customer wrote: the same checks as "
                     "a chat command (ownership, eligibility, cooldowns), then the reply in "
                     "the ticket."),
    }
    formatters_columns = {"subject_words": lambda t: (t or "")[:120],
                          "message_words": lambda t: (t or "")[:120]}


class TicketActivityView(CsvExportButton, WorkspaceModelView):
    """Every customer message of a panel ticket the runner read: the rule, the orders, the
    outcome and the reply posted."""

    datamodel = RelaydeskInterface(TicketActivity)
    csv_resource = "ticket_activity"
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("id", "desc")
    list_columns = ["created_at", "ticket_id", "username", "subject", "action", "order_ids",
                    "state", "outcome"]
    show_columns = ["created_at", "ticket_id", "username", "subject", "customer_text", "rule",
                    "action", "order_ids", "language", "state", "outcome", "reply_text",
                    "replied_at", "attempts", "duration_ms", "error", "orders", "trace"]
    search_columns = ["ticket_id", "username", "subject", "action", "order_ids", "state",
                      "outcome", "created_at"]
    order_columns = ["created_at", "ticket_id", "username", "state"]
    label_columns = {"workspace": _l("Workspace"), "created_at": _l("Read"),
                     "ticket_id": _l("Ticket"), "username": _l("Customer"),
                     "subject": _l("Subject"), "customer_text": _l("Customer's message"),
                     "rule": _l("Rule"), "action": _l("Action"), "order_ids": _l("Orders"),
                     "language": _l("Language"), "state": _l("State"),
                     "outcome": _l("Outcome"), "reply_text": _l("Reply"),
                     "replied_at": _l("Replied"), "attempts": _l("Attempts"),
                     "duration_ms": _l("Time (ms)"), "error": _l("Error"),
                     "orders": _l("Per order"), "trace": _l("Trace"),
                     "message_key": _l("Message"), "claimed_at": _l("Claimed"),
                     "checked_at": _l("Last read")}
    formatters_columns = {
        "subject": lambda t: (t or "")[:80],
        "customer_text": lambda t: Markup("<pre style='white-space:pre-wrap'>%s</pre>")
        % escape(t or ""),
        "outcome": outcome_words,
        "orders": pretty_json,
        "trace": trace_steps,
    }
