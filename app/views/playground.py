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
        form = {"channel_id": request.form.get("channel_id", type=int),
                "chat_id": (request.form.get("chat_id") or "").strip()[:CHAT_ID_LENGTH],
                "text": (request.form.get("text") or "")[:MAX_TEXT],
                "is_group": bool(request.form.get("is_group"))}
        form["for_real"] = bool(request.form.get("for_real")) and may_send_for_real()
        result, error = None, None
        if request.method == "POST":
            channel = get_scoped(Channel, form["channel_id"]) if form["channel_id"] else None
            is_group = form["is_group"] or form["chat_id"].endswith("@g.us") \
                or form["chat_id"].startswith("-")
            if channel is None:
                error = _("Choose a channel.")
            elif not form["chat_id"] or not form["text"].strip():
                error = _("Give a chat id and a message.")
            elif form["for_real"]:
                from app.jobs.playground import send_for_real

                event_id, queued = send_for_real(channel.workspace_id, channel, form["chat_id"],
                                                 form["text"], is_group=is_group,
                                                 user_id=g.user.id)
                return redirect(url_for("PlaygroundView.run", event_id=event_id,
                                        queued=int(queued)))
            else:
                from app.jobs.playground import preview

                result = preview(channel.workspace_id, channel, form["chat_id"], form["text"],
                                 is_group=is_group)
        return self.render_template(
            "relaydesk/playground.html", channels=channels, known_chats=known_chats, form=form,
            result=result, error=error, language_name=language_name, real=None,
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
            result=None, error=None, language_name=language_name,
            may_send_for_real=may_send_for_real(),
            trace=trace_steps(log.trace) if log is not None and log.trace else None,
            outcome=outcome_label(log.outcome) if log is not None and log.outcome else None)
