"""What each Stripe event does (the webhook, app/webhooks/stripe.py, stores it first).

* `checkout.session.completed`: links the Stripe customer and subscription ids to the workspace
  named by `client_reference_id` (or the session's metadata); the payment method becomes
  `stripe`. It does not activate: the subscription becomes active on `invoice.paid`, which
  carries the amount and the period paid for (one path for the first payment and every renewal;
  a session that says `paid` is always followed by its `invoice.paid`).
* `invoice.paid`: a numbered paid invoice (once per Stripe invoice), activation for the
  invoice's period at the price its line names, the `invoice_paid` mail (events.record_payment).
  The workspace comes from the stored subscription id, else from the metadata Checkout put on
  the Stripe subscription (so it also works before `checkout.session.completed`).
* `invoice.payment_failed`: `past_due` (the workspace keeps working while Stripe retries).
* `customer.subscription.updated`: status, period, plan (from the price id) and
  `cancel_at_period_end`, unless an event created later was already applied.
* `customer.subscription.deleted`: `canceled`, the workspace suspended (events.cancel).
An event about another Stripe subscription than the workspace's current one is ignored.
Shapes: the API version the SDK pins (period and price on the subscription's items, the
invoice's subscription under `parent.subscription_details`), with the older places read too.
"""
from __future__ import annotations

from datetime import datetime

from app.models import PlanPrice, Subscription
from app.payments import events
from app.payments.events import APPLIED, IGNORED, RECORDED, UNHANDLED, UNKNOWN
from app.webhooks.intake import from_epoch

#: Stripe's subscription statuses in ours
STATUSES = {"active": "active", "trialing": "trialing", "past_due": "past_due",
            "unpaid": "past_due", "paused": "past_due", "incomplete": "pending_payment",
            "incomplete_expired": "canceled", "canceled": "canceled"}

Result = tuple[str, str, "int | None"]


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _id(value) -> str | None:
    """An id field, expanded (an object with `id`) or not."""
    if isinstance(value, dict):
        value = value.get("id")
    return value[:120] if isinstance(value, str) and value else None


def handle(event_type: str, obj: dict, created: datetime | None) -> Result:
    handler = HANDLERS.get(event_type)
    if handler is None:
        return UNHANDLED, "not an event type Relaydesk acts on", None
    return handler(obj, created)


def _subscription_of(subscription_id: str | None, metadata: dict,
                     reference=None) -> Subscription | None:
    found = events.find_by(Subscription.stripe_subscription_id, subscription_id)
    if found is not None:
        return found
    return events.subscription_for(events.workspace_id_of(reference, metadata.get("workspace_id")))


def _link(subscription: Subscription, customer_id: str | None,
          subscription_id: str | None) -> None:
    if customer_id:
        subscription.stripe_customer_id = customer_id
    if subscription_id and subscription.stripe_subscription_id != subscription_id:
        other = events.find_by(Subscription.stripe_subscription_id, subscription_id)
        if other is None:
            subscription.stripe_subscription_id = subscription_id


def checkout_completed(session: dict, created: datetime | None) -> Result:
    metadata = _dict(session.get("metadata"))
    subscription = _subscription_of(None, metadata, session.get("client_reference_id"))
    if subscription is None:
        return UNKNOWN, "no workspace with the session's reference", None
    _link(subscription, _id(session.get("customer")), _id(session.get("subscription")))
    if subscription.status != "active":
        subscription.payment_method = "stripe"
    return (APPLIED, "customer and subscription linked; active once the invoice is paid",
            subscription.workspace_id)


def _invoice_subscription(invoice: dict) -> tuple[str | None, dict]:
    details = _dict(_dict(invoice.get("parent")).get("subscription_details"))
    if details:
        return _id(details.get("subscription")), _dict(details.get("metadata"))
    old = _dict(invoice.get("subscription_details"))
    return _id(invoice.get("subscription")), _dict(old.get("metadata"))


def _line_price_and_period(invoice: dict) -> tuple[str | None, datetime | None, datetime | None]:
    lines = [_dict(item) for item in _list(_dict(invoice.get("lines")).get("data"))]
    line = next((item for item in lines if not _is_proration(item)), lines[0] if lines else {})
    price = _id(_dict(_dict(line.get("pricing")).get("price_details")).get("price")) \
        or _id(line.get("price"))
    period = _dict(line.get("period"))
    start = from_epoch(period.get("start")) or from_epoch(invoice.get("period_start"))
    end = from_epoch(period.get("end")) or from_epoch(invoice.get("period_end"))
    return price, start, end


