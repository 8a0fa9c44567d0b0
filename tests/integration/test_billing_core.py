"""app/billing.py: prices chosen, periods, invoice numbers, activation and suspension."""
from datetime import datetime

import pytest

from app import billing
from app.models import Invoice, PlanPrice
from app.plans import ensure_default_plans


def price_of(db, code, interval="month", currency="USD"):
    from app.models import Plan

    ensure_default_plans()
    plan = db.session.query(Plan).filter_by(code=code).one()
    found = [p for p in plan.prices if p.interval == interval and p.currency == currency]
    if not found:  # the free plan has no price rows: a zero price
        price = PlanPrice(plan=plan, currency=currency, interval=interval, amount_cents=0)
        db.session.add(price)
        return price
    return found[0]


@pytest.mark.parametrize("start, interval, count, end", [
    (datetime(2026, 1, 31, 10), "month", 1, datetime(2026, 2, 28, 10)),
    (datetime(2028, 1, 31), "month", 1, datetime(2028, 2, 29)),
    (datetime(2026, 11, 15), "month", 2, datetime(2027, 1, 15)),
    (datetime(2028, 2, 29), "year", 1, datetime(2029, 2, 28)),
    (datetime(2026, 12, 3), "year", 2, datetime(2028, 12, 3)),
])
def test_a_period_ends_a_month_or_a_year_later_on_a_day_that_exists(start, interval, count, end):
    assert billing.period_end(start, interval, count) == end


def test_a_free_plan_is_active_at_once_and_a_paid_one_waits_with_its_workspace(app, db,
                                                                                factory):
    free_ws, paid_ws = factory.workspace("free-ws"), factory.workspace("paid-ws")
    free = billing.choose_plan(free_ws, price_of(db, "free"), "manual")
    paid = billing.choose_plan(paid_ws, price_of(db, "pro", "year"), "manual")
    db.session.commit()
    assert (free.status, free.payment_method, free_ws.status) == ("active", "free", "active")
    assert free_ws.plan.code == "free" and free.current_period_end is None
    assert (paid.status, paid.interval, paid_ws.status) == ("pending_payment", "year", "pending")
    assert paid.amount_cents == price_of(db, "pro", "year").amount_cents > 0

    start = datetime(2026, 12, 3)
    billing.activate(paid, start=start, end=billing.period_end(start, "year"))
    db.session.commit()
    assert (paid.status, paid_ws.status) == ("active", "active")
    assert paid.current_period_end == datetime(2027, 12, 3)


def test_an_active_subscription_keeps_its_plan_until_the_new_one_is_paid(app, db, factory):
    workspace = factory.workspace("upgrading")
    starter = price_of(db, "starter")
    subscription = billing.choose_plan(workspace, starter, "manual")
    billing.activate(subscription, start=datetime(2026, 12, 1), end=datetime(2027, 1, 1))
    pro = price_of(db, "pro")
    assert billing.choose_plan(workspace, pro, "manual") is subscription
    assert (subscription.plan.code, subscription.status, workspace.status) == (
        "starter", "active", "active")
    billing.activate(subscription, start=datetime(2027, 1, 1), end=datetime(2027, 2, 1),
                     price=pro)
    db.session.commit()
    assert subscription.plan_id == pro.plan_id == workspace.plan_id
    assert subscription.amount_cents == pro.amount_cents


def test_activation_resumes_an_expired_workspace_not_one_the_admin_suspended(app, db, factory):
    expired, held = factory.workspace("expired"), factory.workspace("held")
    subscriptions = []
    for workspace, reason in ((expired, billing.EXPIRED_REASON), (held, "Abuse report")):
        subscription = billing.choose_plan(workspace, price_of(db, "starter"), "manual")
        billing.suspend(workspace, reason)
        subscriptions.append(subscription)
    for subscription in subscriptions:
        billing.activate(subscription, start=datetime(2026, 12, 1), end=datetime(2027, 1, 1))
    db.session.commit()
    assert (expired.status, expired.suspended_reason) == ("active", None)
    assert (held.status, held.suspended_reason) == ("suspended", "Abuse report")


def test_invoice_numbers_follow_each_other_and_start_again_each_year(app, db, factory):
    app.config["INVOICE_PREFIX"] = "RD"
    workspace = factory.workspace("invoiced")
    subscription = billing.choose_plan(workspace, price_of(db, "starter"), "manual")
    db.session.flush()
    numbers = [billing.issue_invoice(subscription, amount_cents=1900, currency="USD",
                                     method="manual", reference=f"REF{i}").number
               for i in range(3)]
    year = datetime.now().year
    assert numbers == [f"RD-{year}-00001", f"RD-{year}-00002", f"RD-{year}-00003"]
    assert billing.next_invoice_number(datetime(year + 1, 1, 1)) == f"RD-{year + 1}-00001"
    db.session.commit()
    invoice = db.session.query(Invoice).filter_by(number=numbers[0]).one()
    assert (invoice.status, invoice.payment_reference, invoice.plan.code) == (
        "paid", "REF0", "starter")
    assert invoice.paid_at is not None and invoice.amount_text()
