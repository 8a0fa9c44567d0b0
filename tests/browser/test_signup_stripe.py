"""The sign-up journey paid by card, in a real browser: Stripe up to the redirect, then the
webhook signed locally.

A second gunicorn serves the app with Stripe configured (STRIPE_SECRET_KEY, the webhook secret)
and STRIPE_API_BASE pointed at the fake Stripe API (tests/fakes/stripe.py), which runs in this
test process. A visitor registers, confirms the e-mail, picks the Pro plan monthly, chooses
"Pay with Stripe": the app creates a Checkout Session at the fake and redirects the browser to
its URL on checkout.stripe.com. That navigation is answered by `page.route` (nothing leaves the
machine: every request to another host is aborted). Then what paying there does is played by the
fake (`complete_checkout`), and its events are signed here as Stripe signs them
(`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the webhook secret>`)
and POSTed over HTTP to the live server's /webhooks/stripe. The browser then comes back to the
success page, finds the workspace open and the invoice (and its PDF) on the Billing page.

Screenshots go to test-artifacts/signup-stripe-*.png.
"""
from __future__ import annotations

import hashlib
import hmac
import html
import json
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Invoice, PaymentEvent, Plan, PlanPrice, Subscription, Workspace
from tests.browser.conftest import page_opener, serve_app
from tests.browser.test_signup_journey import Problems, register_and_confirm, submit
from tests.fakes.stripe import FakeStripe

pytestmark = pytest.mark.browser

STRIPE_KEY = "sk_test_browser"
STRIPE_WHSEC = "whsec_test_browser_journey"
CHECKOUT_PREFIX = "https://checkout.stripe.com/c/pay/"


@pytest.fixture(scope="module")
def fake_stripe_api():
    with FakeStripe(secret_key=STRIPE_KEY) as fake:
        yield fake
        assert not fake.errors, fake.errors


@pytest.fixture(scope="module")
def stripe_server(app, artifacts_dir, tmp_path_factory, fake_stripe_api):
    """Base URL of the app with Stripe configured against the fake."""
    with serve_app(artifacts_dir, tmp_path_factory.mktemp("stripe-server-instance"),
                   log_name="browser-server-stripe",
                   extra_env={"STRIPE_SECRET_KEY": STRIPE_KEY,
                              "STRIPE_WEBHOOK_SECRET": STRIPE_WHSEC,
                              "STRIPE_API_BASE": fake_stripe_api.url}) as base_url:
        yield base_url


@pytest.fixture
def stripe_page(browser, stripe_server):
    """Pages on the Stripe-configured server. Requests to any other host never leave: Stripe
    Checkout's pages are answered by a stand-in page (and recorded in `page.checkout_hits`),
    anything else is aborted."""
    open_page, close_all = page_opener(browser, stripe_server)

    def open_local():
        page = open_page()
        page.checkout_hits = []  # the Checkout URLs the browser was sent to
        page.pay_answers = []  # (status, Location) of the app's answers to "Pay with Stripe"
        host = urlparse(stripe_server).netloc

        def elsewhere(route):
            if route.request.url.startswith(CHECKOUT_PREFIX):
                page.checkout_hits.append(route.request.url)
                route.fulfill(status=200, content_type="text/html",
                              body="<!doctype html><title>Stripe Checkout</title>"
                                   "<h1 id='fake-checkout'>Stripe Checkout (test stand-in)</h1>")
            else:
                route.abort()

        def redirecting(route):
            # Playwright routes only the first request of a redirect chain, so the browser would
            # follow the app's 303 to the real checkout.stripe.com. The app's answer is fetched
            # here instead (kept in `page.pay_answers`) and the browser goes to its Location by
            # a page of its own, a navigation that `elsewhere` answers.
            answer = route.fetch(max_redirects=0)
            location = answer.headers.get("location", "")
            page.pay_answers.append((answer.status, location))
            if answer.status != 303:
                route.fulfill(response=answer)
                return
            route.fulfill(status=200, content_type="text/html",
                          body=f"<!doctype html><meta http-equiv='refresh' "
                               f"content='0;url={html.escape(location, quote=True)}'>")

        page.route(lambda url: urlparse(url).netloc != host, elsewhere)
        page.route("**/signup/pay/stripe", redirecting)
        return page

    yield open_local
    close_all()


@pytest.fixture
def pro_month(app, redis_conn, fake_stripe_api):
    """The public plans and the bank method (as the other sign-up tests have them), every USD
    price with a Stripe price known to the fake; returns the Pro monthly USD price."""
    from tests.integration.signup_support import add_paid_plan_extras

    add_paid_plan_extras(app)
    with app.app_context():
        for price in db.session.query(PlanPrice).filter_by(currency="USD"):
            if price.amount_cents:
                price.stripe_price_id = f"price_browser_{price.id}"
                fake_stripe_api.add_price(price.stripe_price_id, amount=price.amount_cents,
                                          currency="usd", interval=price.interval)
        db.session.commit()
        pro = db.session.query(Plan).filter_by(code="pro").one()
        price = db.session.query(PlanPrice).filter_by(plan_id=pro.id, currency="USD",
                                                      interval="month").one()
        return {"id": price.id, "stripe_price_id": price.stripe_price_id,
                "amount_cents": price.amount_cents}


def sign(body: str, secret: str = STRIPE_WHSEC, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for `body` (docs/external-apis.md 5)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def post_event(base_url: str, event: dict, *, secret: str = STRIPE_WHSEC) -> tuple[int, str]:
    """POST a signed event to the live server; (status, body)."""
    body = json.dumps(event)
    request = urllib.request.Request(  # noqa: S310 - the loopback test server
        f"{base_url}/webhooks/stripe", data=body.encode(), method="POST",
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, secret)})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:  # noqa: S310
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


