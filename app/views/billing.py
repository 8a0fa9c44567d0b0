"""Billing screens: the master admin's payment methods, pending approvals and subscription
actions; every manager's Billing page; invoice PDFs.

* `PaymentMethodView` (Master admin › Payment methods): the manual ways to pay, CRUD.
* `PaymentSubmissionView` (Master admin › Pending approvals, opened filtered to pending):
  every customer's "I paid"; the Approve and Reject actions open the review page
  (`/paymentsubmissionview/review/<pk>`), which shows the payment, warns when its reference
  was used before, and asks for a note to the customer (required to reject).
* `SubscriptionAdminMixin` (on the master admin's Subscriptions screen): Extend, Change plan,
  Suspend (each a form page) and Resume.
* `BillingView`: `/billing/` a manager's Billing page (plan, status, period, price, what to do
  next, pending payment, last rejection, invoices) and `/billing/invoices/<id>.pdf` (any
  invoice the reader's scope holds: a manager of A gets 404 for B's).

The rules are app/billing.py's; these screens only ask and show.
"""
from __future__ import annotations

from flask import Response, abort, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy import select
from wtforms import IntegerField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from app import billing
from app.billing_mail import PAY_PATH
from app.extensions import db
from app.invoice_pdf import invoice_pdf
from app.labels import code_label
from app.models import (Invoice, PaymentMethod, PaymentSubmission, PlanPrice, Subscription,
                        Workspace)
from app.redaction import flash
from app.security import ROLE_MANAGER, WRITE
from app.tenancy import current_scope, get_scoped, scoped_query
from app.views.base import CheckedModelView, RelaydeskInterface, WorkspaceModelView
from app.views.formatting import format_time

PENDING_LIST = "/paymentsubmissionview/list/?_flt_0_status=pending"


def in_reader_zone(value) -> str:
    """A stored time in the reader's zone to the minute, "" for none."""
    return format_time(value, seconds=False) if value is not None else ""


def _examples(validator, valid: str, invalid: str):
    """The examples the browser form matrix types (as app/validation.py's validators carry)."""
    validator.valid_example = valid
    validator.invalid_example = invalid
    return validator


# --- payment methods -------------------------------------------------------------------------

class PaymentMethodView(CheckedModelView):
    """The manual ways to pay (bank transfer, a wallet...): customers read the instructions,
    pay, then send the payment's reference."""

    datamodel = RelaydeskInterface(PaymentMethod)
    relaydesk_roles: dict = {}
    page_size = 25
    list_columns = ["name", "currencies", "active", "sort_order"]
    show_columns = ["name", "instructions", "currencies", "active", "sort_order", "created_at",
                    "updated_at"]
    add_columns = ["name", "instructions", "currencies", "active", "sort_order"]
    edit_columns = add_columns
    search_columns = ["name", "currencies", "active"]
    base_order = ("sort_order", "asc")
    label_columns = {"name": _l("Name"), "instructions": _l("Instructions"),
                     "currencies": _l("Currencies"), "active": _l("Offered"),
                     "sort_order": _l("Display order"), "created_at": _l("Created"),
                     "updated_at": _l("Updated")}
    description_columns = {
        "name": _l("What customers choose, e.g. Bank transfer (EUR)."),
        "instructions": _l("What the customer reads before paying: account, beneficiary, "
                           "what to write as the payment's reference."),
        "currencies": _l("The currencies it takes, e.g. USD, EUR. Leave empty for every "
                         "currency."),
        "active": _l("Only offered methods are shown to customers."),
        "sort_order": _l("Methods are listed by this number, smallest first."),
    }
    add_defaults = {"active": True}


# --- pending approvals -----------------------------------------------------------------------

def reference_warning(count) -> str:
    if not count:
        return "—"
    return ngettext("Used once before", "Used %(num)d times before", count)


class ReviewForm(DynamicForm):
    note = TextAreaField(_l("Note to the customer"), validators=[Optional(), Length(max=2000)],
                         description=_l("Sent with the answer. Required to reject: say what "
                                        "is wrong and what to do."))


