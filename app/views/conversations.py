"""Logs › Conversations: one row per chat, newest activity first; each opens its thread.

The list is FAB's over the `conversation` table (app/models/conversations.py): filters by time,
channel, linked user, chat id, contact name, kind and the last message's text, pagination and
"Export CSV" like the other log lists. It opens on customer chats (the menu's link carries the
`kind` filter; removing it shows groups and provider groups too). A row's page is the thread
(app/conversations.py): the chat's messages in and out and its dispatch notes, newest first,
by keyset pages, filtered by a command's outcome or an order id, each item linking to its
detailed log row. REST: `/api/v1/conversation/` (list, show, export.csv) and
`/api/v1/conversation/<id>/thread` (the same pages as JSON).
"""
from __future__ import annotations

import re

from flask import abort, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.security.decorators import has_access, permission_name
from flask_babel import lazy_gettext as _l
from werkzeug.routing import BuildError

from app.conversations import ThreadArgumentError, outcomes_of, thread, thread_arguments
from app.labels import code_label
from app.models import Conversation
from app.views.export import CsvExportButton
from app.views.formatting import format_time
from app.views.logs import LOG_PERMISSIONS, LOG_ROLES, EagerListInterface
from app.views.base import WorkspaceModelView
from app.views.media import attach_limit, can_attach

# the menu opens the list on customer chats (groups and provider groups one filter away)
CUSTOMERS_ONLY = "?_flt_0_kind=customer"

LABELS = {
    "last_activity_at": _l("Last activity"), "first_seen_at": _l("First seen"),
    "last_inbound_at": _l("Last received"), "channel": _l("Channel"), "chat_id": _l("Chat"),
    "contact_name": _l("Contact"), "linked_user": _l("Linked user"), "kind": _l("Kind"),
    "preview": _l("Last message"), "last_direction": _l("Last message was"),
    "inbound_count": _l("Received"), "outbound_count": _l("Sent"),
    "workspace": _l("Workspace"),
}
DESCRIPTIONS = {
    "kind": _l("Customer chat: one customer's private chat. Group chat: a group that is not a "
               "provider's. Provider group: a chat your provider routes send orders to."),
    "preview": _l("The start of the chat's newest message, received or sent."),
    "inbound_count": _l("Messages received from this chat."),
    "outbound_count": _l("Messages sent to this chat (replies, broadcasts); orders sent to "
                         "providers are the thread's dispatch notes."),
}


# the inbox's fields (issue 16) on the REST twin, read-only (the twin has no add or edit); the
# inbox changes them through its own endpoints (app/views/inbox.py)
INBOX_COLUMNS = ["status", "assignee_id", "unread_count", "bot_paused_at", "bot_paused_by_id",
                 "last_agent_reply_at", "opened_at", "first_response_at", "resolved_at"]


