"""Channel set-up (platform first, then its fields; the show page's webhook URL and live
state), channel actions (test connection, configure webhook) and the detected chats list."""
from __future__ import annotations

from flask import (abort, current_app, g, has_request_context, jsonify, redirect, request,
                   url_for)
from flask_appbuilder import expose
from flask_appbuilder.forms import GeneralModelConverter
from flask_appbuilder.actions import action
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField
from wtforms.validators import AnyOf, InputRequired

from app.domain.templates import ROUTE
from app.domain.templates import problem as template_problem
from app.extensions import db
from app.redaction import flash
from app.integrations.channels import LiveAnswer, client_for
from app.jobs import queues
from app.jobs.verification import needs_verification, verify_channel
from app.models import ChatIdentity, DetectedChat, LinkedUser, Provider, ProviderRoute
from app.models.channels import CHANNEL_KINDS, REQUIRED_FIELDS
from app.models.routing import DEFAULT_ROUTE_TEMPLATE, ROUTE_ACTIONS
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.status_words import GREEN_STATE_WORDS, SERVICE_NAMES, platform_problem
from app.tenancy import get_scoped
from app.views.base import RelaydeskInterface, WorkspaceModelView
from app.views.logs import visible
from app.views.template_fields import ROUTE_HELP
from app.views.template_fields import message as template_message


def _instance_state(channel, operation: str, result) -> list[int]:
    """A Green API instance state read by "Test connection" pauses or resumes the channel as
    its webhook would (app/jobs/events.py `apply_green_state`): the ids of released messages."""
    from app.jobs.events import apply_green_state

    state = result.details.get("stateInstance") if isinstance(result.details, dict) else None
    if channel.kind != "greenapi" or operation != "test_connection" or not state:
        return []
    return apply_green_state(channel, state)


class ChannelActionsMixin:
    """Mixed into ChannelView: actions run on rows loaded through the scoped interface."""

    def _run(self, items, operation: str):
        for channel in visible(items):
            if channel.kind == "webchat":
                flash(_("%(name)s is a web chat channel: it has no connection to test and no "
                        "webhook to configure.", name=channel.name), "info")
                continue
            name = channel.name
            if channel.kind == "meta" and operation == "test_connection":
                result = verify_channel(channel)  # records the outcome itself, guarded
            else:
                result = getattr(client_for(channel), operation)()
                for field, value in result.updates.items():
                    setattr(channel, field, value)
                released = _instance_state(channel, operation, result)
                db.session.commit()
                for outbound_id in released:
                    queues.enqueue_send(outbound_id)
            category = "danger" if not result.ok else "warning" if result.warning else "success"
            flash(f"{name}: {result.words()}", category)
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


# --- Channel set-up: platform first, then its fields; the show page's live state ----------------

#: (kind, name, one line on what it is and what is needed, Font Awesome icon), in chooser order
PLATFORMS = (
    ("greenapi", _l("WhatsApp through Green API"),
     _l("Link an existing WhatsApp number by scanning a QR code with the phone. You need an "
        "instance from green-api.com."), "fa-whatsapp"),
    ("meta", _l("WhatsApp Cloud API (Meta)"),
     _l("The official WhatsApp Business Platform. You need a Meta developer app and a business "
        "phone number added to it."), "fa-whatsapp"),
    ("telegram", _l("Telegram bot"),
     _l("A bot you create with @BotFather; customers and provider groups write to it in "
        "Telegram."), "fa-paper-plane"),
    ("webchat", _l("Web chat widget"),
     _l("A chat box for your panel's website. Nothing to set up on another platform."),
     "fa-comments"),
)
PLATFORM_NAMES = {kind: name for kind, name, _line, _icon in PLATFORMS}
assert set(PLATFORM_NAMES) == set(CHANNEL_KINDS), "every channel kind needs a chooser entry"

#: each platform's own fields on the add form, and on the edit form (which adds the webhook
#: secrets Relaydesk sets with "Configure webhook": changed by hand only when the webhook was
#: set by hand on the platform)
ADD_FIELDS = {
    "greenapi": ("api_url", "id_instance", "api_token"),
    "meta": ("phone_number_id", "waba_id", "access_token", "token_expires_on", "app_secret"),
    "telegram": ("bot_token", "api_base"),
    "webchat": (),
}
EDIT_FIELDS = {**ADD_FIELDS,
               "greenapi": ADD_FIELDS["greenapi"] + ("webhook_token",),
               "telegram": ADD_FIELDS["telegram"] + ("secret_token",)}
