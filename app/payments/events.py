"""A payment provider's webhook event stored once, and the billing changes both providers share.

Contract
--------
* `store_event(provider, event_id, event_type, created)`: the new `PaymentEvent` row, or None
  when that (provider, event id) is already stored (a repeated delivery: the caller answers
  200 and does nothing). The row is inserted in a SAVEPOINT: the UNIQUE constraint decides, so
  two concurrent deliveries of one event cannot both pass.
* `accept(provider, event_id, event_type, created, run)`: the whole handling of one event in
  one transaction, committed: stored (False when a duplicate: nothing else happens), then
  `run()` → (outcome, detail, workspace id) applied in a SAVEPOINT; an event whose content
  cannot be read is kept with outcome `malformed` and its partial changes undone.
* `finish(event, outcome, detail, workspace_id)`: what was done (`OUTCOMES`), in words without
  any payment id.
* `newer(subscription, created)` / `mark(subscription, created)`: the out-of-order rule. Stripe
  and Razorpay do not keep order; a subscription *state* (status, period, plan) from an event
  created before `subscription.provider_event_at` is ignored, and applying one moves
  `provider_event_at` forward (never back).
* `record_payment(...)`: a payment is never lost, whatever its order: the numbered paid invoice
  is issued once per provider payment (Stripe invoice id, Razorpay payment id; a repeat with
  another event id finds it), the managers get the `invoice_paid` mail, and the subscription is
  activated for the paid period when the event is newer than the state or the period ends later
  than the stored one (a payment that arrives late still extends), unless a newer cancellation
  stands.
* `cancel(subscription, created)`: `canceled`; a workspace that was working is suspended with
  `canceled_reason()` (a sentence in the workspace's language); a later payment resumes it.
None of them commits.
"""
from __future__ import annotations

import logging
from datetime import datetime

from flask import current_app, url_for
from flask_babel import force_locale, lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from app import billing
from app.extensions import db
from app.mail_templates import queue_mail
from app.models import Invoice, PaymentEvent, PlanPrice, Subscription, Workspace
from app.models.base import utcnow

log = logging.getLogger(__name__)

#: PaymentEvent.outcome values
APPLIED, RECORDED, IGNORED, UNKNOWN, UNHANDLED, MALFORMED = (
    "applied", "recorded", "ignored", "unknown_workspace", "unhandled", "malformed")
OUTCOMES = (APPLIED, RECORDED, IGNORED, UNKNOWN, UNHANDLED, MALFORMED)

CANCELED_REASON = _l("The card subscription was canceled. Choose a plan and pay to resume.")


