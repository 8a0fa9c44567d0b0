"""The fake Stripe API answers the official SDK as Stripe does (no database needed)."""
from __future__ import annotations

import pytest
import stripe

from tests.fakes.stripe import decode_form


@pytest.fixture
def sdk(fake_stripe, monkeypatch):
    monkeypatch.setattr(stripe, "api_base", fake_stripe.url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    fake_stripe.add_price("price_1", amount=1900)
    return fake_stripe


def test_bracket_notation_is_decoded_into_lists_and_dicts():
    assert decode_form({"line_items[0][price]": "p", "line_items[0][quantity]": "1",
                        "metadata[a]": "b", "mode": "subscription"}) == {
        "line_items": [{"price": "p", "quantity": "1"}], "metadata": {"a": "b"},
        "mode": "subscription"}


def test_a_checkout_session_and_its_completion(sdk):
    session = stripe.checkout.Session.create(
        api_key="sk_test_fake", mode="subscription", success_url="https://a/",
        line_items=[{"price": "price_1", "quantity": 1}], client_reference_id="7",
        subscription_data={"metadata": {"workspace_id": "7"}}, customer_email="a@b.example")
    assert session.url.startswith("https://checkout.stripe.com/") and session.status == "open"
    events = sdk.complete_checkout(session.id)
    invoice = events["invoice.paid"]["data"]["object"]
    details = invoice["parent"]["subscription_details"]
    assert details["metadata"] == {"workspace_id": "7"}
    assert events["checkout.session.completed"]["data"]["object"]["payment_status"] == "paid"
    subscription = stripe.Subscription.retrieve(details["subscription"], api_key="sk_test_fake")
    assert subscription["items"]["data"][0]["price"]["id"] == "price_1"


@pytest.mark.parametrize("params, error", [
    ({"mode": "subscription", "success_url": "https://a/",
      "line_items": [{"price": "price_nope"}]}, "No such price"),
    ({"success_url": "https://a/", "line_items": [{"price": "price_1"}]}, "mode"),
    ({"mode": "subscription", "success_url": "https://a/", "customer": "cus_x",
      "customer_email": "a@b.example", "line_items": [{"price": "price_1"}]}, "only specify"),
])
def test_invalid_requests_are_refused_as_stripe_does(sdk, params, error):
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe.checkout.Session.create(api_key="sk_test_fake", **params)
    assert error in str(refused.value)


def test_a_wrong_key_is_an_authentication_error(sdk):
    with pytest.raises(stripe.AuthenticationError):
        stripe.billing_portal.Session.create(api_key="sk_test_other", customer="cus_x")


def test_portal_and_subscription_change(sdk):
    sdk.add_price("price_2", amount=2900)
    session = stripe.checkout.Session.create(
        api_key="sk_test_fake", mode="subscription", success_url="https://a/",
        line_items=[{"price": "price_1"}])
    events = sdk.complete_checkout(session.id)
    completed = events["checkout.session.completed"]["data"]["object"]
    portal = stripe.billing_portal.Session.create(api_key="sk_test_fake",
                                                  customer=completed["customer"],
                                                  return_url="https://a/")
    assert portal.url.startswith("https://billing.stripe.com/")
    item = sdk.subscriptions[completed["subscription"]]["items"]["data"][0]["id"]
    changed = stripe.Subscription.modify(completed["subscription"], api_key="sk_test_fake",
                                         items=[{"id": item, "price": "price_2"}],
                                         proration_behavior="create_prorations")
    assert changed["items"]["data"][0]["price"]["id"] == "price_2"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.Subscription.modify(completed["subscription"], api_key="sk_test_fake",
                                   items=[{"id": "si_nope", "price": "price_2"}])
