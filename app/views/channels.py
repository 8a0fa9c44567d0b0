"""Channel actions (test connection, configure webhook) and the detected chats list."""
from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from app.domain.templates import ROUTE
from app.domain.templates import problem as template_problem
from app.extensions import db
from app.redaction import flash
from app.integrations.channels import client_for
from app.jobs.verification import needs_verification, queue_verification, verify_channel
from app.models import ChatIdentity, DetectedChat, LinkedUser, Provider, ProviderRoute
from app.models.routing import DEFAULT_ROUTE_TEMPLATE, ROUTE_ACTIONS
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import get_scoped
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.logs import visible
from app.views.template_fields import ROUTE_HELP
from app.views.template_fields import message as template_message


class ChannelActionsMixin:
    """Mixed into ChannelView: actions run on rows loaded through the scoped interface."""

    def _run(self, items, operation: str):
        for channel in visible(items):
            if channel.kind == "webchat":
                flash(_("%(name)s: nothing to do for web chat.", name=channel.name), "info")
                continue
            name = channel.name
            if channel.kind == "meta" and operation == "test_connection":
                result = verify_channel(channel)  # records the outcome itself, guarded
            else:
                result = getattr(client_for(channel), operation)()
                for field, value in result.updates.items():
                    setattr(channel, field, value)
                db.session.commit()
            category = "danger" if not result.ok else "warning" if result.warning else "success"
            flash(f"{name}: {result.summary}", category)
        self.update_redirect()
        return redirect(self.get_redirect())

    @action("test_connection", _l("Test connection"), None, "fa-stethoscope")
    def test_connection(self, items):
        return self._run(items, "test_connection")

    @action("configure_webhook", _l("Configure webhook"),
            _l("Point the platform's webhook at Relaydesk (a new secret is generated)?"),
            "fa-link")
    def configure_webhook(self, items):
        return self._run(items, "configure_webhook")


def verify_after_save(channel) -> tuple[str, str] | None:
    """ChannelView.after_save: a Meta channel awaiting verification gets it queued at once."""
    if not needs_verification(channel):
        return None
    if queue_verification(channel.id):
        return (_("%(name)s is awaiting verification: Relaydesk asks Meta whether its access "
                  "token controls this number and WhatsApp Business account. It receives "
                  "messages once verified; its status shows the answer.", name=channel.name),
                "info")
    return (_("%(name)s is awaiting verification, but the job queue is not reachable right "
              "now: use Test connection to verify it.", name=channel.name), "warning")


def verification_words(state: str | None) -> str:
    """The Verification column in words (the REST API answers the code)."""
    return {"verified": _("Verified by Meta"),
            "awaiting": _("Awaiting verification")}.get(state or "", "—")


class DetectedChatView(WorkspaceModelView):
    """Chats the bot was added to: assign one as a provider group or link it to a customer."""

    datamodel = RelaydeskInterface(DetectedChat)
    base_permissions = ["can_list", "can_show", "can_delete", "can_assign"]
    method_permission_name = {"assign": "assign", "assign_chat": "assign"}
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    base_order = ("last_seen_at", "desc")
    list_columns = ["title", "chat_id", "chat_type", "channel", "member_status", "last_seen_at"]
    show_columns = list_columns + ["detected_at"]
    search_columns = ["title", "chat_id", "chat_type", "channel", "member_status"]
    label_columns = {"title": _l("Title"), "chat_id": _l("Chat id"), "chat_type": _l("Type"),
                     "member_status": _l("Bot status"), "last_seen_at": _l("Last seen"),
                     "workspace": _l("Workspace"), "channel": _l("Channel"),
                     "detected_at": _l("Detected")}

    @action("assign_chat", _l("Assign"), None, "fa-share", multiple=False, single=True)
    def assign_chat(self, item):
        rows = visible(item)
        if not rows:
            abort(404)
        return redirect(url_for("DetectedChatView.assign", pk=rows[0].id))

    @expose("/assign/<int:pk>", methods=["GET", "POST"])
    @has_access
    def assign(self, pk):
        chat = get_scoped(DetectedChat, pk)  # has_access checks permissions, not tenancy
        if chat is None:
            abort(404)
        providers = db.session.query(Provider).filter_by(workspace_id=chat.workspace_id).all()
        users = db.session.query(LinkedUser).filter_by(workspace_id=chat.workspace_id).all()
        template = request.form.get("template") or DEFAULT_ROUTE_TEMPLATE
        template_error = None
        if request.method == "POST":
            target = request.form.get("target")
            if target == "provider":
                template_error = template_problem(ROUTE, template)
                if template_error is None and self._assign_provider(chat, template):
                    return redirect(url_for("ProviderRouteView.list"))
            elif target == "user":
                done = self._assign_user(chat)
                if done:
                    return redirect(url_for("ChatIdentityView.list"))
        return self.render_template(
            "relaydesk/assign_chat.html", chat=chat, providers=providers, users=users,
            actions=ROUTE_ACTIONS, route_template=template, template_help=ROUTE_HELP,
            template_error=template_message(template_error) if template_error else None)

    @staticmethod
    def _assign_provider(chat: DetectedChat, template: str) -> bool:
        # choices come from the chat's own workspace, whoever asks (a master admin included)
        provider = get_scoped(Provider, request.form.get("provider_id", type=int),
                              workspace_id=chat.workspace_id)
        actions = [a for a in request.form.getlist("actions") if a in ROUTE_ACTIONS]
        if provider is None or not actions:
            flash(_("Choose a provider and at least one action."), "danger")
            return False
        name = chat.title or chat.chat_id
        existing = (db.session.query(ProviderRoute)
                    .filter_by(provider_id=provider.id, channel_id=chat.channel_id,
                               chat_id=chat.chat_id).first())
        if existing is None:
            db.session.add(ProviderRoute(
                workspace_id=chat.workspace_id, provider=provider, channel=chat.channel,
                chat_id=chat.chat_id, actions=", ".join(actions), template=template))
            if _committed():
                flash(_("%(chat)s now receives %(provider)s commands.", chat=name,
                        provider=provider.name), "success")
                return True
        flash(_("%(chat)s already receives %(provider)s commands: edit that route instead.",
                chat=name, provider=provider.name), "warning")
        return False

    @staticmethod
    def _assign_user(chat: DetectedChat) -> bool:
        user = get_scoped(LinkedUser, request.form.get("linked_user_id", type=int),
                          workspace_id=chat.workspace_id)
        if user is None:
            flash(_("Choose a linked user."), "danger")
            return False
        name = chat.title or chat.chat_id
        existing = (db.session.query(ChatIdentity)
                    .filter_by(channel_id=chat.channel_id, chat_id=chat.chat_id).first())
        if existing is None:
            db.session.add(ChatIdentity(workspace_id=chat.workspace_id, linked_user=user,
                                        channel=chat.channel, chat_id=chat.chat_id))
            if _committed():
                flash(_("%(chat)s is now linked to %(user)s.", chat=name, user=user.username),
                      "success")
                return True
            existing = (db.session.query(ChatIdentity)
                        .filter_by(channel_id=chat.channel_id, chat_id=chat.chat_id).first())
        linked_to = existing.linked_user.username if existing is not None else "?"
        flash(_("%(chat)s is already linked to %(user)s: one chat speaks for one user.",
                chat=name, user=linked_to), "warning")
        return False


def _committed() -> bool:
    """Commit; False (rolled back) when a concurrent request made the same row first."""
    try:
        db.session.commit()
        return True
    except IntegrityError:
        db.session.rollback()
        return False
