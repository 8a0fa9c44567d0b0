"""The Inbox screen (menu "Inbox", managers and agents): the workspace's conversations and a
conversation's page where the team replies, writes internal notes, assigns, changes the status
and takes the chat over from the bot. The rules are app/inbox.py; this module is the HTTP side.

Pages: `GET /inbox/` (the list) and `GET /inbox/<id>` (a conversation: opening it marks it
read). Both are shells the page's script (app/static/js/inbox.js) fills from the JSON
endpoints, so the same functions can be fed by a push channel later:

* `GET /inbox/api/conversations?view=&status=&channel=&tag=&q=&before=&limit=`
* `GET /inbox/api/conversations/<id>` (the conversation's state)
* `GET /inbox/api/conversations/<id>/messages?after=<cursor>` (newer items, oldest first) or
  `?before=<cursor>` (an older page) or neither (the newest page, oldest first)
* `GET /inbox/api/quick_replies?prefix=` and `GET /inbox/api/conversations/<id>/quick_reply
  ?shortcut=` (a quick reply rendered for the conversation)
* `POST /inbox/api/conversations/<id>/{reply,note,status,assign,takeover,giveback}` (JSON body,
  CSRF token in the `X-CSRFToken` header)

Errors are JSON `{"message": …, "field": …}` with 400 (bad input), 403 (not allowed: the
plan has no inbox, an agent assigning someone else), 404 (no such conversation in the
workspace), 409 (the channel cannot send it now: disabled, Meta's 24-hour window).
"""
from __future__ import annotations

import re

from flask import abort, g, jsonify, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access, has_access_api
from flask_babel import gettext as _

from app.conversations import Cursor, ThreadArgumentError, thread
from app.extensions import db
from app.inbox import (InboxError, add_note, announce, assign, conversation_json, give_back,
                       item_json, list_arguments, list_conversations, mark_read, members,
                       mention_count, quick_reply_values, send_reply, set_status, take_over,
                       unseen_mentions, user_names, window, window_message)
from app.labels import code_label
from app.models import Channel, Conversation
from app.models.conversations import CONVERSATION_STATUSES
from app.plans import module_refusal, plan_of
from app.security import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import current_scope, scoped_query
from app.views.formatting import language_name
from app.views.media import attach_limit, can_attach, human_size

THREAD_PAGE = 50
PERMISSION = "inbox"


def _error(status: int, message: str, field: str | None = None):
    response = jsonify({"message": str(message), "field": field})
    response.status_code = status
    return response


def _is_manager() -> bool:
    return any(role.name in (ROLE_MANAGER, ROLE_ADMIN) for role in g.user.roles)