def _is_proration(line: dict) -> bool:
    details = _dict(_dict(line.get("parent")).get("subscription_item_details"))
    return line.get("proration") is True or details.get("proration") is True


def _price(stripe_price_id: str | None, metadata: dict) -> PlanPrice | None:
    price = events.price_by(PlanPrice.stripe_price_id, stripe_price_id)
    if price is None:
        price_id = events.workspace_id_of(metadata.get("plan_price_id"))
        price = events.price_by(PlanPrice.id, price_id) if price_id else None
    return price


def invoice_paid(invoice: dict, created: datetime | None) -> Result:
    subscription_id, metadata = _invoice_subscription(invoice)
    subscription = _subscription_of(subscription_id, metadata)
    if subscription is None:
        return UNKNOWN, "no workspace for the invoice's subscription", None
    invoice_id = _id(invoice.get("id"))
    if invoice_id is None:
        return IGNORED, "an invoice without an id", subscription.workspace_id
    _link(subscription, _id(invoice.get("customer")), subscription_id)
    price_id, start, end = _line_price_and_period(invoice)
    amount = events.amount_of(invoice.get("amount_paid"))
    currency = invoice.get("currency")
    currency = currency.upper()[:3] if isinstance(currency, str) and currency else \
        subscription.currency
    _invoice, done = events.record_payment(
        subscription, created=created, method="stripe", amount_cents=amount, currency=currency,
        period=(start, end), price=_price(price_id, metadata), stripe_invoice_id=invoice_id)
    return (APPLIED if _invoice is not None else RECORDED), done, subscription.workspace_id


def payment_failed(invoice: dict, created: datetime | None) -> Result:
    subscription_id, metadata = _invoice_subscription(invoice)
    subscription = _subscription_of(subscription_id, metadata)
    if subscription is None:
        return UNKNOWN, "no workspace for the invoice's subscription", None
    if events.past_due(subscription, created):
        return APPLIED, "payment failed: past due", subscription.workspace_id
    return IGNORED, "older than the stored state", subscription.workspace_id


def _current(subscription_obj: dict) -> tuple[Subscription | None, str]:
    """The workspace's subscription the event is about, or None and why not."""
    subscription_id = _id(subscription_obj.get("id"))
    metadata = _dict(subscription_obj.get("metadata"))
    subscription = _subscription_of(subscription_id, metadata)
    if subscription is None:
        return None, UNKNOWN
    if subscription.stripe_subscription_id not in (None, subscription_id):
        return subscription, IGNORED
    return subscription, APPLIED


def subscription_updated(obj: dict, created: datetime | None) -> Result:
    subscription, verdict = _current(obj)
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    if verdict == IGNORED:
        return IGNORED, "about another Stripe subscription", subscription.workspace_id
    if not events.newer(subscription, created):
        return IGNORED, "older than the stored state", subscription.workspace_id
    status = STATUSES.get(obj.get("status"))
    if status is None:
        return IGNORED, "an unknown subscription status", subscription.workspace_id
    _link(subscription, _id(obj.get("customer")), _id(obj.get("id")))
    item = _dict((_list(_dict(obj.get("items")).get("data")) or [{}])[0])
    start = from_epoch(item.get("current_period_start") or obj.get("current_period_start"))
    end = from_epoch(item.get("current_period_end") or obj.get("current_period_end"))
    price = _price(_id(item.get("price")), _dict(obj.get("metadata")))
    if status == "canceled":
        events.cancel(subscription, created)
        return APPLIED, "canceled", subscription.workspace_id
    if status in ("active", "trialing"):
        changed = (subscription.status not in ("active", "trialing")
                   or (end and end != subscription.current_period_end)
                   or (price is not None and price.plan_id != subscription.plan_id))
        if changed:
            events.activate(subscription, start or subscription.current_period_start,
                            end or subscription.current_period_end, price, "stripe")
        subscription.status = status
    else:
        subscription.status = status
        if end:
            subscription.current_period_start, subscription.current_period_end = start, end
    subscription.cancel_at_period_end = obj.get("cancel_at_period_end") is True
    events.mark(subscription, created)
    return APPLIED, f"status {status}", subscription.workspace_id


def subscription_deleted(obj: dict, created: datetime | None) -> Result:
    subscription, verdict = _current(obj)
    if subscription is None:
        return UNKNOWN, "no workspace for the subscription", None
    if verdict == IGNORED:
        return IGNORED, "about another Stripe subscription", subscription.workspace_id
    # the end of a subscription is final, whatever the order it arrives in
    events.cancel(subscription, created)
    return APPLIED, "canceled; workspace suspended", subscription.workspace_id


HANDLERS = {
    "checkout.session.completed": checkout_completed,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": payment_failed,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
}
