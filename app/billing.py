"""Subscriptions, invoices and suspension: every change of a workspace's billing state.

Contract
--------
Everything that changes billing state goes through these functions: screens, the REST API,
the sign-up journey, the payment webhooks (app/payments/) and the expiry job. None of them
commits; the caller owns the transaction.

* `subscription_of(workspace)`: its subscription (one per workspace) or None.
* `choose_plan(workspace, price, method)`: the subscription for `price` (a `PlanPrice`), made
  or changed in place. A price of 0 (the free plan) needs no payment: active at once, no end.
  Otherwise the subscription waits (`pending_payment`) and a workspace that never had an active
  subscription waits with it (`workspace.status == "pending"`); a paying workspace changing plan
  keeps working on its current plan until the new one is paid.
* `activate(subscription, start=, end=)`: paid for [start, end): status `active`, the period set,
  the reminder re-armed, the workspace `active` (unless the master admin suspended it for
  another reason than expiry: see `resume`).
* `period_end(start, interval, count=1)`: a month or year later (the last day of a shorter
  month when the day does not exist: 31 Jan + 1 month = 28/29 Feb).
* `issue_invoice(subscription, ...)`: a numbered invoice (`next_invoice_number`: PREFIX-YYYY-NNNNN,
  one counter per year, taken under a row lock, never reused).
* `suspend(workspace, reason)` / `resume(workspace)`: the workspace's status; its data is kept.
"""
from __future__ import annotations

import calendar
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import Invoice, InvoiceCounter, Plan, PlanPrice, Subscription, Workspace
from app.models.base import utcnow

#: the suspension reason the expiry job writes (the master admin's own reasons are free text)
EXPIRED_REASON = "expired"


def subscription_of(workspace) -> Subscription | None:
    workspace_id = workspace if isinstance(workspace, int) else workspace.id
    return db.session.execute(
        select(Subscription).where(Subscription.workspace_id == workspace_id)
    ).scalar_one_or_none()


def period_end(start: datetime, interval: str, count: int = 1) -> datetime:
    """`count` months or years after `start`, the day clamped to the target month's length."""
    months = count * (12 if interval == "year" else 1)
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def choose_plan(workspace: Workspace, price: PlanPrice, method: str) -> Subscription:
    """The workspace's subscription for `price`, paid by `method` (`manual`, `stripe`,
    `razorpay`; ignored for a free price). An active paid subscription keeps its plan and price
    until the new one is paid: the payment (an approval, a provider's webhook) calls
    `activate(..., price=price)`."""
    subscription = subscription_of(workspace)
    if subscription is None:
        subscription = Subscription(workspace_id=workspace.id, plan_id=price.plan_id,
                                    status="pending_payment")
        db.session.add(subscription)
    elif subscription.status == "active" and price.amount_cents:
        return subscription
    if not price.amount_cents:
        subscription.payment_method = "free"
        activate(subscription, start=utcnow(), end=None, price=price)
        return subscription
    set_price(subscription, price)
    subscription.payment_method = method
    subscription.status = "pending_payment"
    workspace.plan_id = price.plan_id
    if workspace.status == "active" and not _ever_paid(workspace):
        workspace.status = "pending"
    return subscription


def set_price(subscription: Subscription, price: PlanPrice) -> None:
    subscription.plan_id = price.plan_id
    subscription.interval = price.interval
    subscription.amount_cents = price.amount_cents
    subscription.currency = price.currency


def _ever_paid(workspace) -> bool:
    return db.session.execute(
        select(Invoice.id).where(Invoice.workspace_id == workspace.id,
                                 Invoice.status == "paid").limit(1)
    ).first() is not None


def activate(subscription: Subscription, *, start: datetime | None,
             end: datetime | None, price: PlanPrice | None = None) -> None:
    """Paid (or free) for [start, end) (end None: no end), at `price` when it changes."""
    if price is not None:
        set_price(subscription, price)
    subscription.status = "active"
    subscription.current_period_start = start
    subscription.current_period_end = end
    subscription.reminder_sent_for = None
    workspace = subscription.workspace or db.session.get(Workspace, subscription.workspace_id)
    workspace.plan_id = subscription.plan_id
    if workspace.status == "pending" or (
            workspace.status == "suspended" and workspace.suspended_reason == EXPIRED_REASON):
        resume(workspace)


def next_invoice_number(now: datetime | None = None) -> str:
    """PREFIX-YYYY-NNNNN: the year's counter row is locked until the caller's transaction
    ends, so two payments never get the same number (made on first use of a year)."""
    year = (now or utcnow()).year
    counter = db.session.execute(
        select(InvoiceCounter).where(InvoiceCounter.year == year).with_for_update()
    ).scalar_one_or_none()
    if counter is None:
        counter = InvoiceCounter(year=year, last_number=0)
        db.session.add(counter)
    counter.last_number += 1
    db.session.flush([counter])
    prefix = current_app.config.get("INVOICE_PREFIX") or "RD"
    return f"{prefix}-{year}-{counter.last_number:05d}"


def issue_invoice(subscription: Subscription, *, amount_cents: int, currency: str,
                  method: str, status: str = "paid", reference: str | None = None,
                  period: tuple[datetime | None, datetime | None] = (None, None),
                  plan: Plan | None = None, description: str | None = None,
                  stripe_invoice_id: str | None = None,
                  razorpay_payment_id: str | None = None) -> Invoice:
    now = utcnow()
    plan = plan or subscription.plan or db.session.get(Plan, subscription.plan_id)
    invoice = Invoice(
        workspace_id=subscription.workspace_id, subscription_id=subscription.id,
        number=next_invoice_number(now), plan_id=plan.id if plan else None,
        description=description or (plan.name if plan else None),
        amount_cents=amount_cents, currency=currency, status=status, payment_method=method,
        payment_reference=reference, period_start=period[0], period_end=period[1],
        stripe_invoice_id=stripe_invoice_id, razorpay_payment_id=razorpay_payment_id,
        issued_at=now, paid_at=now if status == "paid" else None)
    db.session.add(invoice)
    return invoice


def suspend(workspace: Workspace, reason: str) -> None:
    workspace.status = "suspended"
    workspace.suspended_reason = reason


def resume(workspace: Workspace) -> None:
    workspace.status = "active"
    workspace.suspended_reason = None