#: the show page's columns that belong to one platform (the others are every channel's)
SHOW_FIELDS = {
    "greenapi": {"api_url", "id_instance", "api_token", "webhook_token"},
    "telegram": {"bot_id", "bot_token", "secret_token", "api_base"},
    "meta": {"phone_number_id", "waba_id", "access_token", "app_secret", "verification",
             "verified_at", "token_expires_on", "quality_rating", "quality_checked_at"},
    "webchat": {"widget_key"},
}
#: columns every platform's form has (when the view lists them: the master admin's copy adds
#: the workspace)
COMMON_FIELDS = ("workspace", "name", "enabled", "notes")

#: where to find each value (the form field's help text)
FIELD_HELP = {
    "name": _l("A name you recognise, e.g. Main WhatsApp."),
    "api_url": _l("Green API console (console.green-api.com) → your instance → apiUrl, e.g. "
                  "https://7103.api.greenapi.com"),
    "id_instance": _l("Green API console → your instance → idInstance (a number such as "
                      "1101000001)."),
    "api_token": _l("Green API console → your instance → apiTokenInstance."),
    "webhook_token": _l("Set by Configure webhook. Only if you set the webhook in the Green API "
                        "console yourself: the webhookUrlToken you chose there."),
    "bot_token": _l("In Telegram, send /newbot to @BotFather (or /token for an existing bot): "
                    "it answers with a token like 123456789:AAH…"),
    "api_base": _l("Leave empty to use Telegram's own server (https://api.telegram.org); only "
                   "for a self-hosted Bot API server."),
    "secret_token": _l("Set by Configure webhook: Telegram sends it with every update."),
    "phone_number_id": _l("Meta developer app (developers.facebook.com) → WhatsApp → API Setup "
                          "→ Phone number ID."),
    "waba_id": _l("Meta developer app → WhatsApp → API Setup → WhatsApp Business Account ID. "
                  "A Meta channel receives messages only once Meta confirms that its access "
                  "token controls this number and this account."),
    "access_token": _l("Meta Business settings → Users → System users → Generate new token, "
                       "with the whatsapp_business_messaging and whatsapp_business_management "
                       "permissions."),
    "token_expires_on": _l("Only for a token that expires (a system user's token never "
                           "does: leave blank). Health warns 7 days before this day."),
    "quality_rating": _l("Meta's rating of the messages this number sent lately (green: high, "
                         "yellow: medium, red: low), read by the health checks every hour."),
    "app_secret": _l("Only when this number uses its own Meta app (Meta developer app → App "
                     "settings → Basic → App secret); otherwise the platform's app secret is "
                     "used."),
}
#: the name field's help on each platform's form (an example that fits the platform)
NAME_HELP = {
    "greenapi": _l("A name you recognise, e.g. Main WhatsApp."),
    "meta": _l("A name you recognise, e.g. WhatsApp Business."),
    "telegram": _l("A name you recognise, e.g. Support bot."),
    "webchat": _l("A name you recognise, e.g. Website chat."),
}
SECRET_NOTE_ADD = _l("Stored encrypted and never shown again.")
SECRET_NOTE_EDIT = _l("Stored encrypted and never shown again. Leave blank to keep the current "
                      "value.")

_KIND_KEY = "relaydesk.channel_form_kind"  # in request.environ: the platform of this request's form


class JoinedText:
    """Lazy texts joined by a space when printed (a field's help, then its secret note)."""

    def __init__(self, *parts) -> None:
        self.parts = parts

    def __str__(self) -> str:
        return " ".join(str(p) for p in self.parts if p)


def _described(unbound, description):
    """The same (unbound) form field with another help text."""
    return unbound.field_class(*unbound.args, **{**unbound.kwargs, "description": description})


def _platform_required():
    """What a platform's form asks for: marked required (asterisk, the browser's own check),
    with the same words as the server's check (`_require_kind_fields`)."""
    return InputRequired(message=_l("Required for this platform."))


def _required(unbound):
    """The same (unbound) form field, required on this platform's form."""
    validators = [_platform_required(), *unbound.kwargs.get("validators", ())]
    return unbound.field_class(*unbound.args, **{**unbound.kwargs, "validators": validators})


def platform_words(kind: str | None) -> str:
    """The Kind column in words (the REST API answers the code)."""
    return str(PLATFORM_NAMES.get(kind or "", kind or "—"))


def form_kind() -> str | None:
    """The platform whose form this request shows or takes (set by ChannelSetupMixin; else the
    add form's `?kind=`, e.g. when a form is built outside the add handler)."""
    if not has_request_context():
        return None
    kind = request.environ.get(_KIND_KEY) or request.args.get("kind")
    return kind if kind in CHANNEL_KINDS else None


