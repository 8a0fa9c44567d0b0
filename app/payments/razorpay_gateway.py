"""Razorpay: a hosted subscription page, and the webhook signature.

Contract
--------
* `configured()`: whether RAZORPAY_KEY_ID and RAZORPAY_KEY_SECRET are set.
* `start_subscription(subscription, price) -> short_url`: `POST /v1/subscriptions` with
  `plan_id = price.razorpay_plan_id`, `total_count` (TOTAL_COUNT: ten years of monthly or
  yearly charges, Razorpay needs an end), `customer_notify: 1` and `notes: {workspace_id,
  plan_price_id}`; the Razorpay subscription id is stored on `subscription` (its webhooks find
  the workspace by it, or by the notes). The customer pays on the returned hosted page.
* `signature_valid(body, signature)`: `X-Razorpay-Signature` checked with the SDK's
  `utility.verify_webhook_signature` (hex HMAC-SHA256 of the raw body with
  RAZORPAY_WEBHOOK_SECRET, compared in constant time); False when the secret is unset.

`PaymentUnavailable` (customer-safe message) when Razorpay is not configured, the price has no
Razorpay plan id, or Razorpay refuses or does not answer. The API is RAZORPAY_API_BASE (tests
point it at a local fake), calls time out after RAZORPAY_TIMEOUT_SECONDS. Nothing commits.
"""
from __future__ import annotations

import logging

import razorpay
import requests
from flask import current_app
from flask_babel import lazy_gettext as _l
from razorpay.errors import SignatureVerificationError

from app.payments.exceptions import PaymentUnavailable

log = logging.getLogger(__name__)

NOT_CONFIGURED = _l("Payments through Razorpay are not available at the moment.")
NO_PLAN = _l("This plan cannot be paid through Razorpay yet. Choose another way to pay.")
REFUSED = _l("Razorpay could not start the payment. Try again in a few minutes.")

#: how many charges a subscription runs for (Razorpay requires a count)
TOTAL_COUNT = {"month": 120, "year": 10}


def configured() -> bool:
    config = current_app.config
    return bool(config.get("RAZORPAY_KEY_ID") and config.get("RAZORPAY_KEY_SECRET"))


def client() -> razorpay.Client:
    if not configured():
        raise PaymentUnavailable(NOT_CONFIGURED, "RAZORPAY_KEY_ID/RAZORPAY_KEY_SECRET not set")
    config = current_app.config
    base = (config.get("RAZORPAY_API_BASE") or "https://api.razorpay.com").rstrip("/")
    return razorpay.Client(auth=(config["RAZORPAY_KEY_ID"], config["RAZORPAY_KEY_SECRET"]),
                           base_url=base)


def start_subscription(subscription, price) -> str:
    """The hosted payment page (`short_url`) of a new Razorpay subscription for `price`."""
    api = client()
    if not price.razorpay_plan_id:
        raise PaymentUnavailable(NO_PLAN, f"plan price {price.id} has no razorpay_plan_id")
    data = {"plan_id": price.razorpay_plan_id,
            "total_count": TOTAL_COUNT.get(price.interval, 120),
            "customer_notify": 1,
            "notes": {"workspace_id": str(subscription.workspace_id),
                      "plan_price_id": str(price.id)}}
    timeout = float(current_app.config.get("RAZORPAY_TIMEOUT_SECONDS") or 20)
    try:
        created = api.subscription.create(data, timeout=timeout)
    except (razorpay.errors.BadRequestError, razorpay.errors.GatewayError,
            razorpay.errors.ServerError, requests.RequestException, ValueError) as exc:
        log.warning("razorpay subscription for workspace %s failed: %s",
                    subscription.workspace_id, type(exc).__name__)
        raise PaymentUnavailable(REFUSED, type(exc).__name__) from exc
    if not isinstance(created, dict) or not created.get("id") or not created.get("short_url"):
        raise PaymentUnavailable(REFUSED, "razorpay answer without id or short_url")
    subscription.razorpay_subscription_id = str(created["id"])[:120]
    log.info("razorpay subscription started for workspace %s", subscription.workspace_id)
    return created["short_url"]


def signature_valid(body: bytes, signature: str) -> bool:
    secret = current_app.config.get("RAZORPAY_WEBHOOK_SECRET") or ""
    if not secret or not signature:
        return False
    try:
        text = body.decode("utf-8")
        # the utility only needs no client credentials for this check
        return bool(razorpay.Client(auth=("", "")).utility.verify_webhook_signature(
            text, signature, secret))
    except (SignatureVerificationError, UnicodeDecodeError, TypeError):
        return False  # TypeError: a signature with non-ASCII characters
