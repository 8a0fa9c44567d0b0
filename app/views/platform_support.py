"""The platform support queue's screens: a workspace's tickets to the platform team, and the
master admin's queue of every workspace's tickets (rules: app/platform_support.py).

* `SupportTicketView` (Support tools › Platform support, workspace members): the workspace's
  tickets (search, filters, pages), "New ticket" (subject, category, first message: errors
  beside the field, what was typed kept), the ticket page (`/show/<pk>`: the thread oldest
  first without internal notes, a reply form, Close / Reopen). Managers write; agents read the
  tickets and their threads. Another workspace's ticket answers 404.
* `SupportQueueView` (Master admin › Support queue): every workspace's tickets, filtered by
  status, workspace, category and priority; by default those waiting for the platform first,
  high priority first, then the longest waiting. Its ticket page shows internal notes and adds
  the internal-note box and the status and priority form.
* `SupportTicketApi` (`/api/v1/support_ticket/`): members list, read and open their
  workspace's tickets (agents read), the master admin reads every one; a ticket's `thread`
  never carries an internal note. Replies are the screens'.
"""
from __future__ import annotations

from flask import abort, g, redirect, request, url_for
from flask_appbuilder import expose
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from sqlalchemy import case
from wtforms import BooleanField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from app import platform_support
from app.extensions import db
from app.labels import ENUM_LABELS
from app.models import SupportTicket
from app.models.support import BODY_MAX, SUPPORT_PRIORITIES, SUPPORT_STATUSES
from app.redaction import flash
from app.security import READ, ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import current_scope
from app.validation import FieldErrors
from app.views.base import RelaydeskInterface, WorkspaceModelView, WorkspaceRestApi
from app.views.formatting import format_time

QUEUE_LIST = "/supportqueueview/list/"
WAITING_LIST = "/supportqueueview/list/?_flt_0_status=open"

LABELS = {
    "number": _l("Ticket"), "workspace": _l("Workspace"), "subject": _l("Subject"),
    "category": _l("Category"), "status": _l("Status"), "priority": _l("Priority"),
    "message": _l("Message"), "last_reply_at": _l("Last message"),
    "last_reply_by_platform": _l("Platform wrote last"), "created_at": _l("Opened"),
    "updated_at": _l("Updated"),
}


def _choices(enum_name: str, codes) -> list:
    return [(code, ENUM_LABELS[enum_name][code]) for code in codes]


class SupportReplyForm(DynamicForm):
    body = TextAreaField(_l("Your reply"), validators=[DataRequired(), Length(max=BODY_MAX)],
                         description=_l("At most %(max)d characters.", max=BODY_MAX))


class PlatformReplyForm(SupportReplyForm):
    internal = BooleanField(_l("Internal note"),
                            description=_l("Only master admins see it: the workspace is "
                                           "neither shown it nor told."))


class TriageForm(DynamicForm):
    status = SelectField(_l("Status"), choices=_choices("support_status", SUPPORT_STATUSES),
                         validators=[DataRequired()])
    priority = SelectField(_l("Priority"),
                           choices=_choices("support_priority", SUPPORT_PRIORITIES),
                           validators=[DataRequired()])


class SupportQueueInterface(RelaydeskInterface):
    """Without an order asked for: waiting for the platform first, then answered, then closed;
    high priority first; the longest waiting (oldest last message) first."""

    def apply_order_by(self, query, order_column, order_direction, *args, **kwargs):
        if order_column or self.obj is not SupportTicket:  # (FAB's related interfaces too)
            return super().apply_order_by(query, order_column, order_direction, *args,
                                          **kwargs)
        model = self.obj
        status_rank = case({"open": 0, "answered": 1}, value=model.status, else_=2)
        priority_rank = case({"high": 0}, value=model.priority, else_=1)
        return query.order_by(status_rank, priority_rank, model.last_reply_at.asc(),
                              model.id.asc())


