"""Communication › Broadcasts: write a text for an audience of linked users, send it now or at a
time, follow its progress, pause, resume or cancel it (rules: app/jobs/broadcasts.py).

* `BroadcastView`: the list, the add / edit form (edit while a draft: audience pickers by
  label, the text checked like every template), the broadcast's page with its progress (sent,
  failed, remaining, rate, ETA: refreshed every few seconds from `/progress/<pk>`), the
  actions (`/action/<pk>/<start|pause|resume|cancel>`, POST with the CSRF token) and the
  recipients' list (`BroadcastRecipientView`, read-only).
* `BroadcastApi` (`/api/v1/broadcast/`): the same rows; `audience` is
  `{"channel_kinds": [...], "languages": [...], "tags": [...]}`; `total`, `sent`, `failed`,
  `remaining`, `status` are read-only; `POST /api/v1/broadcast/<id>/start|pause|resume|cancel`.
"""
from __future__ import annotations

from flask import abort, jsonify, redirect, url_for
from flask_appbuilder import expose
from flask_appbuilder.api import protect, safe
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError, fields

from app.config import LANGUAGES
from app.domain.templates import BROADCAST, problem
from app.extensions import db
from app.jobs import broadcasts as runner
from app.models import Broadcast, BroadcastRecipient
from app.models.broadcasts import AUDIENCE_KEYS
from app.models.channels import CHANNEL_KINDS
from app.plans import PlanRefusal
from app.redaction import flash
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.validation import FieldError
from app.views.export import CsvExportButton
from app.views.base import RelaydeskInterface, WorkspaceModelView, WorkspaceRestApi
from app.views.template_fields import TemplateText, message

ACTIONS = {"start": runner.start, "pause": runner.pause, "resume": runner.resume,
           "cancel": runner.cancel}
ACTION_DONE = {
    "start": _l("The broadcast started."), "pause": _l("The broadcast is paused."),
    "resume": _l("The broadcast goes on."), "cancel": _l("The broadcast is canceled."),
}

LABELS = {
    "workspace": _l("Workspace"), "name": _l("Name"), "text": _l("Text"),
    "channel_kinds": _l("Channels"),
    "languages": _l("Languages"), "tags": _l("Tags"), "scheduled_at": _l("Send at"),
    "status": _l("Status"), "total": _l("Recipients"), "sent": _l("Sent"),
    "failed": _l("Failed"), "skipped": _l("Skipped"), "remaining": _l("Remaining"),
    "started_at": _l("Started"), "finished_at": _l("Finished"), "created_at": _l("Created"),
    "updated_at": _l("Updated"), "audience": _l("Audience"),
}
RECIPIENT_LABELS = {
    "workspace": _l("Workspace"), "broadcast": _l("Broadcast"),
    "username": _l("Panel username"), "channel": _l("Channel"),
    "chat_id": _l("Chat"), "language": _l("Language"), "state": _l("Status"),
    "reason": _l("Reason"), "sent_at": _l("Sent"),
}


def text_valid(item) -> None:
    error = problem(BROADCAST, item.text)
    if error is not None:
        raise FieldError("text", message(error))


def editable(item) -> None:
    """Only a draft's text and audience may change (what was sent stays what it was)."""
    if item.id is not None and item.status != "draft":
        raise FieldError("name", str(_l("Only a draft can be changed: this broadcast has "
                                         "started.")))


def audience_allowed(item) -> None:
    """:raise PlanRefusal: the plan has no broadcasts, or excludes a chosen medium."""
    from app.plans import module_refusal, plan_of

    refusal = module_refusal(plan_of(item.workspace_id or item.workspace), "broadcasts")
    if refusal is not None:
        raise refusal
    if item.workspace_id is None and item.workspace is not None:
        item.workspace_id = item.workspace.id
    runner.check_audience(item)


class BroadcastRecipientView(CsvExportButton, WorkspaceModelView):
    """The recipients of broadcasts and each one's status (read-only)."""

    datamodel = RelaydeskInterface(BroadcastRecipient)
    csv_resource = "broadcast_recipient"
    relaydesk_roles = {ROLE_MANAGER: READ, ROLE_AGENT: READ}
    base_permissions = ["can_list", "can_show"]
    list_columns = ["username", "channel", "chat_id", "state", "reason", "sent_at"]
    show_columns = ["broadcast", "username", "channel", "chat_id", "language", "state",
                    "reason", "sent_at"]
    search_columns = ["broadcast", "username", "state", "chat_id"]
    order_columns = ["username", "state", "sent_at"]
    label_columns = RECIPIENT_LABELS
    page_size = 50


