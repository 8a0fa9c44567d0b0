"""Logs: every notification received, every message sent, every call made to an outside service,
and the cooldowns of order actions running now.

Read-only for managers and agents; managers may re-run an event, retry a failed send, or clear
a cooldown (recorded in the audit trail: app/audit.py).
"""
from __future__ import annotations

import json

from flask import redirect, url_for
from flask_appbuilder.actions import action
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup, escape
from sqlalchemy.orm import selectinload

from app.redaction import flash
from app.extensions import db
from app.jobs import queues
from app.models import (CommandLog, CommandOrder, CooldownClaim, ExternalCall, InboundEvent,
                        OutboundMessage)
from app.models.base import utcnow
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.export import CsvExportButton
from app.views.trace import trace_steps

LOG_PERMISSIONS = ["can_list", "can_show"]
LOG_ROLES = {ROLE_MANAGER: READ, ROLE_AGENT: READ}
# Managers may also run the screen's action (process an event again, retry a send); `WRITE`
# grants exactly the view's base_permissions, which hold no add/edit/delete here.
LOG_ROLES_WITH_ACTIONS = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}


class EagerListInterface(RelaydeskInterface):
    """The data interface of a log list whose columns show related rows: a page's related rows
    are read in one query per relation (`selectinload`), not one per row."""

    def __init__(self, obj, *, eager=(), **kwargs):
        super().__init__(obj, **kwargs)
        self.eager = tuple(eager)

    def apply_all(self, query, *args, **kwargs):
        query = super().apply_all(query, *args, **kwargs)
        return query.options(*[selectinload(getattr(self.obj, name)) for name in self.eager])


def visible(items):
    """FAB hands actions None for rows outside the scope (FAB pitfall 1): drop them."""
    if not isinstance(items, list):
        items = [items]
    return [item for item in items if item is not None]


def pretty_json(value) -> Markup:
    return Markup("<pre style='white-space:pre-wrap'>%s</pre>") % escape(
        json.dumps(value, indent=2, ensure_ascii=False, default=str))


class InboundEventView(CsvExportButton, WorkspaceModelView):
    """Notifications received from the platforms, newest first."""

    datamodel = RelaydeskInterface(InboundEvent)
    csv_resource = "inbound_event"
    base_permissions = LOG_PERMISSIONS + ["can_reprocess"]
    method_permission_name = {"reprocess": "reprocess"}
    relaydesk_roles = LOG_ROLES_WITH_ACTIONS
    base_order = ("id", "desc")
    list_columns = ["received_at", "channel", "kind", "type", "chat_id", "sender_name", "text",
                    "state", "skip_reason", "attempts"]
    show_columns = ["received_at", "occurred_at", "channel", "platform", "kind", "type",
                    "chat_id", "sender", "sender_name", "is_group", "from_me", "from_bot", "text",
                    "message_id", "status", "error_code", "error_title", "state", "skip_reason",
                    "attempts", "processed_at", "last_error", "payload"]
    search_columns = ["channel", "kind", "type", "chat_id", "sender", "text", "state",
                      "skip_reason", "received_at"]
    order_columns = ["received_at", "kind", "state", "attempts"]
    label_columns = {"received_at": _l("Received"), "occurred_at": _l("Happened"),
                     "chat_id": _l("Chat"), "sender_name": _l("From"), "text": _l("Text"),
                     "payload": _l("Payload"), "last_error": _l("Last error"),
                     "workspace": _l("Workspace"), "channel": _l("Channel"),
                     "platform": _l("Platform"), "kind": _l("Kind"), "type": _l("Type"),
                     "sender": _l("Sender"), "is_group": _l("Group chat"),
                     "from_me": _l("Sent by us"), "from_bot": _l("From a bot"),
                     "message_id": _l("Message id"), "status": _l("Status"),
                     "error_code": _l("Error code"), "error_title": _l("Error title"),
                     "state": _l("State"), "attempts": _l("Attempts"),
                     "processed_at": _l("Processed"), "skip_reason": _l("Why skipped")}
    formatters_columns = {"text": lambda t: (t or "")[:120], "payload": pretty_json}

    @action("reprocess", _l("Process again"), _l("Process the selected events again?"),
            "fa-refresh")
    def reprocess(self, items):
        rows = visible(items)
        for row in rows:
            row.state = "pending"
            row.lease_until = None
        db.session.commit()
        queued = queues.enqueue_events([row.id for row in rows])
        flash(ngettext("%(num)d event queued again.", "%(num)d events queued again.", queued),
              "success")
        self.update_redirect()
        return redirect(self.get_redirect())