def pay_by_card(app, page, artifacts_dir, base_url: str, email: str, name: str):
    """Register, confirm, choose Pro monthly, click "Pay with Stripe": the Checkout Session the
    browser was sent to, and the workspace's id."""
    register_and_confirm(app, page, artifacts_dir, email, name)
    page.check("#interval-month")
    submit(page, "#choose-pro")
    assert page.url.endswith("/signup/pay")
    expect(page.locator("#pay-stripe")).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "signup-stripe-1-pay.png"), full_page=True)
    page.locator("#pay-stripe").click()
    page.wait_for_url(f"{CHECKOUT_PREFIX}**")
    [(status, location)] = page.pay_answers
    assert (status, location) == (303, page.url)
    expect(page.locator("#fake-checkout")).to_be_visible()
    assert page.checkout_hits == [page.url]
    with app.app_context():
        workspace = db.session.query(Workspace).filter_by(name=name).one()
        return page.url.rsplit("/", 1)[1], workspace.id


def assert_session(fake, session_id: str, workspace_id: int, price: dict, base_url: str) -> None:
    session = fake.sessions[session_id]
    assert session["mode"] == "subscription"
    assert session["client_reference_id"] == str(workspace_id)
    assert session["_line_items"] == [{"price": price["stripe_price_id"], "quantity": "1"}]
    assert session["metadata"] == {"workspace_id": str(workspace_id),
                                   "plan_price_id": str(price["id"])}
    host = urlparse(base_url).netloc
    success, cancel = urlparse(session["success_url"]), urlparse(session["cancel_url"])
    assert (success.netloc, success.path) == (host, "/signup/stripe/success")
    assert (cancel.netloc, cancel.path) == (host, "/signup/pay")


def workspace_state(app, workspace_id: int) -> tuple[str, str | None, int]:
    with app.app_context():
        workspace = db.session.get(Workspace, workspace_id)
        subscription = db.session.query(Subscription).filter_by(
            workspace_id=workspace_id).one_or_none()
        invoices = db.session.query(Invoice).filter_by(workspace_id=workspace_id).count()
        return (workspace.status, subscription.status if subscription else None, invoices)


def test_card_signup_redirects_to_checkout_and_the_signed_webhook_opens_the_workspace(
        app, stripe_page, stripe_server, fake_stripe_api, pro_month, artifacts_dir):
    page = stripe_page()
    problems = Problems(page)
    session_id, workspace_id = pay_by_card(app, page, artifacts_dir, stripe_server,
                                           "ana.stripe@example.org", "Ana Stripe SMM")
    assert_session(fake_stripe_api, session_id, workspace_id, pro_month, stripe_server)
    assert fake_stripe_api.sessions[session_id]["customer_email"] == "ana.stripe@example.org"
    assert workspace_state(app, workspace_id) == ("pending", "pending_payment", 0)

    # Back from Checkout before Stripe's events arrived: waiting for the confirmation.
    page.goto("/signup/stripe/success")
    assert page.url.endswith("/signup/status")
    expect(page.locator("#status-gateway-waiting")).to_contain_text("Stripe")

    events = fake_stripe_api.complete_checkout(session_id)
    for kind in ("checkout.session.completed", "customer.subscription.created",
                 "invoice.paid"):
        assert post_event(stripe_server, events[kind])[0] == 200, kind
    assert workspace_state(app, workspace_id) == ("active", "active", 1)

    page.goto("/signup/stripe/success")  # the workspace is open: home, no more status page
    assert urlparse(page.url).path == "/"
    page.goto("/channelview/list/")
    assert page.url.endswith("/channelview/list/")
    page.goto("/billing/")
    expect(page.locator("#billing-status")).to_contain_text("Active")
    rows = page.locator("#billing-invoices tbody tr")
    expect(rows).to_have_count(1)
    amount = f"{pro_month['amount_cents'] / 100:.2f} USD"
    expect(rows.first).to_contain_text(amount)
    expect(rows.first).to_contain_text("Paid")
    page.screenshot(path=str(artifacts_dir / "signup-stripe-2-billing.png"), full_page=True)
    pdf = page.request.get(rows.first.locator("a.invoice-pdf").get_attribute("href"))
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    assert not problems.seen, problems.seen


def test_a_forged_signature_is_refused_and_a_repeated_event_makes_one_invoice(
        app, stripe_page, stripe_server, fake_stripe_api, pro_month, artifacts_dir):
    page = stripe_page()
    session_id, workspace_id = pay_by_card(app, page, artifacts_dir, stripe_server,
                                           "ana.forged@example.org", "Ana Forged SMM")
    assert_session(fake_stripe_api, session_id, workspace_id, pro_month, stripe_server)
    events = fake_stripe_api.complete_checkout(session_id)

    for kind in ("checkout.session.completed", "invoice.paid"):
        status, _body = post_event(stripe_server, events[kind], secret="whsec_forged")
        assert status == 400, kind
    assert workspace_state(app, workspace_id) == ("pending", "pending_payment", 0)
    with app.app_context():
        assert db.session.query(PaymentEvent).count() == 0
    page.goto("/signup/stripe/success")
    expect(page.locator("#status-gateway-waiting")).to_be_visible()
    page.goto("/channelview/list/")  # still closed: back to the status page
    assert page.url.endswith("/signup/status")

    assert post_event(stripe_server, events["invoice.paid"])[0] == 200
    assert post_event(stripe_server, events["invoice.paid"])[0] == 200  # Stripe retries
    assert workspace_state(app, workspace_id) == ("active", "active", 1)
    with app.app_context():
        assert db.session.query(PaymentEvent).count() == 1
    page.goto("/billing/")
    expect(page.locator("#billing-invoices tbody tr")).to_have_count(1)