#: the channel actions that call the platform, and the kinds they mean nothing for
PLATFORM_ACTIONS = ("test_connection", "configure_webhook")
PLATFORM_ACTIONLESS = ("webchat",)


class _ShownActions(dict):
    """The actions a show page offers; truthy even when empty (FAB falls back to every action
    of the view for a falsy value)."""

    def __bool__(self) -> bool:
        return True


class ChannelSetupMixin:
    """Mixed into ChannelView. The add screen asks for the platform first (`/add` shows one card
    per platform, `/add?kind=<kind>` that platform's form); the add and edit forms show only the
    platform's own fields, each with a help text saying where the value is found; a channel's
    platform is not changed on the screen after creation (the edit page names it: add another
    channel instead). The REST API is unchanged (its `kind` comes in the body).

    The show page gives the webhook URL (with a copy button) and, for managers, the platform's
    live state, which its script polls from `/state/<pk>` (JSON, answers 200 with `ok: false`
    and a message when the platform does not answer as documented)."""

    #: the query strings that open each variant of the add form (see the form matrix contract)
    add_variants = [{"kind": kind} for kind in CHANNEL_KINDS]
    method_permission_name = {"state": "edit"}  # managers (who may edit the channel) only
    add_template = "relaydesk/channel_add.html"
    edit_template = "relaydesk/channel_edit.html"
    show_template = "relaydesk/channel_show.html"
    #: how often the show page asks for the live state (Green API's QR changes every ~20 s)
    state_poll_seconds = 20

    # -- after saving --------------------------------------------------------------------------
    def post_add(self, item):
        super().post_add(item)
        g.relaydesk_new_channel = item.id

    def post_add_redirect(self):
        """A channel added on the screen opens on its own page: the webhook URL and the live
        state are what its owner needs next."""
        pk = g.pop("relaydesk_new_channel", None)
        if pk is None:
            return super().post_add_redirect()
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))

    # -- forms ---------------------------------------------------------------------------------
    @property
    def add_form(self):
        kind = form_kind()
        if kind is not None:
            return self._kind_forms[(kind, "add")]
        return self.__dict__.get("_any_kind_add_form")

    @add_form.setter
    def add_form(self, value) -> None:
        self.__dict__["_any_kind_add_form"] = value

    @property
    def edit_form(self):
        kind = form_kind()
        if kind is not None:
            return self._kind_forms[(kind, "edit")]
        return self.__dict__.get("_any_kind_edit_form")

    @edit_form.setter
    def edit_form(self, value) -> None:
        self.__dict__["_any_kind_edit_form"] = value

    def kind_columns(self, kind: str, mode: str) -> list[str]:
        """The columns of `kind`'s add or edit form, in the view's order."""
        own = (ADD_FIELDS if mode == "add" else EDIT_FIELDS)[kind]
        columns = self.add_columns if mode == "add" else self.edit_columns
        return [c for c in columns if c in COMMON_FIELDS or c in own]

    def _init_forms(self):
        super()._init_forms()
        converter = GeneralModelConverter(self.datamodel)
        self._kind_forms = {}
        for kind in CHANNEL_KINDS:
            for mode in ("add", "edit"):
                extra = dict(getattr(self, f"{mode}_form_extra_fields") or {})
                note = SECRET_NOTE_ADD if mode == "add" else SECRET_NOTE_EDIT
                for column, unbound in list(extra.items()):
                    secret = column in self.secret_columns
                    help_text = FIELD_HELP.get(column)
                    if help_text or secret:
                        extra[column] = _described(
                            unbound, JoinedText(help_text, note if secret else None))
                columns = self.kind_columns(kind, mode)
                validators = {c: list(self.validators_columns.get(c, [])) for c in columns}
                # the platform's required values, but never a stored secret on edit (blank keeps)
                for column in REQUIRED_FIELDS.get(kind, ()):
                    if mode == "edit" and column in self.secret_columns:
                        continue
                    if column in extra:
                        extra[column] = _required(extra[column])
                    else:
                        validators[column] = [_platform_required(), *validators.get(column, [])]
                if mode == "add":  # the platform rides along; the form is only for this one
                    extra["kind"] = HiddenField(default=kind, validators=[AnyOf([kind])])
                    columns = [*columns, "kind"]
                descriptions = {**self.description_columns, "name": NAME_HELP[kind]}
                self._kind_forms[(kind, mode)] = converter.create_form(
                    self.label_columns, columns, descriptions,
                    validators, extra,
                    getattr(self, f"{mode}_form_query_rel_fields"))

    def _get_add_widget(self, form, exclude_cols=None, widgets=None):
        kind = form_kind()
        if kind is None:
            return super()._get_add_widget(form, exclude_cols=exclude_cols, widgets=widgets)
        widgets = widgets or {}
        widgets["add"] = self.add_widget(form=form, include_cols=self.kind_columns(kind, "add"),
                                         exclude_cols=exclude_cols or [],
                                         fieldsets=self.add_fieldsets)
        return widgets

    def _get_edit_widget(self, form, exclude_cols=None, widgets=None):
        kind = form_kind()
        if kind is None:
            return super()._get_edit_widget(form, exclude_cols=exclude_cols, widgets=widgets)
        widgets = widgets or {}
        widgets["edit"] = self.edit_widget(form=form,
                                           include_cols=self.kind_columns(kind, "edit"),
                                           exclude_cols=exclude_cols or [],
                                           fieldsets=self.edit_fieldsets)
        return widgets

    def _get_show_widget(self, pk, item, widgets=None, actions=None, show_fieldsets=None):
        """The show page lists the channel's own platform's columns only, and offers only the
        actions that do something for its platform (a web chat channel has no connection to
        test and no webhook to configure)."""
        if actions is None and item is not None and item.kind in PLATFORM_ACTIONLESS:
            actions = _ShownActions((name, found) for name, found in self.actions.items()
                                    if name not in PLATFORM_ACTIONS)
        if show_fieldsets or self.show_fieldsets or item.kind not in SHOW_FIELDS:
            return super()._get_show_widget(pk, item, widgets=widgets, actions=actions,
                                            show_fieldsets=show_fieldsets)
        others = set().union(*(f for k, f in SHOW_FIELDS.items() if k != item.kind))
        columns = [c for c in self.show_columns if c.removesuffix("_masked") not in others]
        widgets = widgets or {}
        widgets["show"] = self.show_widget(
            pk=pk, label_columns=self.label_columns, include_columns=columns,
            value_columns=self.datamodel.get_values_item(item, columns),
            formatters_columns=self.formatters_columns, actions=actions or self.actions,
            fieldsets=None, modelview_name=self.__class__.__name__)
        return widgets

    def render_template(self, template, **kwargs):
        kind = form_kind()
        if kind is not None:
            kwargs.setdefault("channel_kind", kind)
            kwargs.setdefault("platform_name", PLATFORM_NAMES[kind])
        return super().render_template(template, **kwargs)

    # -- routes --------------------------------------------------------------------------------
    @staticmethod
    def _requested_kind() -> str | None:
        kind = request.args.get("kind")
        if kind is None and request.method == "POST":
            kind = request.form.get("kind")
        return kind if kind in CHANNEL_KINDS else None

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """Without a known `kind`: the platform chooser. With one: that platform's form."""
        kind = self._requested_kind()
        if kind is None:
            return self.render_template(
                "relaydesk/channel_kinds.html", title=_("Add a channel: choose the platform"),
                platforms=PLATFORMS, endpoint=f"{self.endpoint}.add")
        request.environ[_KIND_KEY] = kind
        return super().add()

    @expose("/edit/<pk>", methods=["GET", "POST"])
    @has_access
    def edit(self, pk):
        """The channel's own platform's form (404 when the channel is not visible)."""
        item = self.datamodel.get(self._deserialize_pk_if_composite(pk), self._base_filters)
        if item is None:
            abort(404)
        request.environ[_KIND_KEY] = item.kind
        return super().edit(pk)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """FAB's show page plus the webhook URL and, for managers, the live state panel."""
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)  # 404 when not visible
        channel = self.datamodel.get(pk, self._base_filters)
        may_check = self.appbuilder.sm.has_access("can_edit", self.class_permission_name)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=self._related_views, channel=channel,
            platform_name=PLATFORM_NAMES.get(channel.kind, channel.kind),
            service_name=SERVICE_NAMES.get(channel.kind, ""),
            webhook=webhook_setup(channel, verify_token=may_check),
            state_url=url_for(f"{self.endpoint}.state", pk=channel.id) if may_check else None,
            state_poll_ms=int(self.state_poll_seconds * 1000))

    @expose("/state/<int:pk>", methods=["GET"])
    @has_access
    def state(self, pk):
        """The platform's live state of one visible channel, as JSON for the show page.

        :raise 404: if the channel is not in the signed-in member's workspace.
        :raise 403: for members who may not edit channels (agents)."""
        channel = self.datamodel.get(pk, self._base_filters)
        if channel is None:
            abort(404)
        response = jsonify(live_state(channel))
        response.headers["Cache-Control"] = "no-store"
        return response


