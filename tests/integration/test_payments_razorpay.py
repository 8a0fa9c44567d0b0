"""Razorpay: a subscription started against the fake Razorpay API, and POST /webhooks/razorpay
with signed events (app/payments/razorpay_gateway.py, app/webhooks/razorpay.py,
app/payments/razorpay_events.py)."""
from __future__ import annotations

import logging
import time

import pytest

from app.models import Invoice, PaymentEvent, PlanPrice, Subscription, Workspace
from app.payments import razorpay_gateway
from app.payments.events import canceled_reason
from app.payments.exceptions import PaymentUnavailable
from tests.integration.payment_support import (RAZORPAY_PLAN, configure, queued_mails,
                                               razorpay_post, waiting_workspace)


@pytest.fixture
def razorpay_ready(app, db, factory, redis_conn, fake_razorpay, monkeypatch):
    configure(app, monkeypatch, fake_razorpay=fake_razorpay)
    return waiting_workspace(db, factory, method="razorpay")


def _started(app, db, razorpay_ready):
    _workspace, subscription, price = razorpay_ready
    with app.test_request_context():
        url = razorpay_gateway.start_subscription(subscription, price)
    db.session.commit()
    return url, subscription.razorpay_subscription_id


def _fresh(db, model, pk):
    db.session.expire_all()
    return db.session.get(model, pk)


def test_a_subscription_starts_with_the_plan_and_the_workspace_in_its_notes(
        app, db, razorpay_ready, fake_razorpay):
    workspace, subscription, price = razorpay_ready
    url, sub_id = _started(app, db, razorpay_ready)
    assert url.startswith("https://rzp.io/")
    sent = fake_razorpay.requests.filter("POST", "/v1/subscriptions")[-1].json
    assert sent == {"plan_id": RAZORPAY_PLAN, "total_count": 120, "customer_notify": 1,
                    "notes": {"workspace_id": str(workspace.id), "plan_price_id": str(price.id)}}
    assert _fresh(db, Subscription, subscription.id).razorpay_subscription_id == sub_id


def test_starting_is_refused_in_words(app, db, razorpay_ready, fake_razorpay, monkeypatch):
    _workspace, subscription, price = razorpay_ready
    bare = PlanPrice(plan_id=price.plan_id, currency="CHF", interval="year", amount_cents=100)
    db.session.add(bare)
    db.session.commit()
    with app.test_request_context():
        with pytest.raises(PaymentUnavailable) as no_plan:
            razorpay_gateway.start_subscription(subscription, bare)
        assert "Razorpay" in str(no_plan.value.message)
        fake_razorpay.fail_next(1, 500)
        with pytest.raises(PaymentUnavailable):
            razorpay_gateway.start_subscription(subscription, price)
        fake_razorpay.garbage_next(1, "html")
        with pytest.raises(PaymentUnavailable):
            razorpay_gateway.start_subscription(subscription, price)
        monkeypatch.setitem(app.config, "RAZORPAY_KEY_SECRET", "wrong")
        with pytest.raises(PaymentUnavailable):
            razorpay_gateway.start_subscription(subscription, price)
        monkeypatch.setitem(app.config, "RAZORPAY_KEY_ID", "")
        assert not razorpay_gateway.configured()
        with pytest.raises(PaymentUnavailable):
            razorpay_gateway.start_subscription(subscription, price)


def test_activated_and_charged_make_one_paid_invoice_and_an_active_workspace(
        app, db, client, razorpay_ready, fake_razorpay, redis_conn):
    workspace, subscription, _price = razorpay_ready
    _url, sub_id = _started(app, db, razorpay_ready)
    events = fake_razorpay.charge(sub_id)
    assert razorpay_post(client, events["subscription.activated"], "ev_1").status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert (row.status, row.payment_method) == ("active", "razorpay")
    assert razorpay_post(client, events["subscription.charged"], "ev_2").status_code == 200
    invoice = db.session.query(Invoice).one()
    payment = events["subscription.charged"]["payload"]["payment"]["entity"]
    assert (invoice.status, invoice.payment_method, invoice.amount_cents, invoice.currency) == (
        "paid", "razorpay", 399900, "INR")
    assert invoice.razorpay_payment_id == payment["id"]
    assert invoice.period_end is not None
    assert _fresh(db, Workspace, workspace.id).status == "active"
    assert len(queued_mails(redis_conn)) == 1


def test_a_charge_found_by_its_notes_before_the_id_was_stored(app, db, client, razorpay_ready,
                                                              fake_razorpay):
    _workspace, subscription, _price = razorpay_ready
    _url, sub_id = _started(app, db, razorpay_ready)
    row = _fresh(db, Subscription, subscription.id)
    row.razorpay_subscription_id = None
    db.session.commit()
    event = fake_razorpay.charge(sub_id)["subscription.charged"]
    assert razorpay_post(client, event, "ev_1").status_code == 200
    row = _fresh(db, Subscription, subscription.id)
    assert (row.status, row.razorpay_subscription_id) == ("active", sub_id)


def test_duplicates_and_one_payment_in_two_events_give_one_invoice(app, db, client,
                                                                   razorpay_ready,
                                                                   fake_razorpay, redis_conn):
    _url, sub_id = _started(app, db, razorpay_ready)
    charged = fake_razorpay.charge(sub_id)["subscription.charged"]
    assert razorpay_post(client, charged, "ev_1").status_code == 200
    assert razorpay_post(client, charged, "ev_1").status_code == 200
    assert razorpay_post(client, charged, "ev_2").status_code == 200
    assert db.session.query(Invoice).count() == 1
    assert db.session.query(PaymentEvent).count() == 2
    assert len(queued_mails(redis_conn)) == 1