class SupportTicketView(WorkspaceModelView):
    """The workspace's questions to the platform team."""

    datamodel = RelaydeskInterface(SupportTicket)
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    base_permissions = ["can_list", "can_show", "can_add", "can_reply", "can_set_status"]
    list_columns = ["number", "subject", "category", "status", "last_reply_at", "created_at"]
    show_columns = ["number", "subject", "category", "status", "created_at", "last_reply_at"]
    add_columns = ["subject", "category", "message"]
    search_columns = ["subject", "category", "status"]
    order_columns = ["subject", "category", "status", "last_reply_at", "created_at"]
    base_order = ("last_reply_at", "desc")
    label_columns = LABELS
    description_columns = {
        "subject": _l("A few words about the question, e.g. Invoice 2026-00012 shows the "
                      "wrong plan."),
        "category": _l("What it is about: the platform team sorts its queue by it."),
    }
    add_form_extra_fields = {
        "message": TextAreaField(_l("Message"), validators=[DataRequired(),
                                                             Length(max=BODY_MAX)],
                                 description=_l("What happened, what you expected, and where "
                                                "(at most %(max)d characters).", max=BODY_MAX)),
    }
    add_defaults = {"category": "other"}
    add_row_message = _l("Your ticket is open: the platform team answers here and by e-mail.")
    show_template = "relaydesk/support_ticket.html"
    #: the platform's side (the queue) or the workspace's
    from_platform = False
    reply_form = SupportReplyForm

    # --- new ticket ----------------------------------------------------------------------------

    def pre_add(self, item):
        super().pre_add(item)
        try:
            platform_support.start_ticket(item, g.user, getattr(item, "message", None))
        except FieldErrors:
            db.session.rollback()
            raise

    def post_add(self, item):
        super().post_add(item)
        g.support_new_ticket = item.id
        platform_support.tell_platform_opened(item)

    def post_add_redirect(self):
        new = g.get("support_new_ticket")
        if new is not None:
            return redirect(url_for(f"{self.endpoint}.show", pk=new))
        return super().post_add_redirect()

    # --- the ticket page -----------------------------------------------------------------------

    def _ticket(self, pk) -> SupportTicket:
        """:raise 404: not in the reader's scope."""
        ticket = self.datamodel.get(pk, self._base_filters)
        if ticket is None:
            abort(404)
        return ticket

    def _may(self, permission: str) -> bool:
        return self.appbuilder.sm.has_access(permission, self.class_permission_name)

    def _thread(self, ticket: SupportTicket) -> list:
        if self.from_platform:
            return list(ticket.messages)
        return platform_support.public_messages(ticket)

    def _ticket_page(self, pk, reply_form=None, triage_form=None):
        pk = self._deserialize_pk_if_composite(pk)
        widgets = self._show(pk)  # 404 when not visible
        ticket = self._ticket(pk)
        may_reply = self._may("can_reply")
        if triage_form is None and self.from_platform:
            triage_form = TriageForm(formdata=None, status=ticket.status,
                                     priority=ticket.priority)
        return self.render_template(
            self.show_template, pk=pk, title=self.show_title, widgets=widgets,
            related_views=[], ticket=ticket, thread=self._thread(ticket),
            when=lambda moment: format_time(moment, seconds=False),
            reply_form=(reply_form or self.reply_form()) if may_reply else None,
            may_set_status=self._may("can_set_status"),
            triage_form=triage_form if self._may("can_triage") else None,
            endpoint=self.endpoint)

    @expose("/show/<pk>", methods=["GET"])
    @has_access
    def show(self, pk):
        """The ticket and its thread. :raise 404: not in the reader's scope."""
        return self._ticket_page(pk)

    @expose("/reply/<int:pk>", methods=["POST"])
    @has_access
    def reply(self, pk):
        """Add a message (the platform's side: a reply or an internal note); a refused one
        comes back beside the field with what was typed. :raise 404: not in the reader's
        scope."""
        ticket = self._ticket(pk)
        form = self.reply_form()
        if form.validate():
            internal = bool(getattr(form, "internal", None) and form.internal.data)
            try:
                platform_support.reply(ticket, g.user, form.body.data,
                                       from_platform=self.from_platform, internal=internal)
            except FieldErrors as exc:
                db.session.rollback()
                form.body.errors = [*form.body.errors,
                                    *exc.problems.get("body", [str(exc)])]
            else:
                flash(gettext("Internal note added.") if internal
                      else gettext("Reply sent."), "success")
                return redirect(url_for(f"{self.endpoint}.show", pk=ticket.id))
        return self._ticket_page(ticket.id, reply_form=form)

    @expose("/status/<int:pk>", methods=["POST"])
    @has_access
    def set_status(self, pk):
        """Close (`status=closed`) or reopen (`status=open`) the ticket.
        :raise 404: not in the reader's scope. :raise 400: another status."""
        ticket = self._ticket(pk)
        status = request.form.get("status")
        if status not in ("open", "closed"):
            abort(400)
        changed = platform_support.set_status(ticket, status)
        if changed:
            flash(gettext("Ticket closed.") if status == "closed"
                  else gettext("Ticket reopened."), "success")
        return redirect(url_for(f"{self.endpoint}.show", pk=ticket.id))


