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

The manual payment lifecycle and the master admin's changes (each returns an `Outcome`: whether
it changed anything and a sentence for the person; each is safe to call twice — the second call
changes nothing and says so). Refusals raise `BillingRefused` (a `FieldErrors`: `{field:
[message]}`, the field being the form input to show it beside).

* `submit_payment(workspace, price=, method=, amount_cents=, currency=, reference=, note=,
  by_user=)`: a customer's "I paid" → a pending `PaymentSubmission`; the subscription waits for
  approval (`pending_approval`) unless it is active (a renewal: it keeps working meanwhile);
  mail `payment_received` to the managers.
* `approve_submission(submission, by_user, note)`: a numbered paid invoice (method manual, the
  reference), the submission's plan and price applied, paid for one interval from
  max(now, current period end) (a renewal extends the running period); mail
  `payment_approved` with the invoice's PDF link.
* `reject_submission(submission, by_user, note)`: the note is required; the subscription goes
  back to `pending_payment` (an active one stays active); mail `payment_rejected`.
* `extend(subscription, intervals=, unit=, until=)`, `change_plan(subscription, price)`: the
  master admin's, immediate, no invoice.
* `suspend_workspace(workspace, reason)` / `resume_workspace(workspace)`: with the
  `workspace_suspended` / `workspace_resumed` mails.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from app.billing_mail import (BILLING_PATH, PAY_PATH, date_words, invoice_pdf_path,
                              language_of, mail_managers, public_url, translated)
from app.extensions import db
from app.models import (Invoice, InvoiceCounter, PaymentMethod, PaymentSubmission, Plan,
                        PlanPrice, Subscription, Workspace)
from app.models.base import utcnow
from app.money import money_text
from app.validation import FieldErrors

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


# --- the manual payment lifecycle and the master admin's changes ------------------------------

#: the longest payment reference kept (PaymentSubmission.reference, Invoice.payment_reference)
REFERENCE_MAX = 200
#: how many months or years one extension may add at most
EXTEND_MAX = 120


def N_(text: str) -> str:  # noqa: N802 - the gettext no-op marker (translated when written)
    return text


#: the suspension reason EXPIRED_REASON stands for, in words (banner, mails, screens)
EXPIRED_WORDS = N_("The subscription's paid period ended without a renewal.")


class BillingRefused(FieldErrors):
    """A billing change refused: `{input name: [message]}` (shown beside that input)."""


@dataclass(frozen=True)
class Outcome:
    changed: bool
    message: str  # what happened, for the person who asked
    invoice: Invoice | None = None


def reason_words(reason: str | None) -> str:
    """A suspension reason as the reader reads it: EXPIRED_REASON in words, any other (the
    master admin's free text) as written."""
    if reason == EXPIRED_REASON:
        from flask_babel import gettext

        return gettext(EXPIRED_WORDS)
    return reason or ""


def reader_date(moment: datetime | None) -> str:
    """A date in the language of the person reading the page (English outside a request)."""
    from flask import has_request_context
    from flask_babel import get_locale

    return date_words(moment, str(get_locale() or "en") if has_request_context() else "en")


def pending_submission(workspace_id: int) -> PaymentSubmission | None:
    return db.session.execute(
        select(PaymentSubmission).where(PaymentSubmission.workspace_id == workspace_id,
                                        PaymentSubmission.status == "pending")
        .order_by(PaymentSubmission.id.desc()).limit(1)
    ).scalar_one_or_none()


def reference_used_before(submission: PaymentSubmission) -> list[PaymentSubmission]:
    """Other submissions (any workspace) with the same reference, compared without regard to
    case or surrounding spaces: the master admin is warned before approving."""
    from sqlalchemy import func

    return list(db.session.execute(
        select(PaymentSubmission)
        .where(func.lower(func.trim(PaymentSubmission.reference))
               == submission.reference.strip().lower(),
               PaymentSubmission.id != submission.id)
        .order_by(PaymentSubmission.id)
    ).scalars())


