"""Manual payments end to end (submit, approve, reject), the master admin's changes, and the
billing clock with a moved clock (reminders once per threshold, expiry, resumption)."""
from datetime import datetime, timedelta

import pytest

from app import billing
from app.jobs.billing import run_billing_clock
from app.models import Invoice, PaymentSubmission
from tests.integration.billing_support import bank, deliver_billing_mail, paying_workspace
from tests.integration.test_billing_core import price_of


@pytest.fixture(autouse=True)
def _queues(redis_conn):
    """Mail is queued in the test's own Redis slot, flushed around each test."""


def submit(db, workspace, price, method, reference="TX-1001", amount=None, currency=None):
    submission = billing.submit_payment(
        workspace, price=price, method=method,
        amount_cents=price.amount_cents if amount is None else amount,
        currency=currency or price.currency, reference=reference, note="Paid from my bank")
    db.session.commit()
    return submission


def test_approval_issues_a_numbered_invoice_activates_and_mails(app, db, factory):
    app.config["INVOICE_PREFIX"] = "RD"
    workspace, price = paying_workspace(db, factory)
    admin = factory.admin("root")
    method = bank(db)
    submission = submit(db, workspace, price, method)
    assert (submission.status, submission.subscription.status, workspace.status) == (
        "pending", "pending_approval", "pending")
    received = deliver_billing_mail(app)
    assert [m.to for m in received] == ["payer-manager@test.example"]
    assert "TX-1001" in received[0].body and "Payer Panel" in received[0].subject

    outcome = billing.approve_submission(submission, admin, "Thank you")
    db.session.commit()
    invoice = outcome.invoice
    year = datetime.utcnow().year
    assert outcome.changed and invoice.number == f"RD-{year}-00001"
    assert (invoice.status, invoice.payment_method, invoice.payment_reference) == (
        "paid", "manual", "TX-1001")
    subscription = submission.subscription
    assert (subscription.status, workspace.status, submission.status) == (
        "active", "active", "approved")
    assert subscription.current_period_end == billing.period_end(invoice.period_start, "month")
    approved = deliver_billing_mail(app)
    assert len(approved) == 1 and f"/billing/invoices/{invoice.id}.pdf" in approved[0].body
    assert invoice.number in approved[0].body and "Thank you" in approved[0].body

    again = billing.approve_submission(submission, admin, "again")
    db.session.commit()
    assert not again.changed and "already approved" in again.message
    assert db.session.query(Invoice).count() == 1 and not deliver_billing_mail(app)


def test_a_renewal_extends_the_running_period_and_an_upgrade_applies_its_plan(app, db,
                                                                              factory):
    workspace, price = paying_workspace(db, factory)
    method = bank(db)
    first = billing.approve_submission(submit(db, workspace, price, method, "TX-A")).invoice
    db.session.commit()
    end = workspace_end = first.period_end
    renewal = submit(db, workspace, price, method, "TX-B")
    assert renewal.subscription.status == "active"  # keeps working while it waits
    billing.approve_submission(renewal)
    db.session.commit()
    assert renewal.subscription.current_period_end == billing.period_end(end, "month")
    assert renewal.invoice.period_start == workspace_end

    pro = price_of(db, "pro", "year")
    upgrade = submit(db, workspace, pro, method, "TX-C")
    billing.approve_submission(upgrade)
    db.session.commit()
    subscription = upgrade.subscription
    assert (subscription.plan.code, subscription.interval, workspace.plan.code) == (
        "pro", "year", "pro")
    numbers = [i.number for i in db.session.query(Invoice).order_by(Invoice.id)]
    assert [n[-5:] for n in numbers] == ["00001", "00002", "00003"]


def test_rejection_needs_a_note_and_sends_the_customer_back_to_pay(app, db, factory):
    workspace, price = paying_workspace(db, factory)
    method = bank(db)
    submission = submit(db, workspace, price, method)
    deliver_billing_mail(app)
    with pytest.raises(billing.BillingRefused) as refused:
        billing.reject_submission(submission, None, "   ")
    assert "note" in refused.value.problems
    outcome = billing.reject_submission(submission, None, "No such transfer arrived")
    db.session.commit()
    assert outcome.changed and submission.status == "rejected"
    assert submission.subscription.status == "pending_payment" and workspace.status == "pending"
    mails = deliver_billing_mail(app)
    assert len(mails) == 1 and "No such transfer arrived" in mails[0].body
    assert "/signup/pay" in mails[0].body
    assert not billing.reject_submission(submission, None, "again").changed
    assert not billing.approve_submission(submission).changed  # a rejected one stays so
    # a new reference may be sent once the first is answered
    assert submit(db, workspace, price, method, "TX-2").status == "pending"