@pytest.mark.parametrize("how", ["wrong secret", "missing", "not hex", "no secret",
                                 "no event id"])
def test_a_bad_or_missing_signature_answers_400_and_stores_nothing(
        app, db, client, razorpay_ready, fake_razorpay, monkeypatch, how):
    _url, sub_id = _started(app, db, razorpay_ready)
    event = fake_razorpay.charge(sub_id)["subscription.charged"]
    if how == "wrong secret":
        answer = razorpay_post(client, event, "ev_1", secret="someone-else")
    elif how == "missing":
        answer = razorpay_post(client, event, "ev_1", signature="")
    elif how == "not hex":
        answer = razorpay_post(client, event, "ev_1", signature="é" * 64)
    elif how == "no secret":
        monkeypatch.setitem(app.config, "RAZORPAY_WEBHOOK_SECRET", "")
        answer = razorpay_post(client, event, "ev_1")
    else:
        answer = razorpay_post(client, event, "")
    assert answer.status_code == 400
    assert db.session.query(PaymentEvent).count() == 0


def test_halted_and_failed_payments_make_it_past_due_and_an_older_state_is_ignored(
        app, db, client, razorpay_ready, fake_razorpay):
    _workspace, subscription, _price = razorpay_ready
    _url, sub_id = _started(app, db, razorpay_ready)
    now = int(time.time())
    charged = fake_razorpay.charge(sub_id, at=now)["subscription.charged"]
    razorpay_post(client, charged, "ev_1")
    entity = fake_razorpay.subscriptions[sub_id]
    halted = fake_razorpay.event("subscription.halted", subscription=dict(entity, status="halted"),
                                 created=now + 100)
    assert razorpay_post(client, halted, "ev_2").status_code == 200
    assert _fresh(db, Subscription, subscription.id).status == "past_due"

    stale = fake_razorpay.event("subscription.activated", subscription=entity, created=now + 50)
    assert razorpay_post(client, stale, "ev_3").status_code == 200
    assert _fresh(db, Subscription, subscription.id).status == "past_due"
    assert db.session.query(PaymentEvent).filter_by(event_id="ev_3").one().outcome == "ignored"

    row = _fresh(db, Subscription, subscription.id)
    row.status = "active"
    db.session.commit()
    failed = fake_razorpay.event("payment.failed", payment={
        "id": "pay_failed1", "entity": "payment", "status": "failed", "amount": 399900,
        "currency": "INR", "subscription_id": sub_id}, created=now + 200)
    assert razorpay_post(client, failed, "ev_4").status_code == 200
    assert _fresh(db, Subscription, subscription.id).status == "past_due"


def test_cancelled_suspends_and_a_later_charge_resumes(app, db, client, razorpay_ready,
                                                       fake_razorpay):
    workspace, subscription, _price = razorpay_ready
    _url, sub_id = _started(app, db, razorpay_ready)
    now = int(time.time())
    razorpay_post(client, fake_razorpay.charge(sub_id, at=now)["subscription.charged"], "ev_1")
    entity = dict(fake_razorpay.subscriptions[sub_id], status="cancelled")
    cancelled = fake_razorpay.event("subscription.cancelled", subscription=entity,
                                    created=now + 10)
    assert razorpay_post(client, cancelled, "ev_2").status_code == 200
    ws = _fresh(db, Workspace, workspace.id)
    assert (ws.status, ws.suspended_reason) == ("suspended", canceled_reason("en"))
    assert _fresh(db, Subscription, subscription.id).status == "canceled"
    again = fake_razorpay.charge(sub_id, at=now + 40 * 86400)["subscription.charged"]
    assert razorpay_post(client, again, "ev_3").status_code == 200
    assert _fresh(db, Workspace, workspace.id).status == "active"


def test_unknown_workspace_unknown_type_and_strange_content_are_stored(
        app, db, client, razorpay_ready, fake_razorpay):
    ghost = fake_razorpay.event("subscription.charged", subscription={
        "id": "sub_ghost", "notes": {"workspace_id": "999999"}, "plan_id": "plan_x"},
        payment={"id": "pay_ghost", "amount": 1, "currency": "INR"})
    assert razorpay_post(client, ghost, "ev_1").status_code == 200
    assert razorpay_post(client, {"event": "order.paid", "payload": {}}, "ev_2").status_code == 200
    strange = {"event": "subscription.charged", "payload": {"subscription": [1],
                                                            "payment": "x"}}
    assert razorpay_post(client, strange, "ev_3").status_code == 200
    outcomes = {e.event_id: e.outcome for e in db.session.query(PaymentEvent)}
    assert outcomes == {"ev_1": "unknown_workspace", "ev_2": "unhandled",
                        "ev_3": "unknown_workspace"}
    for body in ("{not json", "[]", '{"event": 5}'):
        assert razorpay_post(client, {}, "ev_9", body=body).status_code == 400


def test_payment_ids_reach_no_answer_and_no_log_line(app, db, client, razorpay_ready,
                                                     fake_razorpay, caplog):
    caplog.set_level(logging.DEBUG)
    _url, sub_id = _started(app, db, razorpay_ready)
    charged = fake_razorpay.charge(sub_id)["subscription.charged"]
    answer = razorpay_post(client, charged, "ev_1")
    payment_id = charged["payload"]["payment"]["entity"]["id"]
    texts = [answer.get_data(as_text=True)] + [r.getMessage() for r in caplog.records]
    texts += [e.detail or "" for e in db.session.query(PaymentEvent)]
    for secret in (sub_id, payment_id):
        assert not any(secret in text for text in texts)
