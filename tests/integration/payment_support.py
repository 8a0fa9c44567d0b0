"""Shared set-up of the payment tests: a workspace on a paid plan with a Stripe price and a
Razorpay plan id, signed Stripe and Razorpay deliveries, and the mails queued."""
from __future__ import annotations

import hashlib
import hmac
import json
import time

import stripe
from rq import Queue

STRIPE_KEY = "sk_test_fake"
STRIPE_WHSEC = "whsec_test_relaydesk"
RAZORPAY_WHSEC = "razorpay-webhook-secret"
STRIPE_PRICE = "price_pro_month_usd"
RAZORPAY_PLAN = "plan_pro_month_inr"


def configure(app, monkeypatch, fake_stripe=None, fake_razorpay=None) -> None:
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", STRIPE_KEY)
    monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", STRIPE_WHSEC)
    monkeypatch.setitem(app.config, "RAZORPAY_KEY_ID", "rzp_test_fake")
    monkeypatch.setitem(app.config, "RAZORPAY_KEY_SECRET", "fake-secret")
    monkeypatch.setitem(app.config, "RAZORPAY_WEBHOOK_SECRET", RAZORPAY_WHSEC)
    if fake_stripe is not None:
        monkeypatch.setitem(app.config, "STRIPE_API_BASE", fake_stripe.url)
        fake_stripe.add_price(STRIPE_PRICE, amount=4900, currency="usd")
    if fake_razorpay is not None:
        monkeypatch.setitem(app.config, "RAZORPAY_API_BASE", fake_razorpay.url)
        fake_razorpay.add_plan(RAZORPAY_PLAN, amount=399900, currency="INR")


def pro_price(db, currency="USD"):
    """The default `pro` plan's monthly price, with its ids at both providers."""
    from app.models import Plan, PlanPrice
    from app.plans import ensure_default_plans

    ensure_default_plans()
    plan = db.session.query(Plan).filter_by(code="pro").one()
    price = next((p for p in plan.prices if p.interval == "month" and p.currency == currency),
                 None)
    if price is None:
        price = PlanPrice(plan=plan, currency=currency, interval="month", amount_cents=4900)
        db.session.add(price)
    price.stripe_price_id, price.razorpay_plan_id = STRIPE_PRICE, RAZORPAY_PLAN
    db.session.commit()
    return price


def waiting_workspace(db, factory, slug="acme", method="stripe"):
    """A workspace that chose `pro` and has not paid yet (status pending), with a manager."""
    from app import billing

    workspace = factory.workspace(slug)
    factory.member(workspace, f"{slug}-manager")
    price = pro_price(db)
    subscription = billing.choose_plan(workspace, price, method)
    db.session.commit()
    return workspace, subscription, price


def stripe_post(client, event: dict, *, secret: str = STRIPE_WHSEC, timestamp=None,
                header: str | None = None, body: str | None = None):
    body = json.dumps(event) if body is None else body
    if header is None:
        header = stripe.WebhookSignature.generate_signature_header(
            body, secret, timestamp=timestamp or int(time.time()))
    headers = {"Content-Type": "application/json"}
    if header:
        headers["Stripe-Signature"] = header
    return client.post("/webhooks/stripe", data=body.encode(), headers=headers)


def razorpay_post(client, event: dict, event_id: str, *, secret: str = RAZORPAY_WHSEC,
                  signature: str | None = None, body: str | None = None):
    body = json.dumps(event) if body is None else body
    if signature is None:
        signature = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Razorpay-Event-Id": event_id}
    if signature:
        headers["X-Razorpay-Signature"] = signature
    return client.post("/webhooks/razorpay", data=body.encode(), headers=headers)


def queued_mails(redis_conn, key="invoice_paid") -> list:
    jobs = Queue("default", connection=redis_conn).jobs
    return [job.args for job in jobs if job.args and job.args[0] == key]