class InboxView(BaseView):
    route_base = "/inbox"
    default_view = "index"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}
    base_permissions = ["can_inbox"]
    method_permission_name = {name: PERMISSION for name in (
        "index", "conversation", "api_list", "api_conversation", "api_messages",
        "api_quick_replies", "api_quick_reply", "api_reply", "api_note", "api_status",
        "api_assign", "api_takeover", "api_giveback")}

    # --- the scope and the plan ------------------------------------------------------------

    @staticmethod
    def _workspace_id() -> int | None:
        return current_scope().workspace_id

    def _refusal(self) -> str | None:
        """Why this person cannot use the inbox (words), or None."""
        workspace_id = self._workspace_id()
        if workspace_id is None:
            return _("The inbox is a workspace's: sign in as a member of the workspace.")
        refusal = module_refusal(plan_of(workspace_id), "inbox")
        if refusal is not None:
            return _("%(refusal)s Upgrade the plan (Setup › My workspace › Billing) to answer "
                     "your customers from the inbox.", refusal=str(refusal))
        return None

    def _conversation(self, pk) -> Conversation | None:
        """The workspace's conversation (customer or group chat), or None."""
        if not re.fullmatch(r"[0-9]{1,18}", str(pk)):
            return None
        workspace_id = self._workspace_id()
        if workspace_id is None:
            return None
        return scoped_query(Conversation, workspace_id).filter(
            Conversation.id == int(pk), Conversation.kind.in_(("customer", "group"))
        ).one_or_none()

    def _api_conversation(self, pk):
        """(conversation, None) or (None, an error response)."""
        refusal = self._refusal()
        if refusal is not None:
            return None, _error(403, refusal)
        conversation = self._conversation(pk)
        if conversation is None:
            return None, _error(404, _("This conversation does not exist in this workspace."))
        return conversation, None

    @staticmethod
    def _body() -> dict:
        data = request.get_json(silent=True)
        if data is None:
            data = request.form.to_dict()
        return data if isinstance(data, dict) else {}

    # --- pages ------------------------------------------------------------------------------

    @expose("/")
    @has_access
    def index(self):
        refusal = self._refusal()
        workspace_id = self._workspace_id()
        channels = []
        mentions = 0
        if refusal is None:
            channels = scoped_query(Channel, workspace_id).order_by(Channel.name).all()
            mentions = mention_count(workspace_id, g.user.id)
        return self.render_template(
            "relaydesk/inbox.html", refusal=refusal, channels=channels, mentions=mentions,
            statuses=[(s, code_label("conversation_status", s)) for s in CONVERSATION_STATUSES],
            title=_("Inbox"))

    @expose("/<pk>")
    @has_access
    def conversation(self, pk):
        refusal = self._refusal()
        if refusal is not None:
            return self.render_template("relaydesk/inbox.html", refusal=refusal, channels=[],
                                        mentions=0, statuses=[], title=_("Inbox"))
        conversation = self._conversation(pk)
        if conversation is None:
            abort(404)
        if mark_read(conversation, g.user):
            announce(conversation, "read", g.user.id)
        contact = conversation.linked_user
        team = members(conversation.workspace_id)
        state = self._state(conversation)
        return self.render_template(
            "relaydesk/inbox_conversation.html", conversation=conversation, contact=contact,
            can_attach=can_attach(conversation), media_max_bytes=attach_limit(conversation),
            members=team, state=state, is_manager=_is_manager(),
            language=language_name(contact.language) if contact and contact.language else "",
            statuses=[(s, code_label("conversation_status", s)) for s in CONVERSATION_STATUSES],
            thread_page=self._messages(conversation, {}),
            title=_("Inbox › %(name)s", name=state["conversation"]["contact"]))

    # --- reading (JSON) ---------------------------------------------------------------------

    def _state(self, conversation) -> dict:
        users = user_names([conversation.assignee_id, conversation.bot_paused_by_id])
        mentions = unseen_mentions(conversation.workspace_id, g.user.id, [conversation.id])
        state = window(conversation)
        return {
            "conversation": conversation_json(conversation, mentions, users),
            "paused_by": users.get(conversation.bot_paused_by_id),
            "window": None if state is None else {
                "open": state["open"],
                "closes_at": state["closes_at"].isoformat() if state["closes_at"] else None,
                "message": None if state["open"] else window_message()},
        }

    @staticmethod
    def _messages(conversation, args) -> dict:
        after = args.get("after") or ""
        before = args.get("before") or ""
        if after:
            page = thread(conversation, after=Cursor.decode(after), team_notes=True,
                          limit=THREAD_PAGE)
            return {"items": [_with_media(item_json(i)) for i in page.items], "older": None,
                    "more_after": page.next_cursor is not None}
        page = thread(conversation, before=Cursor.decode(before) if before else None,
                      team_notes=True, limit=THREAD_PAGE)
        items = [_with_media(item_json(i)) for i in reversed(page.items)]
        return {"items": items, "older": page.next_cursor, "more_after": False}

    @expose("/api/conversations")
    @has_access_api
    def api_list(self):
        refusal = self._refusal()
        if refusal is not None:
            return _error(403, refusal)
        try:
            args = list_arguments(request.args)
        except InboxError as exc:
            return _error(exc.status, exc.message, exc.field)
        workspace_id = self._workspace_id()
        rows, cursor = list_conversations(workspace_id, g.user.id, args)
        mentions = unseen_mentions(workspace_id, g.user.id, [r.id for r in rows])
        users = user_names(r.assignee_id for r in rows)
        return jsonify({"items": [conversation_json(r, mentions, users) for r in rows],
                        "next": cursor, "mentions": mention_count(workspace_id, g.user.id)})

    @expose("/api/conversations/<pk>")
    @has_access_api
    def api_conversation(self, pk):
        conversation, error = self._api_conversation(pk)
        if error is not None:
            return error
        return jsonify(self._state(conversation))

    @expose("/api/conversations/<pk>/messages")
    @has_access_api
    def api_messages(self, pk):
        conversation, error = self._api_conversation(pk)
        if error is not None:
            return error
        try:
            page = self._messages(conversation, request.args)
        except ThreadArgumentError as exc:
            return _error(400, str(exc).replace("before:", "after/before:"))
        return jsonify(page)

    @expose("/api/quick_replies")
    @has_access_api
    def api_quick_replies(self):
        from app.quick_replies import suggestions

        refusal = self._refusal()
        if refusal is not None:
            return _error(403, refusal)
        prefix = (request.args.get("prefix") or "")[:40]
        return jsonify({"items": [{"shortcut": r.shortcut, "title": r.title}
                                  for r in suggestions(self._workspace_id(), prefix)]})

    @expose("/api/conversations/<pk>/quick_reply")
    @has_access_api
    def api_quick_reply(self, pk):
        from app.quick_replies import expand

        conversation, error = self._api_conversation(pk)
        if error is not None:
            return error
        shortcut = (request.args.get("shortcut") or "")[:40].lstrip("/")
        text = expand(conversation.workspace_id, "/" + shortcut,
                      quick_reply_values(conversation, g.user))
        if text is None:
            return _error(404, _("There is no quick reply %(shortcut)s.",
                                 shortcut="/" + shortcut))
        return jsonify({"shortcut": shortcut, "text": text})

    # --- writing (JSON, CSRF-protected) -----------------------------------------------------

    def _write(self, pk, action, change: str):
        conversation, error = self._api_conversation(pk)
        if error is not None:
            return error
        try:
            extra = action(conversation, self._body()) or {}
        except InboxError as exc:
            db.session.rollback()
            return _error(exc.status, exc.message, exc.field)
        db.session.refresh(conversation)
        # the other open inbox pages follow (app/realtime.py; the action has committed)
        announce(conversation, change, g.user.id)
        return jsonify({**self._state(conversation), **extra})

    @expose("/api/conversations/<pk>/reply", methods=["POST"])
    @has_access_api
    def api_reply(self, pk):
        def reply(conversation, body):
            outbound_id, new = send_reply(conversation, g.user, _string(body.get("text")),
                                          _string(body.get("client_id")))
            return {"message_id": outbound_id, "new": new}
        return self._write(pk, reply, "reply")

    @expose("/api/conversations/<pk>/note", methods=["POST"])
    @has_access_api
    def api_note(self, pk):
        def note(conversation, body):
            return {"note_id": add_note(conversation, g.user, _string(body.get("text"))).id}
        return self._write(pk, note, "note")

    @expose("/api/conversations/<pk>/status", methods=["POST"])
    @has_access_api
    def api_status(self, pk):
        return self._write(pk, lambda c, body: set_status(c, _string(body.get("status"))),
                           "status")

    @expose("/api/conversations/<pk>/assign", methods=["POST"])
    @has_access_api
    def api_assign(self, pk):
        return self._write(pk, lambda c, body: assign(
            c, g.user, body.get("assignee_id") if isinstance(
                body.get("assignee_id"), (int, str, type(None))) else "x",
            manager=_is_manager()), "assign")

    @expose("/api/conversations/<pk>/takeover", methods=["POST"])
    @has_access_api
    def api_takeover(self, pk):
        return self._write(pk, lambda c, body: take_over(c, g.user), "takeover")

    @expose("/api/conversations/<pk>/giveback", methods=["POST"])
    @has_access_api
    def api_giveback(self, pk):
        return self._write(pk, lambda c, body: give_back(c), "giveback")


def _with_media(item: dict) -> dict:
    """A thread item's attachments (app/conversations.py `attach_media`) with what the page
    shows of them: words for the kind, state and size, and the members-only file URLs
    (app/views/media.py) of the stored ones."""
    for media in item.get("media") or ():
        media["kind_label"] = str(code_label("media_kind", media["kind"]))
        media["state_label"] = str(code_label("media_state", media["state"]))
        media["size_label"] = human_size(media["size"]) if media.get("size") else ""
        if media["state"] == "stored" and media["kind"] not in ("location", "contact"):
            media["url"] = url_for("MediaView.serve", pk=media["id"])
            if (media.get("mime_type") or "").startswith("image/"):
                media["thumb"] = url_for("MediaView.thumb", pk=media["id"])
    return item


def _string(value) -> str | None:
    """A JSON value as text (numbers and the like are not text: None)."""
    return value if isinstance(value, str) else None
