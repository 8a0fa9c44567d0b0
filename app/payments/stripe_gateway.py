"""Stripe: Checkout for a new card subscription, the billing portal, plan changes.

Contract
--------
* `configured()`: whether STRIPE_SECRET_KEY is set; the screens hide Stripe when it is not.
* `start_checkout(subscription, price, success_url, cancel_url, email=None) -> url`: a Checkout
  Session in `subscription` mode for `price.stripe_price_id`. It carries the workspace id as
  `client_reference_id` and, with the plan price id, in the metadata of the session and of the
  Stripe subscription it creates (so every later invoice names the workspace too: an
  `invoice.paid` arriving before `checkout.session.completed` is still placed). The customer is
  the stored Stripe customer, else a new one with `email` (default: the workspace's first
  active manager's e-mail).
* `portal_url(subscription, return_url) -> url`: a billing portal session for the stored
  customer (card, invoices, cancellation and, where the portal allows it, plan changes,
  pro-rated by Stripe).
* `change_plan(subscription, price)`: the Stripe subscription's item moved to the new price,
  `proration_behavior="create_prorations"`; the local plan follows with the
  `customer.subscription.updated` event, not before.

Every function raises `PaymentUnavailable` (a customer-safe message) when Stripe is not
configured, the price has no Stripe price id, there is no Stripe customer or subscription yet,
or Stripe refuses or does not answer. The API is STRIPE_API_BASE (default api.stripe.com; tests
point it at a local fake), calls time out after STRIPE_TIMEOUT_SECONDS. None of them commits.
"""
from __future__ import annotations

import logging

import stripe
from flask import current_app
from flask_babel import lazy_gettext as _l

from app.payments.exceptions import PaymentUnavailable

log = logging.getLogger(__name__)

NOT_CONFIGURED = _l("Card payments through Stripe are not available at the moment.")
NO_PRICE = _l("This plan cannot be paid by card through Stripe yet. Choose another way to pay.")
NO_CUSTOMER = _l("There is no card subscription to manage yet: pay by card first.")
REFUSED = _l("Stripe could not start the payment. Try again in a few minutes.")


def configured() -> bool:
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def _api_key() -> str:
    """The secret key, with the SDK pointed at STRIPE_API_BASE (module-wide, as the SDK
    reads it)."""
    key = current_app.config.get("STRIPE_SECRET_KEY")
    if not key:
        raise PaymentUnavailable(NOT_CONFIGURED, "STRIPE_SECRET_KEY is not set")
    base = (current_app.config.get("STRIPE_API_BASE") or "https://api.stripe.com").rstrip("/")
    timeout = float(current_app.config.get("STRIPE_TIMEOUT_SECONDS") or 20)
    if stripe.api_base != base:
        stripe.api_base = base
    client = stripe.default_http_client
    if getattr(client, "_relaydesk_timeout", None) != timeout:
        client = stripe.RequestsClient(timeout=timeout)
        client._relaydesk_timeout = timeout
        stripe.default_http_client = client
    stripe.max_network_retries = 1  # Stripe's own idempotency keys make a retry safe
    stripe.enable_telemetry = False
    return key


def _call(what: str, func, *args, **params):
    key = _api_key()
    try:
        return func(*args, api_key=key, **params)
    except stripe.StripeError as exc:
        # the SDK's text names the request, never the key; ids stay out of our log
        log.warning("stripe %s failed: %s (HTTP %s)", what, type(exc).__name__,
                    getattr(exc, "http_status", None))
        raise PaymentUnavailable(REFUSED, f"{what}: {type(exc).__name__}") from exc


def _metadata(subscription, price) -> dict[str, str]:
    return {"workspace_id": str(subscription.workspace_id), "plan_price_id": str(price.id)}


def manager_email(workspace_id: int) -> str | None:
    """The e-mail address of the workspace's first active manager (the paying customer)."""
    from app.extensions import db
    from app.models import WorkspaceMember

    user = current_app.appbuilder.sm.user_model
    row = (db.session.query(user.email)
           .join(WorkspaceMember, WorkspaceMember.user_id == user.id)
           .filter(WorkspaceMember.workspace_id == workspace_id,
                   WorkspaceMember.role == "manager", user.active.is_(True))
           .order_by(WorkspaceMember.id).first())
    return row[0] if row else None


def start_checkout(subscription, price, success_url: str, cancel_url: str,
                   email: str | None = None) -> str:
    """The URL of a Stripe Checkout page for `price`; see the module's contract."""
    _api_key()
    if not price.stripe_price_id:
        raise PaymentUnavailable(NO_PRICE, f"plan price {price.id} has no stripe_price_id")
    metadata = _metadata(subscription, price)
    params = {
        "mode": "subscription",
        "line_items": [{"price": price.stripe_price_id, "quantity": 1}],
        "client_reference_id": str(subscription.workspace_id),
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if subscription.stripe_customer_id:
        params["customer"] = subscription.stripe_customer_id
    else:
        email = email or manager_email(subscription.workspace_id)
        if email:
            params["customer_email"] = email
    session = _call("checkout session", stripe.checkout.Session.create, **params)
    log.info("stripe checkout started for workspace %s", subscription.workspace_id)
    return session.url


def portal_url(subscription, return_url: str) -> str:
    """The URL of the billing portal for the workspace's Stripe customer."""
    _api_key()
    if not subscription.stripe_customer_id:
        raise PaymentUnavailable(NO_CUSTOMER, "no stripe customer")
    session = _call("portal session", stripe.billing_portal.Session.create,
                    customer=subscription.stripe_customer_id, return_url=return_url)
    return session.url


def change_plan(subscription, price) -> None:
    """Move the Stripe subscription to `price`, pro-rated."""
    _api_key()
    if not price.stripe_price_id:
        raise PaymentUnavailable(NO_PRICE, f"plan price {price.id} has no stripe_price_id")
    if not subscription.stripe_subscription_id:
        raise PaymentUnavailable(NO_CUSTOMER, "no stripe subscription")
    current = _call("subscription read", stripe.Subscription.retrieve,
                    subscription.stripe_subscription_id)
    items = current["items"]["data"]
    if not items:
        raise PaymentUnavailable(REFUSED, "stripe subscription without items")
    _call("subscription change", stripe.Subscription.modify,
          subscription.stripe_subscription_id,
          items=[{"id": items[0]["id"], "price": price.stripe_price_id}],
          proration_behavior="create_prorations",
          metadata=_metadata(subscription, price))
    log.info("stripe plan change requested for workspace %s", subscription.workspace_id)