def test_a_rejected_renewal_leaves_an_active_subscription_active(app, db, factory):
    workspace, price = paying_workspace(db, factory)
    method = bank(db)
    billing.approve_submission(submit(db, workspace, price, method, "TX-A"))
    renewal = submit(db, workspace, price, method, "TX-B")
    billing.reject_submission(renewal, None, "Amount missing")
    db.session.commit()
    assert renewal.subscription.status == "active" and workspace.status == "active"


@pytest.mark.parametrize("change, field", [
    ({"reference": "  "}, "reference"),
    ({"reference": "X" * 201}, "reference"),
    ({"amount": 0}, "amount"),
    ({"amount": -100}, "amount"),
    ({"currency": "INR"}, "currency"),
    ({"method": "inactive"}, "payment_method"),
    ({"method": None}, "payment_method"),
])
def test_every_bad_submission_is_refused_beside_its_field(app, db, factory, change, field):
    workspace, price = paying_workspace(db, factory)
    methods = {"inactive": bank(db, active=False, name="Old wallet"), None: None}
    method = methods[change["method"]] if "method" in change else bank(db)
    values = {"reference": "TX-9", "amount": price.amount_cents, "currency": "USD", **change}
    with pytest.raises(billing.BillingRefused) as refused:
        billing.submit_payment(workspace, price=price, method=method,
                               amount_cents=values["amount"], currency=values["currency"],
                               reference=values["reference"], note=None)
    assert field in refused.value.problems and refused.value.problems[field][0]
    db.session.rollback()
    assert db.session.query(PaymentSubmission).count() == 0


def test_a_second_pending_submission_and_a_free_price_are_refused(app, db, factory):
    workspace, price = paying_workspace(db, factory)
    method = bank(db)
    submit(db, workspace, price, method)
    with pytest.raises(billing.BillingRefused) as refused:
        submit(db, workspace, price, method, "TX-OTHER")
    assert "submission" in refused.value.problems
    with pytest.raises(billing.BillingRefused) as free:
        billing.submit_payment(workspace, price=price_of(db, "free"), method=method,
                               amount_cents=100, currency="USD", reference="R")
    assert "price" in free.value.problems


def test_a_reused_reference_is_found_for_the_warning(app, db, factory):
    one, price = paying_workspace(db, factory, "one", "one-manager")
    two, _ = paying_workspace(db, factory, "two", "two-manager")
    method = bank(db)
    first = submit(db, one, price, method, "SAME-REF")
    second = submit(db, two, price, method, " same-ref ")
    assert billing.reference_used_before(second) == [first]


def test_master_admin_extends_changes_plan_suspends_and_resumes(app, db, factory):
    workspace, price = paying_workspace(db, factory)
    subscription = billing.subscription_of(workspace)
    with pytest.raises(billing.BillingRefused):
        billing.extend(subscription, intervals=0)
    assert billing.extend(subscription, intervals=2, unit="month").changed
    db.session.commit()
    assert (subscription.status, workspace.status) == ("active", "active")
    end = subscription.current_period_end
    billing.extend(subscription, intervals=1, unit="year")
    assert subscription.current_period_end == billing.period_end(end, "year")
    with pytest.raises(billing.BillingRefused) as early:
        billing.extend(subscription, until=end)
    assert "until" in early.value.problems

    pro = price_of(db, "pro")
    assert billing.change_plan(subscription, pro).changed
    assert not billing.change_plan(subscription, pro).changed
    assert workspace.plan.code == "pro" and subscription.amount_cents == pro.amount_cents

    with pytest.raises(billing.BillingRefused):
        billing.suspend_workspace(workspace, " ")
    assert billing.suspend_workspace(workspace, "Abuse report").changed
    assert not billing.suspend_workspace(workspace, "Abuse report").changed
    db.session.commit()
    assert deliver_billing_mail(app)[0].subject.endswith("is suspended")
    assert billing.resume_workspace(workspace).changed
    assert not billing.resume_workspace(workspace).changed
    db.session.commit()
    assert workspace.status == "active"
    assert "works again" in deliver_billing_mail(app)[0].subject


# --- the billing clock -----------------------------------------------------------------------