class PaymentSubmissionView(WorkspaceModelView):
    """Payments customers reported, waiting for the master admin's approval."""

    datamodel = RelaydeskInterface(PaymentSubmission)
    relaydesk_roles: dict = {}
    base_permissions = ["can_list", "can_show", "can_review"]
    search_exclude_columns: list = []
    list_columns = ["workspace", "plan", "interval", "amount_text", "reference",
                    "reference_seen_before", "status", "created_at"]
    show_columns = ["workspace", "plan", "interval", "amount_text", "payment_method",
                    "reference", "reference_seen_before", "customer_note", "status",
                    "review_note", "reviewed_by", "reviewed_at", "invoice", "created_at"]
    search_columns = ["workspace", "status", "reference", "plan"]
    base_order = ("created_at", "desc")
    label_columns = {"workspace": _l("Workspace"), "plan": _l("Plan"),
                     "interval": _l("Billing interval"), "amount_text": _l("Amount"),
                     "payment_method": _l("Payment method"), "reference": _l("Reference"),
                     "reference_seen_before": _l("Reference used before"),
                     "customer_note": _l("Customer's note"), "status": _l("Status"),
                     "review_note": _l("Note to the customer"),
                     "reviewed_by": _l("Reviewed by"), "reviewed_at": _l("Reviewed"),
                     "invoice": _l("Invoice"), "created_at": _l("Submitted")}
    formatters_columns = {"reference_seen_before": reference_warning}

    @action("approve", _l("Approve"), icon="fa-check", multiple=False)
    def approve(self, item):
        return redirect(url_for(f"{self.endpoint}.review", pk=item.id))

    @action("reject", _l("Reject"), icon="fa-times", multiple=False)
    def reject(self, item):
        return redirect(url_for(f"{self.endpoint}.review", pk=item.id))

    def _facts(self, item) -> list:
        return [(_l("Workspace"), item.workspace.name), (_l("Plan"), item.plan.name),
                (_l("Billing interval"), code_label("billing_interval", item.interval)),
                (_l("Amount"), item.amount_text()),
                (_l("Payment method"), item.payment_method.name if item.payment_method
                 else ""),
                (_l("Reference"), item.reference), (_l("Customer's note"), item.customer_note),
                (_l("Submitted"), in_reader_zone(item.created_at)),
                (_l("Status"), code_label("submission_status", item.status))]

    def _warnings(self, item) -> list[str]:
        warnings = []
        earlier = billing.reference_used_before(item)
        if earlier:
            workspaces = sorted({s.workspace.name for s in earlier})
            warnings.append(gettext("This reference was used before (%(count)d times, by "
                                    "%(workspaces)s): check it is a new payment.",
                                    count=len(earlier), workspaces=", ".join(workspaces)))
        if item.status != "pending":
            warnings.append(gettext("This payment was already answered: %(status)s.",
                                    status=code_label("submission_status", item.status)))
        return warnings

    @expose("/review/<int:pk>", methods=["GET", "POST"])
    @has_access
    def review(self, pk):
        """Approve or reject one payment. :raise 404: not in the reader's scope."""
        item = self.datamodel.get(pk)
        if item is None:
            abort(404)
        form = ReviewForm()
        if request.method == "POST" and form.validate():
            decide = (billing.reject_submission if request.form.get("decision") == "reject"
                      else billing.approve_submission)
            try:
                outcome = decide(item, g.user, form.note.data)
            except billing.BillingRefused as exc:
                db.session.rollback()
                form.note.errors = [*form.note.errors, *exc.problems.get("note", [str(exc)])]
            else:
                db.session.commit()
                flash(outcome.message, "success" if outcome.changed else "info")
                return redirect(PENDING_LIST)
        return self.render_template(
            "relaydesk/billing_form.html", title=gettext("Pending approvals › Review"),
            form=form, facts=self._facts(item), warnings=self._warnings(item),
            back=PENDING_LIST,
            buttons=[("decision", "approve", gettext("Approve"), "btn-success"),
                     ("decision", "reject", gettext("Reject"), "btn-danger")])


# --- the master admin's subscription actions -------------------------------------------------

UNIT_CHOICES = [("month", _l("Months")), ("year", _l("Years"))]


class ExtendForm(DynamicForm):
    intervals = IntegerField(
        _l("How many"), default=1,
        validators=[InputRequired(), _examples(NumberRange(1, billing.EXTEND_MAX), "2", "0")],
        description=_l("Added after the current end (or from today when it has passed)."))
    unit = SelectField(_l("Unit"), choices=UNIT_CHOICES, default="month",
                       widget=Select2Widget())


