"""Support tools → Playground: type a message as a chat and see what the bot would do."""
from __future__ import annotations

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from app.models import (AdminIdentity, Channel, ChatIdentity, CommandLog, InboundEvent,
                        OutboundMessage)
from app.models.base import CHAT_ID_LENGTH
from app.security import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import get_scoped, scoped_query
from app.views.formatting import language_name
from app.views.trace import outcome_label, trace_steps

MAX_TEXT = 4000


FINISHED = ("done", "failed", "ignored", "skipped")
#: the largest id a channel can have (a PostgreSQL integer)
MAX_ROW_ID = 2**31 - 1


def _row_id(value: str | None) -> int | None:
    """A posted id as a number, or None when it is not a whole number a row can have."""
    value = (value or "").strip()
    if not value.isascii() or not value.isdigit() or len(value) > 10:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ROW_ID else None


def _problems(channel, form: dict) -> dict[str, str]:
    """What is wrong with the posted form, by field (shown beside it)."""
    problems = {}
    if channel is None:
        problems["channel_id"] = _("Choose a channel.")
    chat = form["chat_id"]
    if not chat:
        problems["chat_id"] = _("Give the chat id the message comes from.")
    elif len(chat) > CHAT_ID_LENGTH:
        problems["chat_id"] = _("A chat id is at most %(max)d characters.", max=CHAT_ID_LENGTH)
    elif any(ord(c) < 32 or ord(c) == 127 for c in chat):
        problems["chat_id"] = _("A chat id has no control characters (line breaks, tabs, "
                                "NUL).")
    text = form["text"]
    if not text.strip():
        problems["text"] = _("Write a message.")
    elif len(text) > MAX_TEXT:
        problems["text"] = _("A message is at most %(max)d characters.", max=MAX_TEXT)
    elif "\x00" in text:
        problems["text"] = _("A message cannot contain NUL characters.")
    return problems


def may_send_for_real() -> bool:
    """Managers (and the master admin) may send a Playground message for real; agents only
    try messages (a real command dispatches to providers)."""
    user = g.user
    return bool(user and user.is_authenticated
                and any(role.name in (ROLE_MANAGER, ROLE_ADMIN) for role in user.roles))


class PlaygroundView(BaseView):
    route_base = "/playground"
    default_view = "index"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}
    method_permission_name = {"index": "index", "run": "index"}

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        channels = scoped_query(Channel).filter(Channel.kind != "webchat") \
            .order_by(Channel.name).all()
        known_chats = [(i.chat_id, f"{i.linked_user} ({i.channel.name})")
                       for i in scoped_query(ChatIdentity).limit(200)]
        known_chats += [(a.chat_id, f"{a.name or a.chat_id} — admin ({a.channel.name})")
                        for a in scoped_query(AdminIdentity).limit(50)]
        form = {"channel_id": _row_id(request.form.get("channel_id")),
                "chat_id": (request.form.get("chat_id") or "").strip(),
                "text": request.form.get("text") or "",
                "is_group": bool(request.form.get("is_group"))}
        form["for_real"] = bool(request.form.get("for_real")) and may_send_for_real()
        result, errors = None, {}
        if request.method == "POST":
            channel = get_scoped(Channel, form["channel_id"]) if form["channel_id"] else None
            if channel is not None and channel.kind == "webchat":  # not offered
                channel = None
            is_group = form["is_group"] or form["chat_id"].endswith("@g.us") \
                or form["chat_id"].startswith("-")
            errors = _problems(channel, form)
            # shown as typed, less what a page cannot hold (NUL)
            form["chat_id"] = form["chat_id"].replace("\x00", "")
            form["text"] = form["text"].replace("\x00", "")
            if not errors and form["for_real"]:
                from app.jobs.playground import send_for_real

                event_id, queued = send_for_real(channel.workspace_id, channel, form["chat_id"],
                                                 form["text"], is_group=is_group,
                                                 user_id=g.user.id)
                return redirect(url_for("PlaygroundView.run", event_id=event_id,
                                        queued=int(queued)))
            elif not errors:
                from app.jobs.playground import preview

                result = preview(channel.workspace_id, channel, form["chat_id"], form["text"],
                                 is_group=is_group)
        return self.render_template(
            "relaydesk/playground.html", channels=channels, known_chats=known_chats, form=form,
            result=result, errors=errors, language_name=language_name, real=None,
            max_chat=CHAT_ID_LENGTH, max_text=MAX_TEXT,
            may_send_for_real=may_send_for_real(),
            trace=trace_steps(result.trace, preview=True) if result is not None else None,
            outcome=outcome_label(result.outcome) if result is not None else None)

    @expose("/run/<int:event_id>")
    @has_access
    def run(self, event_id: int):
        """A message sent for real: its progress, then what happened (the command log, the
        messages written for the chat and the provider groups, the trace)."""
        event = get_scoped(InboundEvent, event_id)
        if event is None or event.type != "playground":
            abort(404)
        log = scoped_query(CommandLog).filter(CommandLog.inbound_event_id == event.id).first()
        messages = scoped_query(OutboundMessage).filter(
            OutboundMessage.inbound_event_id == event.id).order_by(OutboundMessage.id).all()
        real = {"event": event, "log": log, "finished": event.state in FINISHED,
                "queued": request.args.get("queued", "1") != "0",
                "replies": [m for m in messages if m.purpose != "dispatch"],
                "dispatches": [m for m in messages if m.purpose == "dispatch"]}
        return self.render_template(
            "relaydesk/playground.html", channels=[], known_chats=[], real=real,
            form={"channel_id": event.channel_id, "chat_id": event.chat_id, "text": event.text,
                  "is_group": event.is_group, "for_real": True},
            result=None, errors={}, language_name=language_name,
            max_chat=CHAT_ID_LENGTH, max_text=MAX_TEXT, may_send_for_real=may_send_for_real(),
            trace=trace_steps(log.trace) if log is not None and log.trace else None,
            outcome=outcome_label(log.outcome) if log is not None and log.outcome else None)