class OutboundMessageView(CsvExportButton, WorkspaceModelView):
    """Messages sent (or being sent) to customers and provider groups."""

    datamodel = RelaydeskInterface(OutboundMessage)
    csv_resource = "outbound_message"
    base_permissions = LOG_PERMISSIONS + ["can_retry"]
    method_permission_name = {"retry": "retry"}
    relaydesk_roles = LOG_ROLES_WITH_ACTIONS
    base_order = ("id", "desc")
    list_columns = ["created_at", "channel", "purpose", "chat_id", "text", "state",
                    "delivery_status", "attempts", "error_code"]
    show_columns = ["created_at", "sent_at", "channel", "purpose", "chat_id", "text",
                    "parts_total", "parts_sent", "state", "attempts", "next_attempt_at",
                    "delivery_status", "delivery_status_at", "error_code", "last_error",
                    "idempotency_key"]
    search_columns = ["channel", "purpose", "chat_id", "text", "state", "delivery_status",
                      "error_code", "created_at"]
    label_columns = {"created_at": _l("Created"), "chat_id": _l("Chat"), "text": _l("Text"),
                     "delivery_status": _l("Delivery"), "error_code": _l("Error"),
                     "workspace": _l("Workspace"), "channel": _l("Channel"),
                     "purpose": _l("Purpose"), "sent_at": _l("Sent"),
                     "parts_total": _l("Parts"), "parts_sent": _l("Parts sent"),
                     "state": _l("State"), "attempts": _l("Attempts"),
                     "next_attempt_at": _l("Next attempt"),
                     "delivery_status_at": _l("Delivery updated"),
                     "last_error": _l("Last error"), "idempotency_key": _l("Idempotency key")}
    formatters_columns = {"text": lambda t: (t or "")[:120]}

    @action("retry", _l("Retry now"), _l("Send the selected failed messages again?"),
            "fa-repeat")
    def retry(self, items):
        rows = [row for row in visible(items) if row.state in ("failed", "retrying")]
        for row in rows:
            row.state = "retrying"
            # due now, and a real time: should queueing fail (Redis down) the maintenance
            # sweep finds the row by it (it never matches a NULL next_attempt_at)
            row.next_attempt_at = utcnow()
            row.attempts = 0
        db.session.commit()
        for row in rows:
            queues.enqueue_send(row.id)
        flash(ngettext("%(num)d message queued again.", "%(num)d messages queued again.",
                       len(rows)), "success")
        self.update_redirect()
        return redirect(self.get_redirect())


class ExternalCallView(CsvExportButton, WorkspaceModelView):
    """Calls made to panels and messaging platforms (secrets redacted)."""

    datamodel = RelaydeskInterface(ExternalCall)
    csv_resource = "external_call"
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("id", "desc")
    list_columns = ["at", "service", "operation", "status_code", "outcome", "duration_ms"]
    show_columns = ["at", "service", "operation", "method", "url", "status_code", "outcome",
                    "duration_ms", "error", "request_body", "response_body"]
    search_columns = ["service", "operation", "status_code", "outcome", "at"]
    label_columns = {"at": _l("When"), "duration_ms": _l("Time (ms)"),
                     "status_code": _l("HTTP status"), "workspace": _l("Workspace"),
                     "service": _l("Service"), "operation": _l("Operation"),
                     "method": _l("Method"), "url": _l("URL"), "outcome": _l("Outcome"),
                     "error": _l("Error"), "request_body": _l("Request"),
                     "response_body": _l("Response")}


def trace_table(steps) -> Markup:
    """The command trace as numbered plain-language steps (app/views/trace.py)."""
    return trace_steps(steps)


class CommandOrderView(CsvExportButton, WorkspaceModelView):
    """One line per order of a command: the verdict and where it went."""

    datamodel = RelaydeskInterface(CommandOrder)
    csv_resource = "command_order"
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("id", "desc")
    list_columns = ["created_at", "order_id", "action", "ok", "reason", "provider", "route",
                    "external_id"]
    show_columns = list_columns + ["detail", "command_log"]
    search_columns = ["order_id", "action", "ok", "reason", "provider", "external_id",
                      "created_at"]
    label_columns = {"order_id": _l("Order"), "reason": _l("Reason"), "ok": _l("Accepted"),
                     "workspace": _l("Workspace"), "created_at": _l("Created"),
                     "action": _l("Action"), "provider": _l("Provider"), "route": _l("Route"),
                     "external_id": _l("External id"), "detail": _l("Details"),
                     "command_log": _l("Command")}


