"""The sign-up journey in a real browser (CSRF on, the app in its own gunicorn process).

A visitor opens the sign-in page, follows "Create an account", fills the form (a weak password
first: refused beside its field, everything else kept), reads the confirmation mail (queued by
the server in Redis, delivered here by running the job into the memory backend), confirms,
chooses a plan and pays:

* the manual path: a paid plan, a bank transfer's reference → "waiting for approval", and every
  workspace screen leads back to that page;
* the free plan: straight to the home page with a welcome;
* Stripe: this live server has no STRIPE_SECRET_KEY, so the payment page offers no Stripe
  button; tests/browser/test_signup_stripe.py drives the card path against the fake Stripe.

No page logs a JavaScript error. Screenshots go to test-artifacts/signup-*.png.
"""
from __future__ import annotations

from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from tests.integration.signup_support import (PASSWORD, add_paid_plan_extras, confirm_path,
                                              deliver_signup_mail)

pytestmark = pytest.mark.browser


class Problems:
    """JavaScript errors and uncaught exceptions of a page."""

    def __init__(self, page):
        self.seen: list[str] = []
        page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in
                m.text and self.seen.append(f"{page.url}: console error: {m.text}"))
        page.on("pageerror", lambda exc: self.seen.append(f"{page.url}: uncaught: {exc}"))


def shot(page, artifacts_dir, name):
    page.screenshot(path=str(artifacts_dir / f"signup-{name}.png"), full_page=True)


def submit(page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).click()
    page.wait_for_load_state("load")


def register_and_confirm(app, page, artifacts_dir, email: str, workspace: str) -> None:
    """From the sign-in page to the plan step, as a person does it."""
    page.goto("/login/")
    submit(page, "#signup-link")
    assert page.url.endswith("/signup/")
    page.fill("#full_name", "Ana Lima")
    page.fill("#email", email)
    page.fill("#password", "password2024")
    page.fill("#workspace_name", workspace)
    submit(page, "#signup-submit")
    expect(page.locator("#group-password .field-error")).to_contain_text("too common")
    assert page.locator("#email").input_value() == email
    assert page.locator("#workspace_name").input_value() == workspace
    shot(page, artifacts_dir, "1-refused")
    page.fill("#password", PASSWORD)
    submit(page, "#signup-submit")
    expect(page.locator("#signup-check-mail")).to_contain_text(email)
    shot(page, artifacts_dir, "2-check-mail")
    [mail] = deliver_signup_mail(app)
    assert mail.to == email
    page.goto(confirm_path(mail))
    assert page.url.endswith("/signup/plan")
    expect(page.locator("body")).to_contain_text("Your e-mail address is confirmed")


@pytest.fixture
def offer(app, redis_conn):
    return add_paid_plan_extras(app)


def test_manual_payment_path(app, new_page, offer, artifacts_dir):
    page = new_page()
    problems = Problems(page)
    register_and_confirm(app, page, artifacts_dir, "ana.manual@example.org", "Ana Manual SMM")
    cards = page.locator(".plan-card")
    assert cards.count() == 4  # the hidden plan is not offered
    expect(page.locator(".plan-card[data-plan='starter']")).to_contain_text("19.00 USD")
    page.select_option("#currency", "EUR")
    submit(page, "#show-currency")
    expect(page.locator(".plan-card[data-plan='starter']")).to_contain_text("180.00 EUR")
    page.select_option("#panel_type", "rentalpanel_v1")
    page.check("#interval-year")
    shot(page, artifacts_dir, "3-plans")
    submit(page, "#choose-starter")
    assert page.url.endswith("/signup/pay")
    expect(page.locator("#pay-summary")).to_contain_text("180.00 EUR")
    expect(page.locator(".payment-instructions")).to_contain_text("IBAN XX00 1234")
    assert page.locator("#pay-stripe").count() == 0  # no STRIPE_SECRET_KEY: no button
    assert page.locator("#amount").input_value() == "180.00"
    page.fill("#amount", "-5")
    submit(page, "#send-reference")
    expect(page.locator("#group-amount .field-error")).to_contain_text("at least 0")
    page.fill("#amount", "180.00")
    page.fill("#reference", "SEPA-2026-0042")
    page.fill("#note", "Sent from Ana Lima's account")
    shot(page, artifacts_dir, "4-pay")
    submit(page, "#send-reference")
    assert page.url.endswith("/signup/status")
    expect(page.locator("#status-waiting")).to_contain_text("waiting for approval")
    expect(page.locator("#status-reference")).to_contain_text("SEPA-2026-0042")
    expect(page.locator("#status-amount")).to_contain_text("180.00 EUR")
    shot(page, artifacts_dir, "5-status")
    page.goto("/channelview/list/")  # a workspace screen: back to the status page
    assert page.url.endswith("/signup/status")
    page.goto("/users/userinfo/")  # the account stays reachable
    assert page.url.endswith("/users/userinfo/")
    assert not problems.seen, problems.seen


def test_free_plan_path(app, new_page, offer, artifacts_dir):
    page = new_page()
    problems = Problems(page)
    register_and_confirm(app, page, artifacts_dir, "ana.free@example.org", "Ana Free SMM")
    submit(page, "#choose-free")
    assert urlparse(page.url).path == "/"  # the home page
    expect(page.locator("body")).to_contain_text("Welcome to Relaydesk")
    shot(page, artifacts_dir, "6-free-home")
    page.goto("/channelview/list/")
    assert page.url.endswith("/channelview/list/")
    assert not problems.seen, problems.seen


def test_stripe_button_is_absent_without_its_key(app, new_page, offer, artifacts_dir):
    from app.extensions import db
    from app.models import PlanPrice

    with app.app_context():
        for price in db.session.query(PlanPrice).filter_by(currency="USD"):
            price.stripe_price_id = f"price_{price.id}"
        db.session.commit()
    page = new_page()
    register_and_confirm(app, page, artifacts_dir, "ana.card@example.org", "Ana Card SMM")
    submit(page, "#choose-pro")
    assert page.url.endswith("/signup/pay")
    assert page.locator("#pay-stripe").count() == 0
    assert page.locator("#pay-razorpay").count() == 0
    expect(page.locator("#payment-form")).to_be_visible()