def webhook_setup(channel, verify_token: bool = False) -> dict | None:
    """The URL a platform posts to, and who sets it there (None for web chat); for Meta, with
    `verify_token`, also the verify token to paste beside it (managers only)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    if channel.kind == "greenapi":
        return {"url": f"{base}/webhooks/greenapi", "configured_by_relaydesk": True}
    if channel.kind == "telegram":
        if not channel.bot_id:
            return None
        return {"url": f"{base}/webhooks/telegram/{channel.bot_id}",
                "configured_by_relaydesk": True}
    if channel.kind == "meta":
        return {"url": f"{base}/webhooks/meta", "configured_by_relaydesk": False,
                "verify_token": (current_app.config.get("META_VERIFY_TOKEN") or None)
                if verify_token else None}
    return None


QUALITY_WORDS = {"GREEN": _l("High"), "YELLOW": _l("Medium"), "RED": _l("Low"),
                 "UNKNOWN": _l("Not rated yet")}
CODE_VERIFICATION_WORDS = {"VERIFIED": _l("Verified"), "NOT_VERIFIED": _l("Not verified"),
                           "EXPIRED": _l("Expired")}


def problem_message(kind: str, answer: LiveAnswer) -> str:
    """The plain words for a LiveAnswer's problem on a channel of `kind` (never the platform's
    own error text; Telegram's words speak of its bot token)."""
    return platform_problem(kind, answer.problem or "http_error", answer.status,
                            reason=answer.detail).words()