class SupportQueueView(SupportTicketView):
    """Every workspace's tickets to the platform team (the master admin's)."""

    datamodel = SupportQueueInterface(SupportTicket)
    relaydesk_roles: dict = {}
    base_permissions = ["can_list", "can_show", "can_reply", "can_set_status", "can_triage"]
    list_columns = ["number", "workspace", "subject", "category", "priority", "status",
                    "last_reply_by_platform", "last_reply_at"]
    show_columns = ["number", "workspace", "subject", "category", "priority", "status",
                    "created_at", "last_reply_at"]
    add_columns: list = []
    search_columns = ["workspace", "subject", "category", "priority", "status"]
    search_exclude_columns: list = []
    order_columns = ["subject", "category", "priority", "status", "last_reply_at",
                     "created_at"]
    base_order = None
    from_platform = True
    reply_form = PlatformReplyForm

    @expose("/triage/<int:pk>", methods=["POST"])
    @has_access
    def triage(self, pk):
        """Set the status and priority. :raise 404: no such ticket."""
        ticket = self._ticket(pk)
        form = TriageForm()
        if not form.validate():
            return self._ticket_page(ticket.id, triage_form=form)
        changed = platform_support.set_priority(ticket, form.priority.data)
        changed = platform_support.set_status(ticket, form.status.data) or changed
        flash(gettext("Ticket updated.") if changed else gettext("Nothing changed."),
              "success" if changed else "info")
        return redirect(url_for(f"{self.endpoint}.show", pk=ticket.id))


# --- REST --------------------------------------------------------------------------------------

class SupportTicketApi(WorkspaceRestApi):
    """`/api/v1/support_ticket/`: a workspace's tickets (members; agents read), every ticket
    (master admin). POST `{"subject", "category", "message"}` opens one in the caller's
    workspace (422 naming the field when refused; without `message`, the subject is the first
    message). `thread` (show) holds the public messages,
    oldest first: never an internal note."""

    resource_name = "support_ticket"
    datamodel = RelaydeskInterface(SupportTicket)
    relaydesk_roles = {ROLE_MANAGER: WRITE, ROLE_AGENT: READ}
    base_permissions = ["can_get", "can_info", "can_post"]
    list_columns = ["id", "workspace", "subject", "category", "status", "priority",
                    "last_reply_at", "last_reply_by_platform", "created_at", "updated_at"]
    show_columns = list_columns  # and `thread` (added to the show schema below)
    add_columns = ["subject", "category"]
    search_columns = ["subject", "category", "status", "priority"]
    order_columns = ["id", "subject", "category", "status", "priority", "last_reply_at",
                     "created_at"]
    label_columns = LABELS

    def _init_model_schemas(self) -> None:
        super()._init_model_schemas()
        schema = self.show_model_schema
        field = fields.Function(lambda ticket: [
            {"id": m.id, "author": m.author_label, "from_platform": m.from_platform,
             "body": m.body, "created_at": m.created_at.isoformat()}
            for m in platform_support.public_messages(ticket)])
        field._bind_to_schema("thread", schema)  # noqa: SLF001
        schema.fields["thread"] = schema.dump_fields["thread"] = field

    def post_headless(self):
        gate = self._plan_gate()
        if gate is not None:
            return gate
        workspace_id = current_scope().workspace_id
        if workspace_id is None:
            return self.response_400(message=gettext(
                "Tickets are opened by a workspace's members."))
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return self.response_400(message=gettext("Send a JSON object."))
        unknown = sorted(set(data) - {"subject", "category", "message"})
        if unknown:
            return self.response_422(message={name: [gettext("Unknown field.")]
                                              for name in unknown})
        message = data.get("message")
        if message is None:  # a ticket opened with its subject alone asks just that
            message = data.get("subject")
        try:
            ticket = platform_support.open_ticket(workspace_id, g.user, data.get("subject"),
                                                  data.get("category") or "other", message)
        except FieldErrors as exc:
            db.session.rollback()
            return self.response_422(message=exc.problems)
        return self.response(201, id=ticket.id,
                             result=self.show_model_schema.dump(ticket, many=False))

