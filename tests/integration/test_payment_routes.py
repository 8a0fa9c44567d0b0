"""The manager's payment buttons (app/views/payments.py): POST /billing/stripe/portal,
/billing/stripe/checkout and /billing/razorpay/start — manager only, own workspace, CSRF,
redirects to the provider or back with the reason in words."""
from __future__ import annotations

import re

import pytest
from flask import render_template_string

from app.models import Subscription, Workspace
from tests.integration.payment_support import (configure, pro_price, stripe_post,
                                               waiting_workspace)

BILLING = "/billing/"


@pytest.fixture
def ready(app, db, factory, auth, redis_conn, fake_stripe, fake_razorpay, monkeypatch):
    configure(app, monkeypatch, fake_stripe=fake_stripe, fake_razorpay=fake_razorpay)
    workspace, subscription, price = waiting_workspace(db, factory)
    auth.login("acme-manager")
    return workspace, subscription, price


def _flashes(client) -> str:
    return client.get(BILLING).get_data(as_text=True)


def test_checkout_redirects_to_stripe_with_the_workspace(client, db, ready, fake_stripe):
    workspace, _subscription, price = ready
    answer = client.post("/billing/stripe/checkout", data={"price": price.id})
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("https://checkout.stripe.com/c/pay/")
    session = list(fake_stripe.sessions.values())[-1]
    assert session["client_reference_id"] == str(workspace.id)
    assert session["success_url"].endswith(BILLING)


def test_razorpay_start_redirects_to_the_hosted_page(client, db, ready, fake_razorpay):
    _workspace, subscription, price = ready
    answer = client.post("/billing/razorpay/start", data={"price": price.id})
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("https://rzp.io/")
    db.session.expire_all()
    row = db.session.get(Subscription, subscription.id)
    assert row.razorpay_subscription_id and row.payment_method == "razorpay"


def test_portal_opens_for_a_stripe_customer_and_explains_otherwise(app, client, db, ready,
                                                                   fake_stripe):
    workspace, subscription, price = ready
    answer = client.post("/billing/stripe/portal")
    assert answer.status_code == 302 and answer.headers["Location"].endswith(BILLING)
    assert "no card subscription to manage yet" in _flashes(client)

    client.post("/billing/stripe/checkout", data={"price": price.id})
    session_id = list(fake_stripe.sessions)[-1]
    events = fake_stripe.complete_checkout(session_id)
    stripe_post(client, events["checkout.session.completed"])
    answer = client.post("/billing/stripe/portal")
    assert answer.headers["Location"].startswith("https://billing.stripe.com/p/session/")


def test_a_running_stripe_subscription_changes_plan_in_place(client, db, ready, fake_stripe):
    _workspace, _subscription, price = ready
    client.post("/billing/stripe/checkout", data={"price": price.id})
    events = fake_stripe.complete_checkout(list(fake_stripe.sessions)[-1])
    for kind in ("checkout.session.completed", "invoice.paid"):
        stripe_post(client, events[kind])
    sessions = len(fake_stripe.sessions)
    answer = client.post("/billing/stripe/checkout", data={"price": price.id})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(BILLING)
    assert len(fake_stripe.sessions) == sessions  # no second Checkout
    assert fake_stripe.count("POST", "/v1/subscriptions/*") == 1
    assert "Plan change sent to Stripe" in _flashes(client)


@pytest.mark.parametrize("price_value", ["", "abc", "999999"])
def test_a_price_that_is_not_offered_is_refused_in_words(client, db, ready, fake_stripe,
                                                         price_value):
    for url in ("/billing/stripe/checkout", "/billing/razorpay/start"):
        answer = client.post(url, data={"price": price_value})
        assert answer.status_code == 302 and answer.headers["Location"].endswith(BILLING)
        assert "Choose one of the plans offered." in _flashes(client)
    assert not fake_stripe.sessions


def test_an_unconfigured_provider_is_refused_in_words(app, client, db, ready, monkeypatch):
    _workspace, _subscription, price = ready
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "")
    monkeypatch.setitem(app.config, "RAZORPAY_KEY_ID", "")
    client.post("/billing/stripe/checkout", data={"price": price.id})
    assert "Card payments through Stripe are not available" in _flashes(client)
    client.post("/billing/razorpay/start", data={"price": price.id})
    assert "Payments through Razorpay are not available" in _flashes(client)


def test_only_a_manager_of_a_workspace_may_start_a_payment(app, client, db, factory, auth,
                                                           ready, fake_stripe):
    workspace, _subscription, price = ready
    factory.member(workspace, "acme-agent", role="agent")
    factory.admin("root")
    for who in ("acme-agent", "root"):
        auth.logout()
        auth.login(who)
        for url in ("/billing/stripe/checkout", "/billing/razorpay/start",
                    "/billing/stripe/portal"):
            answer = client.post(url, data={"price": price.id})
            assert answer.status_code in (403, 404), (who, url, answer.status_code)
    auth.logout()
    assert client.post("/billing/stripe/checkout", data={"price": price.id}).status_code in (
        302, 401, 403)
    assert not fake_stripe.sessions


def test_each_manager_pays_for_their_own_workspace(client, db, factory, auth, ready,
                                                   fake_stripe):
    acme, _subscription, price = ready
    other, _other_sub, _ = waiting_workspace(db, factory, slug="globex")
    auth.logout()
    auth.login("globex-manager")
    client.post("/billing/stripe/checkout", data={"price": price.id})
    session = list(fake_stripe.sessions.values())[-1]
    assert session["client_reference_id"] == str(other.id) != str(acme.id)


def test_the_buttons_need_the_csrf_token(app, client, db, ready, monkeypatch, fake_stripe):
    _workspace, _subscription, price = ready
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    assert client.post("/billing/stripe/checkout", data={"price": price.id}).status_code == 400
    assert not fake_stripe.sessions


def test_the_button_macro_renders_forms_with_csrf_for_the_configured_providers(app, db, ready):
    _workspace, subscription, price = ready
    from app.views.payments import payment_options

    template = ('{% from "relaydesk/payment_buttons.html" import payment_buttons %}'
                '{{ payment_buttons(options, prices) }}')
    with app.test_request_context():
        html = render_template_string(template, options=payment_options(subscription),
                                      prices=[price])
        assert 'action="/billing/stripe/checkout"' in html
        assert 'formaction="/billing/razorpay/start"' in html
        assert 'id="stripe-portal"' not in html  # no Stripe customer yet
        assert len(re.findall(r'name="csrf_token"', html)) == 1
        app.config["STRIPE_SECRET_KEY"], saved = "", app.config["STRIPE_SECRET_KEY"]
        try:
            html = render_template_string(template, options=payment_options(subscription),
                                          prices=[price])
        finally:
            app.config["STRIPE_SECRET_KEY"] = saved
        assert 'id="stripe-checkout"' not in html and 'id="razorpay-start"' in html


def test_a_working_workspace_keeps_working_while_it_goes_to_pay(client, db, ready, factory,
                                                                auth):
    """An active (e.g. free) workspace that opens Checkout is not put on hold by it."""
    from app import billing

    workspace, subscription, price = ready
    row = db.session.get(Subscription, subscription.id)
    billing.activate(row, start=None, end=None)
    db.session.commit()
    client.post("/billing/stripe/checkout", data={"price": pro_price(db).id})
    db.session.expire_all()
    assert db.session.get(Workspace, workspace.id).status == "active"
    assert db.session.get(Subscription, subscription.id).status == "active"
