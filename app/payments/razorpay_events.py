"""What each Razorpay event does (the webhook, app/webhooks/razorpay.py, stores it first).

The workspace comes from the stored Razorpay subscription id, else from the subscription's
`notes.workspace_id` (set by razorpay_gateway.start_subscription).

* `subscription.activated`: linked and active for `current_start`..`current_end` at the price
  whose `razorpay_plan_id` is the subscription's `plan_id` (unless a newer state is stored).
* `subscription.charged`: a numbered paid invoice once per Razorpay payment id
  (`payload.payment.entity`), activation for the charged period, the `invoice_paid` mail
  (events.record_payment: never lost, whatever the order).
* `subscription.halted`: `past_due` (Razorpay stopped retrying the card).
* `subscription.cancelled`: `canceled`, the workspace suspended (events.cancel).
* `payment.failed`: `past_due` when the payment names a subscription Relaydesk knows (its
  `subscription_id`, or `notes.workspace_id`); other failed payments are stored, not acted on.
"""
from __future__ import annotations

from datetime import datetime

from app.models import PlanPrice, Subscription
from app.payments import events
from app.payments.events import APPLIED, IGNORED, RECORDED, UNHANDLED, UNKNOWN
from app.webhooks.intake import from_epoch

Result = tuple[str, str, "int | None"]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _str(value) -> str | None:
    return value[:120] if isinstance(value, str) and value else None


def _entity(payload: dict, name: str) -> dict:
    return _dict(_dict(_dict(payload.get("payload")).get(name)).get("entity"))


def handle(event_type: str, payload: dict, created: datetime | None) -> Result:
    handler = HANDLERS.get(event_type)
    if handler is None:
        return UNHANDLED, "not an event type Relaydesk acts on", None
    return handler(payload, created)


def _subscription(entity: dict) -> Subscription | None:
    found = events.find_by(Subscription.razorpay_subscription_id, _str(entity.get("id")))
    if found is None:
        found = events.subscription_for(
            events.workspace_id_of(_dict(entity.get("notes")).get("workspace_id")))
        if found is not None and _str(entity.get("id")) and events.find_by(
                Subscription.razorpay_subscription_id, _str(entity.get("id"))) is None:
            found.razorpay_subscription_id = _str(entity.get("id"))
    return found


def _price(entity: dict) -> PlanPrice | None:
    price = events.price_by(PlanPrice.razorpay_plan_id, _str(entity.get("plan_id")))
    if price is None:
        price_id = events.workspace_id_of(_dict(entity.get("notes")).get("plan_price_id"))
        price = events.price_by(PlanPrice.id, price_id) if price_id else None
    return price


def _period(entity: dict) -> tuple[datetime | None, datetime | None]:
    return from_epoch(entity.get("current_start")), from_epoch(entity.get("current_end"))


def activated(payload: dict, created: datetime | None) -> Result:
    entity = _entity(payload, "subscription")
    subscription = _subscription(entity)
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    if not events.newer(subscription, created):
        return IGNORED, "older than the stored state", subscription.workspace_id
    start, end = _period(entity)
    events.activate(subscription, start, end, _price(entity), "razorpay")
    events.mark(subscription, created)
    return APPLIED, "active", subscription.workspace_id


def charged(payload: dict, created: datetime | None) -> Result:
    entity = _entity(payload, "subscription")
    payment = _entity(payload, "payment")
    subscription = _subscription(entity)
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    payment_id = _str(payment.get("id"))
    if payment_id is None:
        return IGNORED, "a charge without its payment", subscription.workspace_id
    amount = events.amount_of(payment.get("amount"))
    currency = _str(payment.get("currency"))
    invoice, done = events.record_payment(
        subscription, created=created, method="razorpay", amount_cents=amount,
        currency=currency.upper()[:3] if currency else subscription.currency,
        period=_period(entity), price=_price(entity), razorpay_payment_id=payment_id)
    return (APPLIED if invoice is not None else RECORDED), done, subscription.workspace_id


def halted(payload: dict, created: datetime | None) -> Result:
    subscription = _subscription(_entity(payload, "subscription"))
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    if events.past_due(subscription, created):
        return APPLIED, "halted: past due", subscription.workspace_id
    return IGNORED, "older than the stored state", subscription.workspace_id


def cancelled(payload: dict, created: datetime | None) -> Result:
    entity = _entity(payload, "subscription")
    subscription = _subscription(entity)
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    if subscription.razorpay_subscription_id not in (None, _str(entity.get("id"))):
        return IGNORED, "about another Razorpay subscription", subscription.workspace_id
    events.cancel(subscription, created)
    return APPLIED, "canceled; workspace suspended", subscription.workspace_id


def payment_failed(payload: dict, created: datetime | None) -> Result:
    payment = _entity(payload, "payment")
    subscription = events.find_by(Subscription.razorpay_subscription_id,
                                  _str(payment.get("subscription_id")))
    if subscription is None:
        subscription = events.subscription_for(
            events.workspace_id_of(_dict(payment.get("notes")).get("workspace_id")))
    if subscription is None:
        return UNKNOWN, "not a payment of a Razorpay subscription Relaydesk knows", None
    if events.past_due(subscription, created):
        return APPLIED, "payment failed: past due", subscription.workspace_id
    return IGNORED, "older than the stored state", subscription.workspace_id


HANDLERS = {
    "subscription.activated": activated,
    "subscription.charged": charged,
    "subscription.halted": halted,
    "subscription.cancelled": cancelled,
    "payment.failed": payment_failed,
}
