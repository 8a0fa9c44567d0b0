"""Stripe: Checkout against the fake Stripe API, and POST /webhooks/stripe with signed events
(app/payments/stripe_gateway.py, app/webhooks/stripe.py, app/payments/stripe_events.py)."""
from __future__ import annotations

import logging
import time
from datetime import datetime

import pytest

from app.models import Invoice, PaymentEvent, Plan, PlanPrice, Subscription, Workspace
from app.payments import stripe_gateway
from app.payments.events import canceled_reason
from app.payments.exceptions import PaymentUnavailable
from tests.integration.payment_support import (STRIPE_PRICE, configure, queued_mails,
                                               stripe_post, waiting_workspace)


@pytest.fixture
def stripe_ready(app, db, factory, redis_conn, fake_stripe, monkeypatch):
    configure(app, monkeypatch, fake_stripe=fake_stripe)
    workspace, subscription, price = waiting_workspace(db, factory)
    return workspace, subscription, price


def _paid_checkout(app, fake_stripe, workspace, subscription, price):
    with app.test_request_context():
        url = stripe_gateway.start_checkout(subscription, price, "https://x.example/ok",
                                            "https://x.example/back")
    session_id = url.rsplit("/", 1)[1]
    return fake_stripe.complete_checkout(session_id)


def _fresh(db, model, pk):
    db.session.expire_all()
    return db.session.get(model, pk)


def test_checkout_starts_with_the_workspace_as_client_reference(app, db, stripe_ready,
                                                                fake_stripe):
    workspace, subscription, price = stripe_ready
    with app.test_request_context():
        url = stripe_gateway.start_checkout(subscription, price, "https://x.example/ok",
                                            "https://x.example/back")
    assert url.startswith("https://checkout.stripe.com/c/pay/cs_test_")
    sent = fake_stripe.requests.filter("POST", "/v1/checkout/sessions")[-1]
    session = fake_stripe.sessions[url.rsplit("/", 1)[1]]
    assert sent.form["mode"] == "subscription"
    assert session["client_reference_id"] == str(workspace.id)
    assert session["metadata"] == {"workspace_id": str(workspace.id),
                                   "plan_price_id": str(price.id)}
    assert session["_subscription_data"]["metadata"]["workspace_id"] == str(workspace.id)
    assert session["_line_items"] == [{"price": STRIPE_PRICE, "quantity": "1"}]
    assert session["customer_email"] == "acme-manager@test.example"


def test_checkout_is_refused_in_words_without_a_key_or_a_stripe_price(app, db, stripe_ready,
                                                                     monkeypatch):
    _workspace, subscription, price = stripe_ready
    bare = PlanPrice(plan_id=price.plan_id, currency="CHF", interval="year", amount_cents=100)
    db.session.add(bare)
    db.session.commit()
    with app.test_request_context():
        with pytest.raises(PaymentUnavailable) as no_price:
            stripe_gateway.start_checkout(subscription, bare, "https://a/", "https://b/")
        assert "cannot be paid by card" in str(no_price.value.message)
        monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "")
        assert not stripe_gateway.configured()
        with pytest.raises(PaymentUnavailable):
            stripe_gateway.start_checkout(subscription, price, "https://a/", "https://b/")
        with pytest.raises(PaymentUnavailable):
            stripe_gateway.portal_url(subscription, "https://a/")


def test_a_refusal_by_stripe_is_a_payment_unavailable_error(app, db, stripe_ready, fake_stripe):
    _workspace, subscription, price = stripe_ready
    fake_stripe.fail_next(2, 500)  # the SDK retries once
    with app.test_request_context(), pytest.raises(PaymentUnavailable):
        stripe_gateway.start_checkout(subscription, price, "https://a/", "https://b/")


