"""The fake Razorpay API answers the official SDK as Razorpay does (no database needed)."""
from __future__ import annotations

import pytest
import razorpay


@pytest.fixture
def api(fake_razorpay):
    fake_razorpay.add_plan("plan_1", amount=49900)
    return razorpay.Client(auth=("rzp_test_fake", "fake-secret"), base_url=fake_razorpay.url)


def test_a_subscription_is_created_and_charged(api, fake_razorpay):
    created = api.subscription.create({"plan_id": "plan_1", "total_count": 12,
                                       "customer_notify": 1, "notes": {"workspace_id": "3"}})
    assert created["status"] == "created" and created["short_url"].startswith("https://rzp.io/")
    events = fake_razorpay.charge(created["id"], at=1_800_000_000)
    charged = events["subscription.charged"]
    assert charged["payload"]["payment"]["entity"]["amount"] == 49900
    assert charged["payload"]["subscription"]["entity"]["notes"] == {"workspace_id": "3"}
    assert set(events) == {"subscription.charged", "subscription.activated"}
    assert set(fake_razorpay.charge(created["id"])) == {"subscription.charged"}


def test_errors_are_raised_by_the_sdk_as_razorpay_answers_them(api, fake_razorpay):
    with pytest.raises(razorpay.errors.BadRequestError):
        api.subscription.create({"plan_id": "plan_nope", "total_count": 12})
    with pytest.raises(razorpay.errors.BadRequestError):
        api.subscription.create({"plan_id": "plan_1"})
    wrong = razorpay.Client(auth=("rzp_test_fake", "nope"), base_url=fake_razorpay.url)
    with pytest.raises(razorpay.errors.BadRequestError):
        wrong.subscription.create({"plan_id": "plan_1", "total_count": 1})