class BroadcastView(WorkspaceModelView):
    """A text to every linked user of an audience, once each."""

    datamodel = RelaydeskInterface(Broadcast)
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    base_permissions = ["can_list", "can_show", "can_add", "can_edit", "can_delete",
                        "can_act"]
    list_columns = ["name", "status", "total", "sent", "failed", "remaining", "scheduled_at",
                    "created_at"]
    show_columns = ["name", "status", "text", "channel_kinds", "languages", "tags",
                    "scheduled_at", "total", "sent", "failed", "skipped", "remaining",
                    "started_at", "finished_at", "created_at"]
    add_columns = ["name", "text", "channel_kinds", "languages", "tags", "scheduled_at"]
    edit_columns = add_columns
    search_columns = ["name", "status", "scheduled_at"]
    order_columns = ["name", "status", "total", "sent", "failed", "scheduled_at",
                     "created_at"]
    base_order = ("created_at", "desc")
    label_columns = LABELS
    description_columns = {
        "text": _l("Sent once to each recipient. {username} is replaced by the recipient's "
                   "panel username; any other word in braces is refused."),
        "channel_kinds": _l("Only recipients reachable on these kinds of channel; none "
                            "chosen: every channel."),
        "languages": _l("Only linked users who speak one of these; none chosen: every "
                        "language."),
        "tags": _l("Only linked users with at least one of these tags (comma separated, as "
                   "on the Linked users screen); empty: everyone."),
        "scheduled_at": _l("Empty: sent as soon as you press Start. A time (UTC): Start "
                           "schedules it for then."),
    }
    add_form_extra_fields: dict = {}
    item_validators = (editable, text_valid)
    plan_checks = (audience_allowed,)
    method_permission_name = {"progress": "show", "act": "act"}
    related_views = [BroadcastRecipientView]
    show_template = "relaydesk/broadcast_show.html"
    progress_poll_seconds = 3

    def _init_forms(self):
        super()._init_forms()
        from app.labels import ENUM_LABELS
        from app.validation import attach_rules
        from app.views.base import LabelledCodeListField

        for form in (self.add_form, self.edit_form):
            if form is None:
                continue
            form.channel_kinds = LabelledCodeListField(
                LABELS["channel_kinds"], codes=CHANNEL_KINDS,
                labels=ENUM_LABELS["channel_kind"],
                description=self.description_columns["channel_kinds"])
            form.languages = LabelledCodeListField(
                LABELS["languages"], codes=tuple(LANGUAGES),
                labels={code: info["name"] for code, info in LANGUAGES.items()},
                description=self.description_columns["languages"])
            text_field = getattr(form, "text", None)
            if text_field is not None:
                text_field.kwargs["validators"] = [*text_field.kwargs.get("validators", []),
                                                   TemplateText(BROADCAST)]
            attach_rules(form, Broadcast)  # the replaced fields keep their declared checks

    def _broadcast(self, pk) -> Broadcast:
        item = self.datamodel.get(pk, self._base_filters)
        if item is None:
            abort(404)
        return item

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)  # 404 when not visible
        item = self._broadcast(pk)
        may_act = self.appbuilder.sm.has_access("can_act", self.class_permission_name)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=self._related_views, broadcast=item,
            progress=runner.progress(item), may_act=may_act,
            progress_url=url_for(f"{self.endpoint}.progress", pk=item.id),
            progress_poll_ms=int(self.progress_poll_seconds * 1000), endpoint=self.endpoint)

    @expose("/progress/<int:pk>", methods=["GET"])
    @has_access
    def progress(self, pk):
        """The progress as JSON for the broadcast's page. :raise 404: not in the scope."""
        response = jsonify(runner.progress(self._broadcast(pk)))
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/action/<int:pk>/<name>", methods=["POST"])
    @has_access
    def act(self, pk, name):
        """Start, pause, resume or cancel. :raise 404: not in the scope or no such action."""
        item = self._broadcast(pk)
        action = ACTIONS.get(name)
        if action is None:
            abort(404)
        try:
            action(item)
        except (runner.BroadcastRefusal, PlanRefusal) as exc:
            db.session.rollback()
            flash(exc.message, "danger")
        else:
            flash(str(ACTION_DONE[name]), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=pk))


