"""A manager's card-payment buttons: the Stripe portal, Stripe Checkout or a plan change, and
a Razorpay subscription. POST only (CSRF), manager of the workspace only; each answers with a
redirect to the provider's page, or back to the billing page with the reason in words.

* `POST /billing/stripe/portal`: the Stripe billing portal of the workspace's customer ("Manage
  payment").
* `POST /billing/stripe/checkout` (`price`: a PlanPrice id): "Change plan" / "Pay by card".
  With a running Stripe subscription the plan is changed in place (pro-rated, applied when
  Stripe's `customer.subscription.updated` arrives); otherwise a Checkout page. A workspace
  whose subscription is active keeps its plan until the new one is paid; one that is not active
  has the plan chosen at once (app/billing.py `choose_plan`), waiting for payment.
* `POST /billing/razorpay/start` (`price`): a Razorpay subscription's hosted page.

The sign-up journey calls `stripe_gateway.start_checkout` / `razorpay_gateway.start_subscription`
itself. `payment_buttons.html` (a Jinja macro) renders these forms for the billing page.
"""
from __future__ import annotations

import logging

from flask import abort, current_app, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _

from app import billing
from app.extensions import db
from app.models import Plan, PlanPrice, Workspace
from app.payments import razorpay_gateway, stripe_gateway
from app.payments.exceptions import PaymentUnavailable
from app.redaction import flash
from app.security import ROLE_MANAGER, WRITE
from app.tenancy import current_scope

log = logging.getLogger(__name__)

#: where the buttons live and the providers send the customer back to
BILLING_ENDPOINT = "BillingView.index"
RUNNING = ("active", "trialing", "past_due")


def billing_url(external: bool = False) -> str:
    path = url_for(BILLING_ENDPOINT)
    if not external:
        return path
    return (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/") + path


def payment_options(subscription) -> dict:
    """What the billing page offers: which providers are configured and whether the portal has
    a customer to open."""
    return {"stripe": stripe_gateway.configured(),
            "razorpay": razorpay_gateway.configured(),
            "portal": bool(stripe_gateway.configured() and subscription is not None
                           and subscription.stripe_customer_id)}


def card_prices(subscription) -> list[PlanPrice]:
    """The prices a card payment may start with: the public plans' paid prices (in the
    subscription's currency once it has one), each with the provider's id it needs."""
    query = db.session.query(PlanPrice).join(Plan, PlanPrice.plan_id == Plan.id).filter(
        Plan.is_public.is_(True), PlanPrice.amount_cents > 0)
    if subscription is not None and subscription.currency:
        query = query.filter(PlanPrice.currency == subscription.currency)
    prices = query.order_by(Plan.sort_order, Plan.id, PlanPrice.interval).all()
    return [price for price in prices if price.stripe_price_id or price.razorpay_plan_id]


class PaymentsView(BaseView):
    route_base = "/billing"
    default_view = "stripe_portal"
    relaydesk_roles = {ROLE_MANAGER: WRITE}

    def _workspace(self) -> Workspace:
        scope = current_scope()
        workspace = db.session.get(Workspace, scope.workspace_id) if scope.workspace_id else None
        if workspace is None:  # the master admin has no workspace of their own to pay for
            abort(404)
        return workspace

    def _price(self) -> PlanPrice | None:
        price = db.session.get(PlanPrice, request.form.get("price", type=int) or 0)
        if price is None or not price.amount_cents:
            return None
        workspace = self._workspace()
        plan = db.session.get(Plan, price.plan_id)
        return price if plan.is_public or plan.id == workspace.plan_id else None

    def _refused(self, exc: PaymentUnavailable):
        log.info("payment not started: %s", exc.detail)
        flash(exc.message, "danger")
        return redirect(billing_url())

    @expose("/stripe/portal", methods=["POST"])
    @has_access
    def stripe_portal(self):
        subscription = billing.subscription_of(self._workspace())
        if subscription is None:
            return self._refused(PaymentUnavailable(stripe_gateway.NO_CUSTOMER, "none"))
        try:
            return redirect(stripe_gateway.portal_url(subscription, billing_url(external=True)))
        except PaymentUnavailable as exc:
            return self._refused(exc)

    @expose("/stripe/checkout", methods=["POST"])
    @has_access
    def stripe_checkout(self):
        workspace = self._workspace()
        price = self._price()
        if price is None:
            flash(_("Choose one of the plans offered."), "danger")
            return redirect(billing_url())
        subscription = billing.subscription_of(workspace)
        try:
            if (subscription is not None and subscription.stripe_subscription_id
                    and subscription.payment_method == "stripe"
                    and subscription.status in RUNNING):
                stripe_gateway.change_plan(subscription, price)
                flash(_("Plan change sent to Stripe: it shows here as soon as Stripe confirms "
                        "it (the difference is charged or credited pro rata)."), "success")
                return redirect(billing_url())
            subscription = self._chosen(workspace, subscription, price, "stripe")
            back = billing_url(external=True)
            url = stripe_gateway.start_checkout(subscription, price, back, back)
        except PaymentUnavailable as exc:
            db.session.rollback()
            return self._refused(exc)
        db.session.commit()
        return redirect(url)

    @expose("/razorpay/start", methods=["POST"])
    @has_access
    def razorpay_start(self):
        workspace = self._workspace()
        price = self._price()
        if price is None:
            flash(_("Choose one of the plans offered."), "danger")
            return redirect(billing_url())
        try:
            subscription = self._chosen(workspace, billing.subscription_of(workspace), price,
                                        "razorpay")
            url = razorpay_gateway.start_subscription(subscription, price)
        except PaymentUnavailable as exc:
            db.session.rollback()
            return self._refused(exc)
        db.session.commit()
        return redirect(url)

    @staticmethod
    def _chosen(workspace, subscription, price, method):
        """The subscription to pay: an active one stays as it is until the payment arrives."""
        if subscription is not None and subscription.status == "active":
            return subscription
        subscription = billing.choose_plan(workspace, price, method)
        db.session.flush([subscription])
        return subscription