def test_completed_checkout_links_and_the_paid_invoice_activates(app, db, client, stripe_ready,
                                                                 fake_stripe, redis_conn):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    answer = stripe_post(client, events["checkout.session.completed"])
    assert answer.status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert row.stripe_customer_id.startswith("cus_") and row.stripe_subscription_id
    assert row.status == "pending_payment"  # active on invoice.paid (the period paid for)

    invoice_event = events["invoice.paid"]
    assert stripe_post(client, invoice_event).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    invoice = db.session.query(Invoice).one()
    line = invoice_event["data"]["object"]["lines"]["data"][0]
    assert (invoice.status, invoice.payment_method, invoice.amount_cents, invoice.currency) == (
        "paid", "stripe", 4900, "USD")
    assert invoice.number.startswith("RD-") and invoice.stripe_invoice_id.startswith("in_")
    assert (row.status, row.payment_method) == ("active", "stripe")
    assert row.current_period_end == datetime.utcfromtimestamp(line["period"]["end"])
    assert _fresh(db, Workspace, workspace.id).status == "active"
    assert [m[1] for m in queued_mails(redis_conn)] == ["acme-manager@test.example"]
    outcomes = {e.event_type: (e.outcome, e.workspace_id) for e in db.session.query(PaymentEvent)}
    assert outcomes == {"checkout.session.completed": ("applied", workspace.id),
                        "invoice.paid": ("applied", workspace.id)}


