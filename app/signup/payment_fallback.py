"""INTERIM — FOR THE INTEGRATOR TO DELETE once app/billing.py has `submit_payment`.

The sign-up journey calls `submit_payment(workspace, *, price, method, amount_cents, currency,
reference, note, by_user)`, which the billing work writes (with its mails and audit trail).
Until it is merged, this minimal version records the submission so that the journey can be
used and tested end to end: app/signup/payments.py imports app.billing's when it exists and
this one only otherwise. It raises `SubmissionRefused` (a ValueError) with a message for input
it cannot take.
"""
from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.billing import subscription_of
from app.extensions import db
from app.models import PaymentSubmission


class SubmissionRefused(ValueError):
    """A payment reference that cannot be recorded; its message is for the person."""


def submit_payment(workspace, *, price, method, amount_cents: int, currency: str,
                   reference: str, note: str | None, by_user) -> PaymentSubmission:
    subscription = subscription_of(workspace)
    if subscription is None:
        raise SubmissionRefused(str(_l("Choose a plan first.")))
    if amount_cents is None or amount_cents <= 0:
        raise SubmissionRefused(str(_l("Enter the amount you paid.")))
    if not (reference or "").strip():
        raise SubmissionRefused(str(_l("Enter the payment's reference.")))
    if method is None or not method.active or not method.takes(currency):
        raise SubmissionRefused(str(_l("Choose one of the payment methods shown.")))
    submission = PaymentSubmission(
        workspace_id=workspace.id, subscription_id=subscription.id,
        payment_method_id=method.id, plan_id=price.plan_id, interval=price.interval,
        amount_cents=amount_cents, currency=currency, reference=reference.strip()[:200],
        customer_note=(note or "").strip() or None, status="pending")
    db.session.add(submission)
    subscription.payment_method = "manual"
    subscription.status = "pending_approval"
    return submission
