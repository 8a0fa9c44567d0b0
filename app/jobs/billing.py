"""The billing clock: expiry reminders and the expiry of unpaid periods.

`run_billing_clock(now=None)` runs every BILLING_CLOCK_SECONDS (queued by the worker's cron
thread through app/jobs/queues.py `enqueue_billing_clock`; one run per interval across the
fleet) and may be run at any moment, any number of times (tests pass `now`):

* **Reminders.** An active, manually paid subscription whose period ends within one of the
  REMINDER_DAYS thresholds (default 7 and 1 days) gets the `expiry_reminder` mail to the
  managers, once per threshold and period end. `reminder_sent_for` holds the moment of the
  latest threshold sent (period end − its days): a threshold is done when that moment is at or
  after its own and not after the period end; `activate` clears it for a new period. When the
  clock was not running for a while, only the nearest due threshold is sent (one mail, not a
  burst). Subscriptions paid by Stripe or Razorpay renew by themselves (their webhooks) and
  get no reminder; nor does one whose renewal payment already waits for approval.
* **Expiry.** A subscription whose period ended more than GRACE_DAYS ago and is not paid by
  a provider (status `active`, method `manual`), or is `past_due` whatever its method (a
  provider could not charge), becomes `expired`; its workspace is suspended with
  EXPIRED_REASON and the `workspace_suspended` mail (a workspace the master admin suspended
  for another reason keeps that reason). A paid renewal (approval, webhook, extension) resumes
  it (app/billing.py `activate`).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select

from app import billing
from app.billing_mail import BILLING_PATH, date_words, language_of, mail_managers, public_url
from app.extensions import db
from app.models import Subscription, Workspace
from app.models.base import utcnow
from app.tenancy import workspace_scope

log = logging.getLogger(__name__)


def reminder_days() -> list[int]:
    """REMINDER_DAYS as whole days, largest first (bad entries are ignored)."""
    raw = current_app.config.get("REMINDER_DAYS", "7,1")
    values = raw if isinstance(raw, (list, tuple)) else str(raw or "").split(",")
    days = set()
    for value in values:
        try:
            number = int(str(value).strip())
        except ValueError:
            continue
        if number > 0:
            days.add(number)
    return sorted(days, reverse=True)


def grace() -> timedelta:
    try:
        return timedelta(days=max(0, int(current_app.config.get("GRACE_DAYS") or 0)))
    except (TypeError, ValueError):
        return timedelta(0)


def due_threshold(subscription: Subscription, now: datetime, days: list[int]) -> int | None:
    """The threshold (days) whose reminder is due now and not yet sent, if any."""
    end = subscription.current_period_end
    if end is None or now >= end:
        return None
    sent = subscription.reminder_sent_for
    due = [d for d in days if now >= end - timedelta(days=d)
           and not (sent is not None and end - timedelta(days=d) <= sent <= end)]
    return min(due) if due else None


def send_reminders(now: datetime) -> int:
    days = reminder_days()
    if not days:
        return 0
    horizon = now + timedelta(days=max(days))
    rows = db.session.execute(
        select(Subscription).where(Subscription.status == "active",
                                   Subscription.payment_method == "manual",
                                   Subscription.current_period_end.isnot(None),
                                   Subscription.current_period_end > now,
                                   Subscription.current_period_end <= horizon)
        .order_by(Subscription.id)).scalars().all()
    sent = 0
    for subscription in rows:
        threshold = due_threshold(subscription, now, days)
        if threshold is None or billing.pending_submission(subscription.workspace_id):
            continue
        workspace = db.session.get(Workspace, subscription.workspace_id)
        end = subscription.current_period_end
        left = max(1, -(-int((end - now).total_seconds()) // 86400))  # whole days, rounded up
        mail_managers(workspace, "expiry_reminder", plan=subscription.plan.name,
                      period_end=date_words(end, language_of(workspace)), days=left,
                      link=public_url(BILLING_PATH))
        subscription.reminder_sent_for = end - timedelta(days=threshold)
        db.session.commit()
        sent += 1
    return sent


def expire_unpaid(now: datetime) -> int:
    cutoff = now - grace()
    rows = db.session.execute(
        select(Subscription).where(
            Subscription.current_period_end.isnot(None),
            Subscription.current_period_end <= cutoff,
            or_(Subscription.status == "past_due",
                (Subscription.status == "active") & (Subscription.payment_method == "manual")))
        .order_by(Subscription.id)).scalars().all()
    for subscription in rows:
        subscription.status = "expired"
        workspace = db.session.get(Workspace, subscription.workspace_id)
        if workspace.status != "suspended":
            billing.suspend_workspace(workspace, billing.EXPIRED_REASON)
        db.session.commit()
        log.info("subscription %s of workspace %s expired", subscription.id, workspace.id)
    return len(rows)


def run_billing_clock(now: datetime | None = None) -> dict:
    """The job: reminders, then expiries; returns how many of each."""
    now = now or utcnow()
    with workspace_scope(None):
        try:
            return {"reminders": send_reminders(now), "expired": expire_unpaid(now)}
        finally:
            db.session.rollback()
