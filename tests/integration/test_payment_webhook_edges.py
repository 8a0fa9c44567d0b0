"""Signed payment webhooks whose numbers do not fit: never a 500 (app/payments/events.py,
stripe_events.py, razorpay_events.py)."""
from __future__ import annotations

import pytest

from app.models import Invoice, PaymentEvent
from tests.integration.payment_support import (configure, razorpay_post, stripe_post,
                                               waiting_workspace)

HUGE = [10**11 - 1, 2**31, 10**30, -5]


@pytest.fixture
def ready(app, db, factory, redis_conn, fake_stripe, fake_razorpay, monkeypatch):
    configure(app, monkeypatch, fake_stripe=fake_stripe, fake_razorpay=fake_razorpay)
    return waiting_workspace(db, factory)


@pytest.mark.parametrize("number", HUGE)
def test_a_stripe_reference_that_is_no_workspace_id_is_an_unknown_workspace(
        app, db, client, ready, fake_stripe, number):
    session = {"id": "cs_1", "object": "checkout.session", "client_reference_id": str(number),
               "customer": "cus_1", "subscription": "sub_1",
               "metadata": {"workspace_id": number}}
    assert stripe_post(client, fake_stripe.event("checkout.session.completed",
                                                 session)).status_code == 200
    assert db.session.query(PaymentEvent).one().outcome == "unknown_workspace"


@pytest.mark.parametrize("number", HUGE)
def test_a_stripe_invoice_with_an_overflowing_amount_or_price_id_is_never_a_500(
        app, db, client, ready, fake_stripe, number):
    workspace, _subscription, _price = ready
    obj = {"id": "in_1", "amount_paid": number, "currency": "usd",
           "parent": {"subscription_details": {
               "metadata": {"workspace_id": str(workspace.id), "plan_price_id": number}}}}
    assert stripe_post(client, fake_stripe.event("invoice.paid", obj)).status_code == 200
    event = db.session.query(PaymentEvent).one()
    if number < 0 or number >= 2**31:
        assert event.outcome == "malformed"
        assert db.session.query(Invoice).count() == 0


@pytest.mark.parametrize("number", HUGE)
def test_a_razorpay_charge_with_overflowing_numbers_is_never_a_500(app, db, client, ready,
                                                                  number):
    workspace, _subscription, _price = ready
    event = {"event": "subscription.charged", "created_at": 1700000000, "payload": {
        "subscription": {"entity": {"id": "sub_rp_1", "notes": {
            "workspace_id": number, "plan_price_id": number}}},
        "payment": {"entity": {"id": "pay_1", "amount": number, "currency": "INR"}}}}
    assert razorpay_post(client, event, "evt_rp_1").status_code == 200
    event = {"event": "subscription.charged", "created_at": 1700000000, "payload": {
        "subscription": {"entity": {"id": "sub_rp_2", "notes": {
            "workspace_id": str(workspace.id), "plan_price_id": number}}},
        "payment": {"entity": {"id": "pay_2", "amount": number, "currency": "INR"}}}}
    assert razorpay_post(client, event, "evt_rp_2").status_code == 200