def _submission_problems(workspace, price, method, amount_cents, currency,
                         reference) -> dict[str, list]:
    problems: dict[str, list] = {}
    if price is None or not price.amount_cents:
        problems["price"] = [_l("Choose a plan with a price: a free plan needs no payment.")]
    if method is None or not method.active:
        problems["payment_method"] = [_l("Choose one of the payment methods offered.")]
    elif currency and not method.takes(currency):
        problems["currency"] = [_l("%(method)s does not take %(currency)s: it takes "
                                   "%(currencies)s.", method=method.name, currency=currency,
                                   currencies=", ".join(method.currency_list))]
    if price is not None and currency and currency != price.currency:
        problems.setdefault("currency", []).append(
            _l("The plan's price is in %(currency)s: pay in that currency.",
               currency=price.currency))
    if amount_cents is None or amount_cents <= 0:
        problems["amount"] = [_l("Enter the amount you paid: more than zero.")]
    if not reference:
        problems["reference"] = [_l("Enter the payment's reference (the transaction id your "
                                    "bank or wallet gave you).")]
    elif len(reference) > REFERENCE_MAX:
        problems["reference"] = [_l("At most %(count)d characters.", count=REFERENCE_MAX)]
    if workspace is not None and pending_submission(workspace.id) is not None:
        problems["submission"] = [_l("A payment of this workspace already waits for approval: "
                                     "wait for the answer before sending another.")]
    return problems


def submit_payment(workspace: Workspace, *, price: PlanPrice, method: PaymentMethod | None,
                   amount_cents: int | None, currency: str | None, reference: str | None,
                   note: str | None = None, by_user=None) -> PaymentSubmission:
    """Record a customer's manual payment for `price`, to be approved by the master admin.

    :raise BillingRefused: a blank or overlong reference (`reference`), an amount not above
        zero (`amount`), an inactive or missing method (`payment_method`), a currency the
        method does not take or that is not the price's (`currency`), a price of nothing
        (`price`), or another submission of the workspace still pending (`submission`)."""
    reference = (reference or "").strip()
    currency = (currency or "").strip().upper() or (price.currency if price else "")
    problems = _submission_problems(workspace, price, method, amount_cents, currency,
                                    reference)
    if problems:
        raise BillingRefused(problems)
    subscription = subscription_of(workspace)
    if subscription is None or subscription.status != "active":
        subscription = choose_plan(workspace, price, "manual")
        subscription.status = "pending_approval"
    db.session.flush([subscription])
    submission = PaymentSubmission(
        workspace_id=workspace.id, subscription_id=subscription.id,
        payment_method_id=method.id, plan_id=price.plan_id, interval=price.interval,
        amount_cents=amount_cents, currency=currency, reference=reference,
        customer_note=(note or "").strip() or None, status="pending")
    db.session.add(submission)
    mail_managers(workspace, "payment_received", amount=money_text(amount_cents, currency),
                  reference=reference)
    current_app.logger.info("payment reference submitted for workspace %s by login %s",
                            workspace.id, getattr(by_user, "id", None))
    return submission


def _reviewed(submission: PaymentSubmission) -> Outcome | None:
    if submission.status == "approved":
        number = submission.invoice.number if submission.invoice else "—"
        return Outcome(False, str(_l("This payment was already approved (invoice %(number)s): "
                                     "nothing changed.", number=number)), submission.invoice)
    if submission.status == "rejected":
        return Outcome(False, str(_l("This payment was already rejected: nothing changed.")))
    return None


def _mark_reviewed(submission, status, by_user, note) -> None:
    submission.status = status
    submission.review_note = (note or "").strip() or None
    submission.reviewed_by_id = getattr(by_user, "id", None)
    submission.reviewed_at = utcnow()


def approve_submission(submission: PaymentSubmission, by_user=None,
                       note: str | None = None) -> Outcome:
    """Approve a pending submission: invoice, activation, mail (see the module's contract)."""
    done = _reviewed(submission)
    if done is not None:
        return done
    subscription = submission.subscription
    workspace = db.session.get(Workspace, submission.workspace_id)
    now = utcnow()
    running = subscription.status == "active" and subscription.current_period_end \
        and subscription.current_period_end > now
    paid_from = subscription.current_period_end if running else now
    end = period_end(paid_from, submission.interval)
    plan = db.session.get(Plan, submission.plan_id)
    subscription.plan_id = submission.plan_id
    subscription.interval = submission.interval
    subscription.amount_cents = submission.amount_cents
    subscription.currency = submission.currency
    subscription.payment_method = "manual"
    activate(subscription, start=subscription.current_period_start if running else now,
             end=end)
    db.session.flush([subscription])
    invoice = issue_invoice(subscription, amount_cents=submission.amount_cents,
                            currency=submission.currency, method="manual",
                            reference=submission.reference, period=(paid_from, end), plan=plan)
    db.session.flush([invoice])
    _mark_reviewed(submission, "approved", by_user, note)
    submission.invoice_id = invoice.id
    language = language_of(workspace)
    mail_managers(workspace, "payment_approved",
                  amount=money_text(submission.amount_cents, submission.currency),
                  plan=plan.name, period_end=date_words(end, language), invoice=invoice.number,
                  link=public_url(invoice_pdf_path(invoice.id)), note=submission.review_note)
    return Outcome(True, str(_l("Payment approved: invoice %(number)s, paid until %(end)s.",
                                number=invoice.number, end=reader_date(end))), invoice)


