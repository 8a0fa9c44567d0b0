"""Support tools → Playground: type a message as a chat and see what the bot would do."""
from __future__ import annotations

from flask import request
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from app.models import AdminIdentity, Channel, ChatIdentity
from app.models.base import CHAT_ID_LENGTH
from app.security import ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import get_scoped, scoped_query
from app.views.formatting import language_name
from app.views.trace import outcome_label, trace_steps

MAX_TEXT = 4000


class PlaygroundView(BaseView):
    route_base = "/playground"
    default_view = "index"
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}  # it writes and sends nothing

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
        result, error = None, None
        if request.method == "POST":
            channel = get_scoped(Channel, form["channel_id"]) if form["channel_id"] else None
            if channel is None:
                error = _("Choose a channel.")
            elif not form["chat_id"] or not form["text"].strip():
                error = _("Give a chat id and a message.")
            else:
                from app.jobs.playground import preview

                result = preview(channel.workspace_id, channel, form["chat_id"], form["text"],
                                 is_group=form["is_group"] or form["chat_id"].endswith("@g.us")
                                 or form["chat_id"].startswith("-"))
        return self.render_template(
            "relaydesk/playground.html", channels=channels, known_chats=known_chats, form=form,
            result=result, error=error, language_name=language_name,
            trace=trace_steps(result.trace, preview=True) if result is not None else None,
            outcome=outcome_label(result.outcome) if result is not None else None)