def store_event(provider: str, event_id: str, event_type: str,
                created: datetime | None) -> PaymentEvent | None:
    if db.session.execute(select(PaymentEvent.id).where(
            PaymentEvent.provider == provider, PaymentEvent.event_id == event_id)).first():
        return None
    row = PaymentEvent(provider=provider, event_id=event_id, event_type=event_type[:120],
                       created=created, received_at=utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # the same event delivered twice at once: the other one has it
        return None
    return row


def accept(provider: str, event_id: str, event_type: str, created: datetime | None,
           run) -> bool:
    event = store_event(provider, event_id, event_type, created)
    if event is None:
        db.session.rollback()
        return False
    try:
        with db.session.begin_nested():
            outcome, detail, workspace_id = run()
    except (ValueError, TypeError, KeyError, AttributeError, LookupError, DataError) as exc:
        # the signature was right but the content is not what the provider documents
        log.warning("%s event %s could not be applied: %s", provider, event_type,
                    type(exc).__name__)
        outcome, detail, workspace_id = MALFORMED, "the event's content could not be read", None
    finish(event, outcome, detail, workspace_id)
    db.session.commit()
    return True


def answer(provider: str, event_id: str, event_type: str, created: datetime | None, run):
    """The webhook's answer to a verified event: 200 once it is stored and applied (or was
    already), 503 with Retry-After when another delivery of the same payment is being applied
    at this very moment (the provider delivers it again)."""
    from app.webhooks.http import ack, unavailable

    try:
        accept(provider, event_id, event_type, created, run)
    except IntegrityError:
        db.session.rollback()
        return unavailable()
    return ack()


def finish(event: PaymentEvent, outcome: str, detail: str = "",
           workspace_id: int | None = None) -> None:
    event.outcome = outcome
    event.detail = detail[:1000] or None
    event.processed_at = utcnow()
    if workspace_id is not None and db.session.get(Workspace, workspace_id) is not None:
        event.workspace_id = workspace_id
    log.info("%s event %s: %s", event.provider, event.event_type, outcome)


def workspace_id_of(*values) -> int | None:
    """The first value that is a workspace id (a positive integer or its digits)."""
    for value in values:
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and value > 0:
            return value
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 12:
            return int(value.strip())
    return None


def subscription_for(workspace_id: int | None) -> Subscription | None:
    """The workspace's subscription, made (waiting for payment) when the workspace has none."""
    if workspace_id is None:
        return None
    workspace = db.session.get(Workspace, workspace_id)
    if workspace is None:
        return None
    subscription = billing.subscription_of(workspace)
    if subscription is None and workspace.plan_id is not None:
        subscription = Subscription(workspace_id=workspace.id, plan_id=workspace.plan_id,
                                    status="pending_payment")
        db.session.add(subscription)
        db.session.flush([subscription])
    return subscription


def find_by(column, value) -> Subscription | None:
    if not value:
        return None
    return db.session.execute(select(Subscription).where(column == value)).scalar_one_or_none()


def price_by(column, value) -> PlanPrice | None:
    if not value:
        return None
    return db.session.execute(
        select(PlanPrice).where(column == value).order_by(PlanPrice.id).limit(1)
    ).scalar_one_or_none()


#: the largest amount an invoice column holds (PostgreSQL integer)
MAX_AMOUNT = 2**31 - 1


def amount_of(value) -> int:
    """A provider's amount in minor units: not a whole number → 0 (nothing known); a negative
    one or one no invoice column holds → ValueError (the event is kept as `malformed`)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    if not 0 <= value <= MAX_AMOUNT:
        raise ValueError("amount out of range")
    return value


def newer(subscription: Subscription, created: datetime | None) -> bool:
    stored = subscription.provider_event_at
    return created is None or stored is None or created >= stored


def mark(subscription: Subscription, created: datetime | None) -> None:
    if created is not None and (subscription.provider_event_at is None
                                or created > subscription.provider_event_at):
        subscription.provider_event_at = created


def canceled_reason(language: str | None) -> str:
    with force_locale(language or "en"):
        return str(CANCELED_REASON)


def _is_canceled_reason(reason: str | None) -> bool:
    if not reason:
        return False
    languages = current_app.config.get("LANGUAGES") or {"en": {}}
    return any(reason == canceled_reason(language) for language in (*languages, "en"))


def activate(subscription: Subscription, start: datetime | None, end: datetime | None,
             price: PlanPrice | None, method: str) -> None:
    """Active for [start, end) at `price` (None: the current one); a workspace suspended by a
    provider's cancellation works again."""
    workspace = subscription.workspace or db.session.get(Workspace, subscription.workspace_id)
    if workspace.status == "suspended" and _is_canceled_reason(workspace.suspended_reason):
        billing.resume(workspace)
    subscription.payment_method = method
    billing.activate(subscription, start=start or utcnow(), end=end, price=price)


def record_payment(subscription: Subscription, *, created: datetime | None, method: str,
                   amount_cents: int, currency: str, period: tuple, price: PlanPrice | None,
                   stripe_invoice_id: str | None = None,
                   razorpay_payment_id: str | None = None) -> tuple[Invoice | None, str]:
    """The paid invoice (None when this payment already has one) and what was done."""
    column, value = ((Invoice.stripe_invoice_id, stripe_invoice_id) if stripe_invoice_id
                     else (Invoice.razorpay_payment_id, razorpay_payment_id))
    if db.session.execute(select(Invoice.id).where(column == value)).first():
        return None, "this payment already has its invoice"
    start, end = period
    is_newer = newer(subscription, created)
    extends = end is not None and (subscription.current_period_end is None
                                   or end > subscription.current_period_end)
    plan = price.plan if price is not None else None
    invoice = billing.issue_invoice(
        subscription, amount_cents=amount_cents, currency=currency, method=method,
        period=period, plan=plan, stripe_invoice_id=stripe_invoice_id,
        razorpay_payment_id=razorpay_payment_id)
    db.session.flush([invoice])
    if subscription.status == "canceled" and not is_newer:
        done = "invoice issued; a newer cancellation stands"
    elif is_newer or extends or subscription.status != "active":
        activate(subscription, start, end, price, method)
        mark(subscription, created)
        done = "invoice issued, subscription active"
    else:
        done = "invoice issued; the stored period is already later"
    mail_invoice_paid(invoice)
    return invoice, done


def cancel(subscription: Subscription, created: datetime | None) -> None:
    subscription.status = "canceled"
    subscription.cancel_at_period_end = False
    mark(subscription, created)
    workspace = subscription.workspace or db.session.get(Workspace, subscription.workspace_id)
    if workspace.status == "active":
        billing.suspend(workspace, canceled_reason(workspace.language))


def past_due(subscription: Subscription, created: datetime | None) -> bool:
    """`past_due` unless a newer state is stored or the subscription ended (True: applied)."""
    if not newer(subscription, created) or subscription.status == "canceled":
        return False
    subscription.status = "past_due"
    mark(subscription, created)
    return True


def mail_invoice_paid(invoice: Invoice) -> None:
    """The `invoice_paid` mail to each active manager, in the workspace's language."""
    from app.models import WorkspaceMember

    workspace = db.session.get(Workspace, invoice.workspace_id)
    user = current_app.appbuilder.sm.user_model
    rows = (db.session.query(user.email, user.first_name, user.last_name)
            .join(WorkspaceMember, WorkspaceMember.user_id == user.id)
            .filter(WorkspaceMember.workspace_id == workspace.id,
                    WorkspaceMember.role == "manager", user.active.is_(True)).all())
    base = (current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    link = f"{base}{url_for('InvoiceView.show', pk=invoice.id)}"
    for email, first, last in rows:
        if email:
            queue_mail("invoice_paid", email, workspace.language,
                       name=" ".join(p for p in (first, last) if p) or email,
                       workspace=workspace.name, invoice=invoice.number,
                       amount=invoice.amount_text(), link=link)