class CommandLogView(CsvExportButton, WorkspaceModelView):
    """Every chat message handled: what was understood, decided and answered, step by step."""

    datamodel = EagerListInterface(CommandLog, eager=("linked_user",))
    csv_resource = "command_log"
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("id", "desc")
    related_views = [CommandOrderView]
    list_columns = ["created_at", "chat_id", "linked_user", "text", "actions", "outcome",
                    "duration_ms"]
    show_columns = ["created_at", "channel", "chat_id", "linked_user", "admin_identity", "text",
                    "language", "actions", "order_ids", "outcome", "reply_text", "duration_ms",
                    "state", "error", "trace"]
    search_columns = ["chat_id", "linked_user", "channel", "text", "actions", "order_ids",
                      "outcome", "state", "created_at"]
    search_by_label = {"linked_user": "username"}  # a text box, not a select of every user
    label_columns = {"created_at": _l("Received"), "chat_id": _l("Chat"),
                     "linked_user": _l("Linked user"), "text": _l("Message"),
                     "actions": _l("Actions"), "outcome": _l("Outcome"),
                     "reply_text": _l("Reply"), "duration_ms": _l("Time (ms)"),
                     "order_ids": _l("Orders"), "trace": _l("Trace"),
                     "workspace": _l("Workspace"), "channel": _l("Channel"),
                     "admin_identity": _l("Admin identity"), "language": _l("Language"),
                     "state": _l("State"), "error": _l("Error")}
    formatters_columns = {"text": lambda t: (t or "")[:120], "trace": trace_table}


def time_left(seconds: float) -> str:
    """A cooldown's time left in words: "14 minutes left", or "Ended"."""
    if not seconds or seconds <= 0:
        return _("Ended")
    from datetime import timedelta

    return _("%(time)s left", time=format_timedelta(timedelta(seconds=seconds),
                                                    threshold=1.0))


#: the datetime filters FAB offers, by position (`_flt_<position>_<column>`)
FILTER_GREATER, FILTER_SMALLER = 1, 2


class CooldownClaimView(CsvExportButton, WorkspaceModelView):
    """The cooldowns of order actions (refill, speed up, cancel): while one runs, the same
    action on the same order is refused. Ended ones are deleted by the maintenance runner
    (hourly) and shown as ended until then. Managers may clear one: the customer can ask
    again at once; the clear is recorded in the audit trail."""

    datamodel = RelaydeskInterface(CooldownClaim)
    csv_resource = "cooldown_claim"
    list_template = "relaydesk/cooldown_list.html"
    base_permissions = LOG_PERMISSIONS + ["can_clear"]
    method_permission_name = {"clear": "clear"}
    relaydesk_roles = LOG_ROLES_WITH_ACTIONS
    base_order = ("expires_at", "desc")
    list_columns = ["order_id", "action", "channel", "chat_id", "username", "claimed_at",
                    "expires_at", "seconds_left"]
    show_columns = ["order_id", "action", "channel", "chat_id", "username", "claimed_at",
                    "expires_at", "seconds_left", "command_log_id"]
    search_columns = ["order_id", "action", "channel", "chat_id", "username", "expires_at",
                      "claimed_at"]
    order_columns = ["order_id", "action", "claimed_at", "expires_at"]
    label_columns = {"order_id": _l("Order"), "action": _l("Action"), "channel": _l("Channel"),
                     "chat_id": _l("Chat"), "username": _l("Linked user"),
                     "claimed_at": _l("Started"), "expires_at": _l("Ends"),
                     "seconds_left": _l("Time left"), "command_log_id": _l("Command"),
                     "workspace": _l("Workspace")}
    description_columns = {
        "username": _l("The linked user (or panel ticket customer) who asked, when known."),
        "command_log_id": _l("The command that started it (a negative number: a panel "
                             "ticket's)."),
    }
    formatters_columns = {"seconds_left": time_left}

    @action("clear", _l("Clear cooldown"),
            _l("Clear the selected cooldowns? The customer can ask for the same action on the "
               "same order again at once. This is recorded in the audit trail."), "fa-eraser")
    def clear(self, items):
        rows = visible(items)
        for row in rows:
            db.session.delete(row)  # through the ORM: the audit hook records each one
        db.session.commit()
        flash(ngettext("%(num)d cooldown cleared.", "%(num)d cooldowns cleared.", len(rows)),
              "success")
        # a cleared row's show page is gone: back to the list
        return redirect(url_for(f"{self.endpoint}.list"))

    def render_template(self, template, **kwargs):
        if template == self.list_template:
            now = utcnow().strftime("%Y-%m-%d %H:%M:%S")
            base = url_for(f"{self.endpoint}.list")
            kwargs["cooldown_presets"] = [
                (_("Running now"), f"{base}?_flt_{FILTER_GREATER}_expires_at={now}"),
                (_("Ended"), f"{base}?_flt_{FILTER_SMALLER}_expires_at={now}"),
                (_("All"), base),
            ]
        return super().render_template(template, **kwargs)


#: the REST twin `cooldown_claim` (docs/contracts.md "Operate contracts"): read, and DELETE
#: (managers) to clear one
_COOLDOWN_API_READ = ["id", "order_id", "action", "channel", "chat_id", "username",
                      "claimed_at", "expires_at", "command_log_id"]
COOLDOWN_API_COLUMNS = {
    "list_columns": _COOLDOWN_API_READ,
    "show_columns": _COOLDOWN_API_READ,
    "base_permissions": ["can_get", "can_info", "can_delete"],
}