# --- REST --------------------------------------------------------------------------------------

class AudienceField(fields.Field):
    """`{"channel_kinds": [...], "languages": [...], "tags": [...]}` (each optional)."""

    def _serialize(self, value, attr, obj, **kwargs):
        return obj.audience if obj is not None else None

    def _deserialize(self, value, attr, data, **kwargs):
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError(gettext("Send an object with channel_kinds, languages and "
                                          "tags."))
        unknown = sorted(set(value) - set(AUDIENCE_KEYS))
        if unknown:
            raise ValidationError(gettext("Unknown field.") + " " + ", ".join(unknown))
        known = {"channel_kinds": CHANNEL_KINDS, "languages": tuple(LANGUAGES)}
        clean = {}
        for key in AUDIENCE_KEYS:
            items = value.get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ValidationError(gettext("%(field)s: a list of texts.", field=key))
            items = [i.strip() for i in items if i.strip()]
            if any("," in i or len(i) > 60 for i in items):
                raise ValidationError(gettext("%(field)s: a list of texts.", field=key))
            if key in known:
                wrong = [i for i in items if i not in known[key]]
                if wrong:
                    raise ValidationError(gettext(
                        "Not offered: %(codes)s. Choose among %(known)s.",
                        codes=", ".join(wrong), known=", ".join(known[key])))
            clean[key] = list(dict.fromkeys(items))
        return clean


class BroadcastApi(WorkspaceRestApi):
    resource_name = "broadcast"
    datamodel = RelaydeskInterface(Broadcast)
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    base_permissions = ["can_get", "can_info", "can_post", "can_put", "can_delete", "can_act"]
    list_columns = ["id", "name", "text", "audience", "scheduled_at", "status", "total",
                    "sent", "failed", "skipped", "remaining", "started_at", "finished_at",
                    "created_at", "updated_at"]
    show_columns = list_columns
    add_columns = ["name", "text", "audience", "scheduled_at"]
    edit_columns = add_columns
    search_columns = ["name", "status", "scheduled_at"]
    order_columns = ["id", "name", "status", "scheduled_at", "created_at"]
    label_columns = LABELS
    item_validators = (editable, text_valid)
    plan_checks = (audience_allowed,)

    def _init_model_schemas(self) -> None:
        super()._init_model_schemas()
        for schema, load in ((self.list_model_schema, False), (self.show_model_schema, False),
                             (self.add_model_schema, True), (self.edit_model_schema, True)):
            if schema is None:
                continue
            extra = {"audience": AudienceField(load_default=None) if load
                     else AudienceField(dump_only=True)}
            if not load:
                extra["remaining"] = fields.Integer(dump_only=True)
            for name, field in extra.items():
                field._bind_to_schema(name, schema)  # noqa: SLF001
                schema.fields[name] = schema.dump_fields[name] = field
                if load:
                    schema.load_fields[name] = field

    @expose("/<int:pk>/<name>", methods=["POST"])
    @protect()
    @safe
    def act(self, pk, name):
        """Start, pause, resume or cancel a broadcast.
        ---
        post:
          parameters:
          - in: path
            schema:
              type: integer
            name: pk
          - in: path
            schema:
              type: string
              enum: [start, pause, resume, cancel]
            name: name
          responses:
            200:
              description: the broadcast's progress
            403:
              description: the plan does not allow it
            404:
              description: not found
            409:
              description: not in a status that allows it
        """
        gate = self._plan_gate()
        if gate is not None:
            return gate
        action = ACTIONS.get(name)
        item = self.datamodel.get(pk, self._base_filters)
        if item is None or action is None:
            return self.response_404()
        try:
            item = action(item)
        except PlanRefusal as exc:
            db.session.rollback()
            return self.response(403, message=exc.message)
        except runner.BroadcastRefusal as exc:
            db.session.rollback()
            return self.response(409, message=exc.message)
        return self.response(200, **runner.progress(item))