def live_state(channel) -> dict:
    """What the show page displays about the platform now: `ok`, `kind`, then per platform the
    facts in words (`error` when the platform did not answer as documented). Never a secret."""
    if channel.kind == "webchat":
        return {"ok": True, "kind": "webchat"}
    answer = client_for(channel).live_state()
    if not answer.ok:
        return {"ok": False, "kind": channel.kind,
                "error": problem_message(channel.kind, answer)}
    facts = answer.facts
    if channel.kind == "greenapi":
        return _green_state(facts)
    if channel.kind == "telegram":
        return _telegram_state(facts)
    return _meta_state(facts)


def _green_state(facts: dict) -> dict:
    state = facts["state"]
    words = GREEN_STATE_WORDS.get(state)
    result = {"ok": True, "kind": "greenapi", "state": state,
              "authorized": state == "authorized",
              "state_label": str(words) if words else _("State: %(state)s", state=state),
              "qr": None, "qr_note": None}
    if facts.get("qr_png"):
        result["qr"] = "data:image/png;base64," + facts["qr_png"]
    elif facts.get("qr_state") == "alreadyLogged":
        result["qr_note"] = _("Green API says the phone is already linked; the state updates "
                              "in a moment.")
    elif not result["authorized"]:
        result["qr_note"] = _("Green API offers no QR code right now (the instance may be "
                              "starting). Relaydesk asks again in a moment.")
    return result


def _telegram_state(facts: dict) -> dict:
    privacy_on = facts.get("can_read_all_group_messages") is False
    username = facts.get("username") or ""
    return {
        "ok": True, "kind": "telegram", "bot_name": facts.get("first_name") or "—",
        "username": f"@{username}" if username else "—", "privacy_on": privacy_on,
        "privacy_hint": _(
            "Privacy mode is on: in groups the bot sees only commands and replies to its own "
            "messages. To let it read provider groups, send /setprivacy to @BotFather, choose "
            "this bot and select Disable (then remove and add the bot to the group again), or "
            "make the bot an admin of the group.") if privacy_on else _(
            "Privacy mode is off: the bot reads every message in its groups."),
    }


def _meta_state(facts: dict) -> dict:
    quality = facts.get("quality_rating")
    code = facts.get("code_verification_status")
    return {
        "ok": True, "kind": "meta",
        "display_phone_number": facts.get("display_phone_number") or "—",
        "verified_name": facts.get("verified_name") or "—",
        "quality_rating": str(QUALITY_WORDS.get(quality, quality or "—")),
        "code_verification_status": str(CODE_VERIFICATION_WORDS.get(code, code or "—")),
    }


def verify_after_save(channel) -> tuple[str, str] | None:
    """ChannelView.after_save: a Meta channel awaiting verification gets it queued at once."""
    if not needs_verification(channel):
        return None
    if queues.enqueue_verification(channel.id):
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
        users = db.session.query(LinkedUser).filter_by(workspace_id=chat.workspace_id) \
            .filter(LinkedUser.username.is_not(None)).order_by(LinkedUser.username).all()
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
        if user is None or user.username is None:
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