def active_until(db, factory, end: datetime, method="manual", slug="clocked"):
    workspace, price = paying_workspace(db, factory, slug, f"{slug}-manager")
    subscription = billing.subscription_of(workspace)
    billing.activate(subscription, start=end - timedelta(days=30), end=end)
    subscription.payment_method = method
    db.session.commit()
    return workspace, subscription


def test_reminders_go_once_per_threshold_and_period_end(app, db, factory):
    end = datetime(2027, 3, 10, 12)
    workspace, subscription = active_until(db, factory, end)
    assert run_billing_clock(end - timedelta(days=8))["reminders"] == 0
    assert run_billing_clock(end - timedelta(days=6))["reminders"] == 1
    assert run_billing_clock(end - timedelta(days=5))["reminders"] == 0
    mails = deliver_billing_mail(app)
    assert len(mails) == 1 and "6 days" in mails[0].body and "/billing/" in mails[0].body
    assert run_billing_clock(end - timedelta(hours=20))["reminders"] == 1
    assert run_billing_clock(end - timedelta(hours=10))["reminders"] == 0
    assert "1 days" in deliver_billing_mail(app)[0].body
    # a new period (paid renewal) reminds again
    billing.activate(subscription, start=end, end=end + timedelta(days=30))
    db.session.commit()
    assert run_billing_clock(end + timedelta(days=25))["reminders"] == 1


def test_a_late_clock_sends_only_the_nearest_reminder(app, db, factory):
    end = datetime(2027, 3, 10, 12)
    active_until(db, factory, end)
    assert run_billing_clock(end - timedelta(hours=3))["reminders"] == 1
    assert run_billing_clock(end - timedelta(hours=2))["reminders"] == 0


def test_expiry_suspends_and_a_paid_renewal_resumes(app, db, factory):
    end = datetime(2027, 3, 10, 12)
    workspace, subscription = active_until(db, factory, end)
    app.config["GRACE_DAYS"] = "2"
    try:
        assert run_billing_clock(end + timedelta(days=1))["expired"] == 0
        assert run_billing_clock(end + timedelta(days=2, minutes=1))["expired"] == 1
    finally:
        app.config["GRACE_DAYS"] = "0"
    db.session.refresh(workspace)
    db.session.refresh(subscription)
    assert (subscription.status, workspace.status, workspace.suspended_reason) == (
        "expired", "suspended", billing.EXPIRED_REASON)
    assert run_billing_clock(end + timedelta(days=3))["expired"] == 0
    mails = deliver_billing_mail(app)
    suspended = [m for m in mails if "suspended" in m.subject]
    assert len(suspended) == 1 and "ended without a renewal" in suspended[0].body
    assert "expired" not in suspended[0].body

    price = price_of(db, "starter")
    submission = submit(db, workspace, price, bank(db), "TX-LATE")
    assert workspace.status == "suspended"
    billing.approve_submission(submission)
    db.session.commit()
    assert (subscription.status, workspace.status) == ("active", "active")
    assert subscription.current_period_end > datetime.utcnow()


def test_a_provider_paid_subscription_is_not_expired_while_active(app, db, factory):
    end = datetime(2027, 3, 10, 12)
    stripe_ws, stripe_sub = active_until(db, factory, end, method="stripe", slug="striped")
    result = run_billing_clock(end + timedelta(days=10))
    assert result == {"reminders": 0, "expired": 0}
    db.session.refresh(stripe_ws)
    assert stripe_ws.status == "active"
    stripe_sub.status = "past_due"
    db.session.commit()
    assert run_billing_clock(end + timedelta(days=10))["expired"] == 1
    db.session.refresh(stripe_ws)
    assert stripe_ws.status == "suspended"


def test_an_admin_suspension_keeps_its_reason_when_the_period_expires(app, db, factory):
    end = datetime(2027, 3, 10, 12)
    workspace, subscription = active_until(db, factory, end)
    billing.suspend(workspace, "Abuse report")
    db.session.commit()
    run_billing_clock(end + timedelta(days=1))
    db.session.refresh(workspace)
    assert workspace.suspended_reason == "Abuse report"


def test_the_cron_tick_queues_the_billing_clock_once_per_interval(app, redis_conn):
    from app.jobs.worker import billing_tick

    with app.app_context():
        assert billing_tick(redis_conn) is True
        assert billing_tick(redis_conn) is False
        jobs = app.extensions["relaydesk_queues"]["low"].get_jobs()
        assert [j.func_name for j in jobs] == ["app.jobs.billing.run_billing_clock"]