def test_invoice_paid_before_checkout_completed_still_activates(app, db, client, stripe_ready,
                                                                fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    assert stripe_post(client, events["invoice.paid"]).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert row.status == "active" and row.stripe_subscription_id  # found by the metadata
    assert stripe_post(client, events["checkout.session.completed"]).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert row.status == "active" and db.session.query(Invoice).count() == 1


def test_a_repeated_event_and_an_invoice_in_two_events_give_one_invoice(
        app, db, client, stripe_ready, fake_stripe, redis_conn):
    workspace, subscription, price = stripe_ready
    event = _paid_checkout(app, fake_stripe, workspace, subscription, price)["invoice.paid"]
    assert stripe_post(client, event).status_code == 200
    assert stripe_post(client, event).status_code == 200  # the same event id again
    again = dict(event, id="evt_test_other_delivery")  # the same invoice, another event id
    assert stripe_post(client, again).status_code == 200
    assert db.session.query(Invoice).count() == 1
    assert db.session.query(PaymentEvent).count() == 2
    assert {e.outcome for e in db.session.query(PaymentEvent)} == {"applied", "recorded"}
    assert len(queued_mails(redis_conn)) == 1


@pytest.mark.parametrize("how", ["wrong secret", "missing", "expired", "garbled", "no secret"])
def test_a_bad_missing_or_expired_signature_answers_400_and_stores_nothing(
        app, db, client, stripe_ready, fake_stripe, monkeypatch, how):
    workspace, subscription, price = stripe_ready
    event = _paid_checkout(app, fake_stripe, workspace, subscription, price)["invoice.paid"]
    if how == "wrong secret":
        answer = stripe_post(client, event, secret="whsec_someone_else")
    elif how == "missing":
        answer = stripe_post(client, event, header="")
    elif how == "expired":
        answer = stripe_post(client, event, timestamp=int(time.time()) - 301)
    elif how == "garbled":
        answer = stripe_post(client, event, header="t=abc,v1=")
    else:
        monkeypatch.setitem(app.config, "STRIPE_WEBHOOK_SECRET", "")
        answer = stripe_post(client, event)
    assert answer.status_code == 400
    assert db.session.query(PaymentEvent).count() == 0
    assert db.session.query(Invoice).count() == 0


def test_a_signature_within_the_tolerance_is_accepted(app, db, client, stripe_ready,
                                                      fake_stripe):
    workspace, subscription, price = stripe_ready
    event = _paid_checkout(app, fake_stripe, workspace, subscription, price)["invoice.paid"]
    assert stripe_post(client, event, timestamp=int(time.time()) - 250).status_code == 200


def test_a_failed_payment_makes_the_subscription_past_due(app, db, client, stripe_ready,
                                                          fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    stripe_post(client, events["invoice.paid"])
    sub_id = events["checkout.session.completed"]["data"]["object"]["subscription"]
    later = int(time.time()) + 60
    failed = fake_stripe.paid_invoice(sub_id, later, status="open")
    assert stripe_post(client, fake_stripe.event("invoice.payment_failed", failed,
                                                 created=later)).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert row.status == "past_due"
    assert _fresh(db, Workspace, workspace.id).status == "active"  # Stripe retries meanwhile


def test_subscription_updated_changes_plan_and_period_and_an_older_one_is_ignored(
        app, db, client, stripe_ready, fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    stripe_post(client, events["invoice.paid"])
    starter = db.session.query(Plan).filter_by(code="starter").one()
    cheaper = PlanPrice(plan=starter, currency="CHF", interval="year", amount_cents=9900,
                        stripe_price_id="price_starter_year")
    db.session.add(cheaper)
    db.session.commit()
    fake_stripe.add_price("price_starter_year", amount=9900, interval="year")
    sub_id = events["checkout.session.completed"]["data"]["object"]["subscription"]
    stripe_sub = fake_stripe.subscriptions[sub_id]
    stripe_sub["items"]["data"][0]["price"] = fake_stripe.prices["price_starter_year"]
    end = int(time.time()) + 365 * 86400
    stripe_sub["items"]["data"][0]["current_period_end"] = end
    stripe_sub["cancel_at_period_end"] = True
    newer = int(time.time()) + 120
    assert stripe_post(client, fake_stripe.event("customer.subscription.updated", stripe_sub,
                                                 created=newer)).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert row.plan.code == "starter" and row.cancel_at_period_end is True
    assert row.current_period_end == datetime.utcfromtimestamp(end)
    assert _fresh(db, Workspace, workspace.id).plan.code == "starter"

    old_state = dict(stripe_sub, status="past_due", cancel_at_period_end=False)
    assert stripe_post(client, fake_stripe.event("customer.subscription.updated", old_state,
                                                 created=newer - 60)).status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert (row.status, row.cancel_at_period_end) == ("active", True)
    assert db.session.query(PaymentEvent).filter_by(outcome="ignored").count() == 1


def test_change_plan_asks_stripe_for_a_prorated_item_change(app, db, client, stripe_ready,
                                                            fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    stripe_post(client, events["checkout.session.completed"])
    fake_stripe.add_price("price_other", amount=1000)
    other = PlanPrice(plan_id=price.plan_id, currency="CHF", interval="month",
                      amount_cents=1000, stripe_price_id="price_other")
    db.session.add(other)
    db.session.commit()
    row = _fresh(db, Subscription, subscription.id)
    with app.test_request_context():
        stripe_gateway.change_plan(row, other)
    stripe_sub = fake_stripe.subscriptions[row.stripe_subscription_id]
    assert stripe_sub["items"]["data"][0]["price"]["id"] == "price_other"
    assert stripe_sub["_last_proration_behavior"] == "create_prorations"


def test_subscription_deleted_cancels_and_suspends_and_a_new_payment_resumes(
        app, db, client, stripe_ready, fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    stripe_post(client, events["invoice.paid"])
    sub_id = events["checkout.session.completed"]["data"]["object"]["subscription"]
    gone = dict(fake_stripe.subscriptions[sub_id], status="canceled")
    assert stripe_post(client, fake_stripe.event("customer.subscription.deleted", gone,
                                                 created=int(time.time()) + 5)).status_code == 200
    row, ws = _fresh(db, Subscription, subscription.id), _fresh(db, Workspace, workspace.id)
    assert row.status == "canceled"
    assert (ws.status, ws.suspended_reason) == ("suspended", canceled_reason("en"))

    renewal = fake_stripe.renew(sub_id, int(time.time()) + 30)
    assert stripe_post(client, renewal).status_code == 200
    ws = _fresh(db, Workspace, workspace.id)
    assert (ws.status, ws.suspended_reason) == ("active", None)
    assert _fresh(db, Subscription, subscription.id).status == "active"


def test_a_late_invoice_paid_is_recorded_but_does_not_undo_a_newer_cancellation(
        app, db, client, stripe_ready, fake_stripe):
    workspace, subscription, price = stripe_ready
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    stripe_post(client, events["checkout.session.completed"])
    sub_id = events["checkout.session.completed"]["data"]["object"]["subscription"]
    gone = dict(fake_stripe.subscriptions[sub_id], status="canceled")
    stripe_post(client, fake_stripe.event("customer.subscription.deleted", gone,
                                          created=int(time.time()) + 600))
    assert stripe_post(client, events["invoice.paid"]).status_code == 200
    assert db.session.query(Invoice).count() == 1  # never lost
    assert _fresh(db, Subscription, subscription.id).status == "canceled"


def test_unknown_workspace_and_unknown_type_are_stored_with_their_outcome(
        app, db, client, stripe_ready, fake_stripe):
    session = {"id": "cs_test_x", "object": "checkout.session", "client_reference_id": "999999",
               "customer": "cus_test_x", "subscription": "sub_test_x", "metadata": {}}
    assert stripe_post(client, fake_stripe.event("checkout.session.completed",
                                                 session)).status_code == 200
    assert stripe_post(client, fake_stripe.event("charge.refunded",
                                                 {"id": "ch_1"})).status_code == 200
    rows = {e.event_type: (e.outcome, e.workspace_id) for e in db.session.query(PaymentEvent)}
    assert rows == {"checkout.session.completed": ("unknown_workspace", None),
                    "charge.refunded": ("unhandled", None)}


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '{"id": "evt_1"}', "\"text\"",
                                  '{"id": "evt_1", "type": "invoice.paid", "data": []}'])
def test_a_signed_body_that_is_not_an_event_answers_400(app, db, client, stripe_ready, body):
    assert stripe_post(client, {}, body=body).status_code == 400
    assert db.session.query(PaymentEvent).count() == 0


@pytest.mark.parametrize("obj", [
    {"id": "in_1", "lines": "x", "parent": [], "amount_paid": "lots", "currency": 7},
    {"id": 5, "parent": {"subscription_details": {"metadata": {"workspace_id": "1e9"}}}},
    {"lines": {"data": [None, 3]}, "parent": {"subscription_details": "x"}},
])
def test_an_event_with_strange_content_is_stored_never_a_500(app, db, client, stripe_ready,
                                                             fake_stripe, obj):
    workspace, _subscription, _price = stripe_ready
    obj = dict(obj)
    if isinstance(obj.get("parent"), dict) and "metadata" in str(obj["parent"]):
        obj["parent"]["subscription_details"]["metadata"]["workspace_id"] = str(workspace.id)
    for kind in ("invoice.paid", "invoice.payment_failed", "customer.subscription.updated",
                 "customer.subscription.deleted", "checkout.session.completed"):
        assert stripe_post(client, fake_stripe.event(kind, obj)).status_code == 200
    assert db.session.query(PaymentEvent).count() == 5


def test_payment_ids_reach_no_answer_no_log_line_and_no_page(app, db, client, stripe_ready,
                                                             fake_stripe, auth, caplog):
    workspace, subscription, price = stripe_ready
    caplog.set_level(logging.DEBUG)
    events = _paid_checkout(app, fake_stripe, workspace, subscription, price)
    answers = [stripe_post(client, events[kind]) for kind in ("checkout.session.completed",
                                                              "invoice.paid")]
    row = _fresh(db, Subscription, subscription.id)
    invoice = db.session.query(Invoice).one()
    secrets = [row.stripe_customer_id, row.stripe_subscription_id, invoice.stripe_invoice_id]
    assert all(secrets)
    auth.login("acme-manager")
    pages = [client.get("/subscriptionview/list/"), client.get("/invoiceview/list/"),
             client.get(f"/invoiceview/show/{invoice.id}"),
             client.get("/api/v1/invoice/"), client.get(f"/api/v1/invoice/{invoice.id}"),
             client.get("/api/v1/subscription/")]
    assert all(page.status_code == 200 for page in pages)
    texts = [a.get_data(as_text=True) for a in answers + pages]
    texts += [record.getMessage() for record in caplog.records]
    for secret in secrets:
        assert not any(secret in text for text in texts), secret


@pytest.mark.parametrize("url", ["/webhooks/stripe", "/webhooks/razorpay"])
def test_a_body_over_one_mib_answers_413(app, db, client, url):
    answer = client.post(url, data=b"{" + b" " * (1024 * 1024) + b"}",
                         headers={"Content-Type": "application/json",
                                  "Stripe-Signature": "t=1,v1=00",
                                  "X-Razorpay-Signature": "00"})
    assert answer.status_code == 413
    assert db.session.query(PaymentEvent).count() == 0