class ConversationView(CsvExportButton, WorkspaceModelView):
    """Every chat, newest activity first; a row opens its thread."""

    datamodel = EagerListInterface(Conversation, eager=("linked_user", "channel"))
    csv_resource = "conversation"
    base_permissions = LOG_PERMISSIONS
    relaydesk_roles = LOG_ROLES
    base_order = ("last_activity_at", "desc")
    list_columns = ["last_activity_at", "channel", "chat_id", "contact_name", "linked_user",
                    "kind", "preview", "inbound_count", "outbound_count"]
    show_columns = ["channel", "chat_id", "contact_name", "linked_user", "kind",
                    "first_seen_at", "last_activity_at", "last_inbound_at", "last_direction",
                    "inbound_count", "outbound_count"]
    search_columns = ["last_activity_at", "channel", "linked_user", "chat_id", "contact_name",
                      "kind", "preview", "first_seen_at"]
    search_by_label = {"linked_user": "username"}  # a text box, not a select of every user
    order_columns = ["last_activity_at", "first_seen_at", "inbound_count", "outbound_count"]
    label_columns = LABELS
    description_columns = DESCRIPTIONS
    show_template = "relaydesk/conversation_thread.html"
    list_template = "relaydesk/conversation_list.html"  # live: app/static/js/live.js
    formatters_columns = {"preview": lambda text: (text or "")[:120]}

    def _links(self) -> dict[str, str]:
        """Endpoints of the detailed log screens: the master admin's copies for the master
        admin's copy of this screen."""
        prefix = "Admin" if type(self).__name__.startswith("Admin") else ""
        return {name: f"{prefix}{view}.show" for name, view in (
            ("in", "InboundEventView"), ("out", "OutboundMessageView"),
            ("command", "CommandLogView"), ("order", "CommandOrderView"))}

    @staticmethod
    def _url(endpoint: str, pk) -> str | None:
        if pk is None:
            return None
        try:
            return url_for(endpoint, pk=pk)
        except BuildError:  # a screen this deployment does not register
            return None

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The conversation and one page of its thread. :raise 404: not in the reader's scope.
        :raise 400: a thread argument that cannot be used."""
        if not re.fullmatch(r"[0-9]{1,18}", str(pk)):
            abort(404)
        widgets = self._show(int(pk))  # 404 when not visible
        conversation = self.datamodel.get(int(pk), self._base_filters)
        if conversation is None:
            abort(404)
        try:
            arguments = thread_arguments(request.args)
        except ThreadArgumentError as exc:
            abort(400, description=str(exc))
        page = thread(conversation, **arguments)
        links = self._links()
        items = []
        for item in page.items:
            details = item.details
            entry = {"item": item, "when": format_time(item.at),
                     "link": self._url(links["order" if item.kind == "note" else item.kind],
                                       item.id),
                     "command": self._url(links["command"], details.get("command_log_id")),
                     "dispatch": self._url(links["out"], details.get("outbound_message_id")),
                     "reply_to": self._url(links["in"], details.get("inbound_event_id"))}
            if item.kind == "out":
                entry["state"] = code_label("outbound_state", details["state"])
                entry["purpose"] = code_label("outbound_purpose", details["purpose"])
            items.append(entry)
        kept = {k: arguments[k] for k in ("outcome", "order_id", "limit") if k in arguments}
        older = None
        if page.next_cursor:
            older = url_for(f"{self.endpoint}.show", pk=pk, before=page.next_cursor, **kept)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=[], conversation=conversation, items=items, older=older,
            newest=(url_for(f"{self.endpoint}.show", pk=pk, **kept) if "before" in arguments
                    else None),
            outcomes=outcomes_of(conversation), outcome=arguments.get("outcome", ""),
            order_id=arguments.get("order_id", ""), endpoint=self.endpoint,
            thread_json=f"{request.script_root}/api/v1/conversation/{conversation.id}/thread",
            can_attach=can_attach(conversation), media_max_bytes=attach_limit(conversation))


class ConversationThreadApi:
    """Mixin for the conversation's REST twin: `GET /api/v1/conversation/<id>/thread`."""

    @expose("/<int:pk>/thread", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    def thread(self, pk):
        """One page of a conversation's thread, newest first.
        ---
        get:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          - in: query
            schema:
              type: string
            name: before
            description: the `next` of the previous page
          - in: query
            schema:
              type: string
            name: outcome
          - in: query
            schema:
              type: string
            name: order_id
          - in: query
            schema:
              type: integer
            name: limit
          responses:
            200:
              description: "{id, items: [{kind: in|out|note, at, id, text, ...}], next}"
            400:
              $ref: '#/components/responses/400'
            404:
              $ref: '#/components/responses/404'
        """
        gate = self._plan_gate()  # a plan without the REST API module: 403, nothing read
        if gate is not None:
            return gate
        # the scoped interface: None when not visible
        conversation = self.datamodel.get(pk, self._base_filters)
        if conversation is None:
            return self.response_404()
        try:
            arguments = thread_arguments(request.args)
        except ThreadArgumentError as exc:
            return self.response_400(message=str(exc))
        page = thread(conversation, **arguments)
        return self.response(200, id=conversation.id, channel_id=conversation.channel_id,
                             chat_id=conversation.chat_id,
                             items=[item.as_json() for item in page.items],
                             next=page.next_cursor)


CONVERSATION_API_COLUMNS = {
    "list_columns": [*ConversationView.list_columns, *INBOX_COLUMNS],
    "show_columns": [*ConversationView.show_columns, *INBOX_COLUMNS],
}


def conversation_api(api_cls: type) -> type:
    """The conversation twin (`api_for`'s) with the thread route."""
    return type(api_cls.__name__, (ConversationThreadApi, api_cls),
                {"__module__": api_cls.__module__, "__doc__": api_cls.__doc__})