class SuspendForm(DynamicForm):
    reason = TextAreaField(_l("Why it is suspended"),
                           validators=[DataRequired(), Length(max=500)],
                           description=_l("Shown to the workspace's members and sent to its "
                                          "managers, with how to resume."))


class ChangePlanForm(DynamicForm):
    price = SelectField(_l("Plan and price"), coerce=int, widget=Select2Widget(),
                        validators=[DataRequired()],
                        description=_l("Applies at once; the paid period stays as it is."))


class SubscriptionAdminMixin:
    """Extend, Change plan, Suspend and Resume on the master admin's Subscriptions screen."""

    def _subscription(self, pk) -> Subscription:
        item = self.datamodel.get(pk)
        if item is None:
            abort(404)
        return item

    def _facts(self, item) -> list:
        workspace = item.workspace
        return [(_l("Workspace"), workspace.name), (_l("Plan"), item.plan.name),
                (_l("Price"), item.price_text()),
                (_l("Status"), code_label("subscription_status", item.status)),
                (_l("Period end"), in_reader_zone(item.current_period_end)),
                (_l("Workspace status"), code_label("workspace_status", workspace.status)),
                (_l("Why it is suspended"), billing.reason_words(workspace.suspended_reason))]

    def _form_page(self, item, form, title, button):
        return self.render_template(
            "relaydesk/billing_form.html", title=title, form=form, facts=self._facts(item),
            warnings=[], back=url_for(f"{self.endpoint}.list"),
            buttons=[("save", "1", button, "btn-primary")])

    def _done(self, outcome):
        db.session.commit()
        flash(outcome.message, "success" if outcome.changed else "info")
        return redirect(url_for(f"{self.endpoint}.list"))

    def _apply(self, form, change):
        """Run `change`; its refusals go beside the form's fields. A response, or None."""
        try:
            outcome = change()
        except billing.BillingRefused as exc:
            db.session.rollback()
            for name, messages in exc.problems.items():
                field = form[name] if name in form else next(iter(form))
                field.errors = [*field.errors, *messages]
            return None
        return self._done(outcome)

    @action("extend", _l("Extend"), icon="fa-calendar-plus-o", multiple=False)
    def extend_action(self, item):
        return redirect(url_for(f"{self.endpoint}.extend", pk=item.id))

    @action("change_plan", _l("Change plan"), icon="fa-exchange", multiple=False)
    def change_plan_action(self, item):
        return redirect(url_for(f"{self.endpoint}.change_plan", pk=item.id))

    @action("suspend_workspace", _l("Suspend"), icon="fa-pause", multiple=False)
    def suspend_action(self, item):
        return redirect(url_for(f"{self.endpoint}.suspend", pk=item.id))

    @action("resume_workspace", _l("Resume"), _l("Let this workspace work again?"),
            "fa-play", multiple=False)
    def resume_action(self, item):
        return self._done(billing.resume_workspace(item.workspace))

    @expose("/extend/<int:pk>", methods=["GET", "POST"])
    @has_access
    def extend(self, pk):
        """Give more time. :raise 404: not in the reader's scope."""
        item = self._subscription(pk)
        form = ExtendForm()
        if request.method == "POST" and form.validate():
            done = self._apply(form, lambda: billing.extend(
                item, intervals=form.intervals.data, unit=form.unit.data))
            if done is not None:
                return done
        return self._form_page(item, form, gettext("Subscription › Extend"),
                               gettext("Extend"))

    @expose("/suspend/<int:pk>", methods=["GET", "POST"])
    @has_access
    def suspend(self, pk):
        """Suspend the subscription's workspace. :raise 404: not in the reader's scope."""
        item = self._subscription(pk)
        form = SuspendForm()
        if request.method == "POST" and form.validate():
            done = self._apply(form, lambda: billing.suspend_workspace(item.workspace,
                                                                       form.reason.data))
            if done is not None:
                return done
        return self._form_page(item, form, gettext("Subscription › Suspend"),
                               gettext("Suspend"))

    @expose("/change_plan/<int:pk>", methods=["GET", "POST"])
    @has_access
    def change_plan(self, pk):
        """Move to another plan and price at once. :raise 404: not in the reader's scope."""
        item = self._subscription(pk)
        form = ChangePlanForm()
        prices = db.session.execute(select(PlanPrice).order_by(
            PlanPrice.plan_id, PlanPrice.currency, PlanPrice.interval)).scalars().all()
        form.price.choices = [(p.id, str(p)) for p in prices]
        if request.method == "GET":
            current = next((p.id for p in prices if p.plan_id == item.plan_id
                            and p.currency == item.currency
                            and p.interval == item.interval), None)
            form.price.data = current
        if request.method == "POST" and form.validate():
            price = db.session.get(PlanPrice, form.price.data)
            done = self._apply(form, lambda: billing.change_plan(item, price))
            if done is not None:
                return done
        return self._form_page(item, form, gettext("Subscription › Change plan"),
                               gettext("Change plan"))