def reject_submission(submission: PaymentSubmission, by_user=None,
                      note: str | None = None) -> Outcome:
    """Reject a pending submission with a note to the customer.

    :raise BillingRefused: `note` is blank (`note`)."""
    done = _reviewed(submission)
    if done is not None:
        return done
    if not (note or "").strip():
        raise BillingRefused({"note": [_l("Tell the customer why: the note is required to "
                                          "reject a payment.")]})
    _mark_reviewed(submission, "rejected", by_user, note)
    subscription = submission.subscription
    if subscription.status == "pending_approval":
        subscription.status = "pending_payment"
    workspace = db.session.get(Workspace, submission.workspace_id)
    mail_managers(workspace, "payment_rejected",
                  amount=money_text(submission.amount_cents, submission.currency),
                  reference=submission.reference, note=submission.review_note,
                  link=public_url(PAY_PATH))
    return Outcome(True, str(_l("Payment rejected; the customer was told why.")))


def extend(subscription: Subscription, *, intervals: int | None = None,
           unit: str | None = None, until: datetime | None = None) -> Outcome:
    """The master admin gives more time: `intervals` months or years (`unit`, by default the
    subscription's interval) after max(now, the period's end), or up to `until`. The
    subscription becomes active (an expired workspace resumes); no invoice is made.

    :raise BillingRefused: neither or a number outside 1–EXTEND_MAX (`intervals`), a date not
        after the current end (`until`), a subscription without an end (free)."""
    now = utcnow()
    if subscription.current_period_end is None and subscription.status == "active":
        raise BillingRefused({"intervals": [_l("This subscription has no end: there is "
                                               "nothing to extend.")]})
    base = max(now, subscription.current_period_end or now)
    if until is not None:
        if until <= base:
            raise BillingRefused({"until": [_l("Choose a date after the current end of the "
                                               "subscription.")]})
        end = until
    else:
        if intervals is None or not 1 <= intervals <= EXTEND_MAX:
            raise BillingRefused({"intervals": [_l("Enter a whole number from 1 to %(max)d.",
                                                   max=EXTEND_MAX)]})
        end = period_end(base, unit or subscription.interval, intervals)
    running = subscription.status == "active" and (subscription.current_period_end or now) > now
    activate(subscription, start=subscription.current_period_start if running else now,
             end=end)
    return Outcome(True, str(_l("Extended until %(end)s.", end=reader_date(end))))


def change_plan(subscription: Subscription, price: PlanPrice) -> Outcome:
    """The master admin moves the subscription to `price` at once (its plan, interval and
    amount); the period stays. A free price makes it active without an end."""
    if (subscription.plan_id, subscription.interval, subscription.amount_cents,
            subscription.currency) == (price.plan_id, price.interval, price.amount_cents,
                                       price.currency):
        return Outcome(False, str(_l("The subscription already has this plan and price: "
                                     "nothing changed.")))
    if not price.amount_cents:
        subscription.payment_method = "free"
        activate(subscription, start=utcnow(), end=None, price=price)
    else:
        set_price(subscription, price)
        workspace = subscription.workspace or db.session.get(Workspace,
                                                             subscription.workspace_id)
        workspace.plan_id = price.plan_id
    return Outcome(True, str(_l("Plan changed to %(price)s.", price=str(price))))


def suspend_workspace(workspace: Workspace, reason: str) -> Outcome:
    """Suspend with a reason (EXPIRED_REASON or the master admin's words) and tell the
    managers; the data is kept.

    :raise BillingRefused: a blank reason (`reason`)."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingRefused({"reason": [_l("Say why: the workspace's members read it.")]})
    if workspace.status == "suspended" and workspace.suspended_reason == reason:
        return Outcome(False, str(_l("The workspace is already suspended: nothing changed.")))
    suspend(workspace, reason)
    language = language_of(workspace)
    words = translated(EXPIRED_WORDS, language) if reason == EXPIRED_REASON else reason
    mail_managers(workspace, "workspace_suspended", reason=words,
                  link=public_url(BILLING_PATH))
    return Outcome(True, str(_l("The workspace is suspended; its managers were told.")))


def resume_workspace(workspace: Workspace) -> Outcome:
    """Resume a suspended workspace and tell the managers."""
    if workspace.status != "suspended":
        return Outcome(False, str(_l("The workspace is not suspended: nothing changed.")))
    resume(workspace)
    mail_managers(workspace, "workspace_resumed")
    return Outcome(True, str(_l("The workspace works again; its managers were told.")))