# --- invoices --------------------------------------------------------------------------------

def pdf_link(path) -> Markup:
    return Markup('<a href="{}" class="invoice-pdf"><i class="fa fa-file-pdf-o"></i> {}</a>'
                  ).format(path, gettext("Download PDF"))


# --- the manager's Billing page --------------------------------------------------------------

def next_step(subscription, workspace, pending) -> tuple[str, bool]:
    """What the manager should do now, and whether the Renew / Pay link fits."""
    if pending is not None:
        return gettext("Your payment waits for approval: you get an e-mail once it is "
                       "checked."), False
    if subscription is None:
        return gettext("Choose a plan and pay to start."), True
    status = subscription.status
    if status == "pending_payment":
        return gettext("Pay for your plan, then send the payment's reference."), True
    if status == "expired" or (workspace.status == "suspended"
                               and workspace.suspended_reason == billing.EXPIRED_REASON):
        return gettext("The subscription ended: renew it to resume the workspace."), True
    if status == "past_due":
        return gettext("The last payment failed: pay to keep the workspace working."), True
    if status == "active" and subscription.payment_method in ("stripe", "razorpay"):
        return gettext("Renews automatically at the end of each period."), False
    if status == "active" and subscription.current_period_end is None:
        return gettext("Nothing to pay: this plan has no end."), False
    if status == "active":
        return gettext("Renew before the period ends to keep the workspace working."), True
    return gettext("Contact the platform's administrator."), False


class BillingView(BaseView):
    route_base = "/billing"
    default_view = "index"
    relaydesk_roles = {ROLE_MANAGER: WRITE}  # it reads; paying is the sign-up journey's page

    @expose("/")
    @has_access
    def index(self):
        """The manager's Billing page (the master admin goes to the Subscriptions screen)."""
        scope = current_scope()
        if scope.workspace_id is None:
            return redirect("/adminsubscriptionview/list/")
        workspace = db.session.get(Workspace, scope.workspace_id)
        subscription = billing.subscription_of(workspace)
        pending = billing.pending_submission(workspace.id)
        last = scoped_query(PaymentSubmission).filter(
            PaymentSubmission.status != "pending").order_by(
            PaymentSubmission.reviewed_at.desc(), PaymentSubmission.id.desc()).first()
        rejected = last if last is not None and last.status == "rejected" else None
        invoices = scoped_query(Invoice).order_by(Invoice.issued_at.desc(),
                                                  Invoice.id.desc()).limit(100).all()
        step, may_pay = next_step(subscription, workspace, pending)
        from app.views.payments import card_prices, payment_options

        return self.render_template(
            "relaydesk/billing.html", workspace=workspace, subscription=subscription,
            pending=pending, rejected=rejected, invoices=invoices, step=step,
            pay_url="/" + PAY_PATH if may_pay else None, code_label=code_label,
            when=in_reader_zone, reason=billing.reason_words(workspace.suspended_reason),
            options=payment_options(subscription), prices=card_prices(subscription))

    @expose("/invoices/<int:pk>.pdf")
    @has_access
    def invoice_pdf(self, pk):
        """The invoice as a PDF. :raise 404: not in the reader's scope."""
        invoice = get_scoped(Invoice, pk)
        if invoice is None:
            abort(404)
        body = invoice_pdf(invoice)
        return Response(body, mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="{escape(invoice.number)}.pdf"'})
