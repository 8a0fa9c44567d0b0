"""The sign-up journey through its pages (app/signup/): register, confirm, plan, pay, status.

Every path goes through the pages with the test client as a person would; mail is queued as an
RQ job and delivered here to the memory backend. Bad input of every kind gets a clear answer
beside its field (or a page saying what is wrong), never a 500, and the answer to a sign-up
never tells whether the address has an account.
"""
from __future__ import annotations

import re
import sys
import time
import types

import pytest
from itsdangerous import TimestampSigner

from app.extensions import db
from app.models import (PanelConnection, PaymentSubmission, Subscription, Workspace,
                        WorkspaceMember, WorkspaceSettings)
from tests.integration.signup_support import (PASSWORD, add_paid_plan_extras, confirm_path,
                                              deliver_signup_mail, field_errors, signup_data)
from tests.integration.team_support import signed_in

pytestmark = pytest.mark.usefixtures("redis_conn")


@pytest.fixture
def extras(app):
    return add_paid_plan_extras(app)


def sign_up(client, **overrides):
    return client.post("/signup/", data=signup_data(**overrides))


class Login(types.SimpleNamespace):
    """A login's state as plain values (no ORM object leaves the context)."""


def login(app, email="ana@example.org"):
    with app.app_context():
        user = app.appbuilder.sm.find_user(email=email)
        if user is None:
            return None
        return Login(active=user.active, username=user.username,
                     roles=[role.name for role in user.roles])


def confirmed_client(app, client, **overrides):
    """A sign-up taken to the plan step: the client is signed in."""
    assert sign_up(client, **overrides).status_code == 200
    [mail] = deliver_signup_mail(app)
    response = client.get(confirm_path(mail))
    assert response.status_code == 302 and response.headers["Location"].endswith("/signup/plan")
    return client


def workspace_row(app, slug="ana-smm") -> dict:
    with app.app_context():
        ws = db.session.query(Workspace).filter_by(slug=slug).one()
        sub = db.session.query(Subscription).filter_by(workspace_id=ws.id).one_or_none()
        return {"id": ws.id, "status": ws.status, "plan_id": ws.plan_id, "language": ws.language,
                "subscription": sub and (sub.status, sub.payment_method, sub.currency,
                                         sub.interval, sub.amount_cents)}


def choose(client, plan_id, currency="USD", interval="month", panel_type="perfectpanel_v2"):
    return client.post("/signup/plan", data={"plan": plan_id, "currency": currency,
                                             "interval": interval, "panel_type": panel_type})


# --- 1. the form --------------------------------------------------------------------------------

def test_signup_page_and_the_login_link(client):
    page = client.get("/signup/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for field in ("full_name", "email", "password", "workspace_name", "slug", "language"):
        assert f'id="group-{field}"' in html
    assert 'href="/signup/"' in client.get("/login/").get_data(as_text=True)


def test_signup_turned_off_says_so_without_a_form(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_ENABLED", False)
    page = client.get("/signup/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="signup-closed"' in html
    assert "signup-form" not in html
    assert client.post("/signup/", data=signup_data()).status_code == 200
    assert login(app) is None
    assert 'href="/signup/"' not in client.get("/login/").get_data(as_text=True)


def test_signup_makes_an_inactive_login_and_sends_the_confirmation(app, client):
    response = sign_up(client, email="Ana@Example.org")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="signup-check-mail"' in html
    assert "ana@example.org" in html
    user = login(app)
    assert user is not None and not user.active and user.username == "ana@example.org"
    assert user.roles == ["WorkspaceManager"]
    [mail] = deliver_signup_mail(app)
    assert mail.to == "ana@example.org" and "Confirm your e-mail address" in mail.subject
    assert "/signup/confirm/" in mail.body and "Ana" in mail.body
    # an inactive login cannot sign in yet
    assert "/login/" in client.post("/login/", data={"username": "ana@example.org",
                                                     "password": PASSWORD}).headers["Location"]


@pytest.mark.parametrize("field,value,expected", [
    ("email", "not an address", "name@example.com"),
    ("email", "", "required"),
    ("password", "password2024", "too common"),
    ("password", "short", "at least 10"),
    ("password", "ana@example.org-long", "username"),
    ("workspace_name", "", "required"),
    ("slug", "Acme Shop!", "lowercase"),
    ("full_name", "", "required"),
    ("language", "xx", "Not a valid choice"),
])
def test_bad_input_is_refused_beside_its_field_and_kept(app, client, field, value, expected):
    response = sign_up(client, **{field: value})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="signup-form"' in html
    errors = " ".join(field_errors(html, field))
    assert expected.lower() in errors.lower(), errors
    if field != "full_name":
        assert 'value="Ana Lima"' in html  # what was typed stays
    if field != "password":
        assert PASSWORD not in html  # a password is never written back
    assert login(app) is None and deliver_signup_mail(app) == []


def test_a_taken_address_is_refused_a_derived_one_gets_a_free_variant(app, client, factory):
    factory.workspace("ana-smm")
    html = sign_up(client, slug="ana-smm").get_data(as_text=True)
    assert "taken" in " ".join(field_errors(html, "slug"))
    assert 'value="ana-smm"' in html
    assert sign_up(client).status_code == 200  # empty: made from the name, and free
    [mail] = deliver_signup_mail(app)
    client.get(confirm_path(mail))
    assert workspace_row(app, "ana-smm-2")["status"] == "pending"


def test_csrf_is_required(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = sign_up(client)
    assert response.status_code == 400 and 'id="error-page"' in response.get_data(as_text=True)
    assert login(app) is None


def test_no_account_enumeration(app, client, factory):
    factory.user("known", "WorkspaceManager", email="known@example.org")
    new = sign_up(client, email="fresh@example.org")
    known = sign_up(client, email="known@example.org", slug="known-ws")
    def strip(response, email):
        return re.sub(r'nonce="[^"]+"', "", response.get_data(as_text=True).replace(email, "@"))

    assert new.status_code == known.status_code == 200
    assert strip(new, "fresh@example.org") == strip(known, "known@example.org")
    mails = {m.to: m for m in deliver_signup_mail(app)}
    assert "/signup/confirm/" in mails["fresh@example.org"].body
    existing = mails["known@example.org"]
    assert "already has an account" in existing.body and "/login/" in existing.body
    assert "/password/forgot/" in existing.body and "/signup/confirm/" not in existing.body
    assert login(app, "known@example.org").active  # nothing changed for the existing login


def test_signing_up_again_replaces_the_link(app, client):
    sign_up(client)
    [first] = deliver_signup_mail(app)
    sign_up(client, workspace_name="Second Try")
    [second] = deliver_signup_mail(app)
    assert client.get(confirm_path(first)).status_code == 410  # replaced
    assert client.get(confirm_path(second)).status_code == 302
    assert workspace_row(app, "second-try")["status"] == "pending"


def test_sign_ups_are_limited_per_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGNUP_MAX_PER_ACCOUNT", 2)
    app.extensions.pop("relaydesk_signup_limits", None)
    try:
        assert sign_up(client).status_code == 200
        assert sign_up(client).status_code == 200
        limited = sign_up(client)
        assert limited.status_code == 429 and limited.headers["Retry-After"]
        assert "Too many requests" in " ".join(field_errors(limited.get_data(as_text=True),
                                                            "email"))
    finally:
        app.extensions.pop("relaydesk_signup_limits", None)


# --- 2. the confirmation ----------------------------------------------------------------------

def test_confirming_creates_the_workspace_and_signs_in(app, client):
    sign_up(client, language="es", slug="ana-panel")
    [mail] = deliver_signup_mail(app)
    assert "Confirma" in mail.subject  # the mail in the language chosen
    response = client.get(confirm_path(mail))
    assert response.headers["Location"].endswith("/signup/plan")
    row = workspace_row(app, "ana-panel")
    assert row["status"] == "pending" and row["language"] == "es" and row["subscription"] is None
    with app.app_context():
        user = app.appbuilder.sm.find_user(email="ana@example.org")
        member = db.session.query(WorkspaceMember).filter_by(user_id=user.id).one()
        assert user.active and member.role == "manager" and member.workspace_id == row["id"]
        assert db.session.query(WorkspaceSettings).filter_by(workspace_id=row["id"]).count() == 1
    assert client.get("/signup/plan").status_code == 200  # signed in


def test_forged_expired_and_reused_links(app, client, monkeypatch):
    assert client.get("/signup/confirm/not-a-token").status_code == 404
    page = client.get("/signup/confirm/not-a-token").get_data(as_text=True)
    assert 'data-reason="invalid"' in page and 'href="/signup/"' in page
    real = time.time
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(real()) - 49 * 3600)
    sign_up(client)
    monkeypatch.undo()
    [old] = deliver_signup_mail(app)
    expired = client.get(confirm_path(old))
    assert expired.status_code == 410 and 'data-reason="expired"' in expired.get_data(as_text=True)
    assert not login(app).active
    # "send again": a fresh link to the same address, nothing typed
    again = client.post(confirm_path(old) + "/again")
    assert again.status_code == 200 and 'id="signup-check-mail"' in again.get_data(as_text=True)
    [fresh] = deliver_signup_mail(app)
    assert fresh.to == "ana@example.org"
    assert client.get(confirm_path(fresh)).status_code == 302
    reused = app.test_client().get(confirm_path(fresh))
    assert reused.status_code == 410 and 'data-reason="used"' in reused.get_data(as_text=True)
    assert app.test_client().post("/signup/confirm/forged/again").status_code == 404
    with app.app_context():
        assert db.session.query(Workspace).count() == 1


# --- 3. the plan ---------------------------------------------------------------------------------

def test_plan_page_shows_public_plans_with_prices_and_what_they_include(app, client, extras):
    confirmed_client(app, client)
    html = client.get("/signup/plan").get_data(as_text=True)
    for code in ("free", "starter", "pro", "enterprise"):
        assert f'data-plan="{code}"' in html
    assert 'data-plan="secret"' not in html
    assert "19.00 USD / Monthly" in html and "190.00 USD / Yearly" in html
    assert "Unlimited" in html and "API access" in html and "Telegram" in html
    assert "Perfect Panel (API v2)" in html and "Demo panel" not in html
    euro = client.get("/signup/plan?currency=EUR").get_data(as_text=True)
    assert "18.00 EUR / Monthly" in euro
    bad = client.get("/signup/plan?currency=XYZ")
    assert bad.status_code == 400
    assert "currencies shown" in " ".join(field_errors(bad.get_data(as_text=True), "currency"))


def test_free_plan_activates_at_once_and_opens_home(app, client, extras):
    confirmed_client(app, client)
    response = choose(client, extras["plans"]["free"], panel_type="")
    assert response.status_code == 302 and response.headers["Location"].endswith("/")
    row = workspace_row(app)
    assert row["status"] == "active" and row["plan_id"] == extras["plans"]["free"]
    assert row["subscription"][:2] == ("active", "free")
    home = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Welcome to Relaydesk" in home
    assert client.get("/channelview/list/").status_code == 200
    with app.app_context():
        assert db.session.query(PanelConnection).count() == 0  # "I do not know yet"


@pytest.mark.parametrize("values,field,expected", [
    ({"plan": "secret"}, "plan", "plans shown"),
    ({"plan": "999999"}, "plan", "plans shown"),
    ({"currency": "XYZ"}, "currency", "currencies shown"),
    ({"currency": "JPY"}, "currency", "currencies shown"),
    ({"interval": "week"}, "interval", "monthly or yearly"),
    ({"panel_type": "demo"}, "panel_type", "panel engines"),
])
def test_bad_plan_choices_are_refused(app, client, extras, values, field, expected):
    confirmed_client(app, client)
    data = {"plan": extras["plans"]["starter"], "currency": "USD", "interval": "month",
            "panel_type": "perfectpanel_v2", **values}
    if data["plan"] == "secret":
        data["plan"] = extras["plans"]["secret"]
    response = client.post("/signup/plan", data=data)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    if field == "plan":
        assert expected in html and 'id="plan-problem"' in html
    else:
        assert expected in " ".join(field_errors(html, field))
    assert workspace_row(app)["subscription"] is None


def test_a_plan_without_a_price_in_the_currency_is_refused(app, client, extras):
    from app.models import PlanPrice

    with app.app_context():
        db.session.query(PlanPrice).filter_by(plan_id=extras["plans"]["pro"],
                                              currency="EUR").delete()
        db.session.commit()
    confirmed_client(app, client)
    response = choose(client, extras["plans"]["pro"], currency="EUR")
    assert response.status_code == 400 and "no price in this currency" in response.get_data(
        as_text=True)
    assert "Not available in EUR" in client.get("/signup/plan?currency=EUR").get_data(
        as_text=True)


# --- 4. paying, 5. the status -------------------------------------------------------------------

def paid_plan(app, client, extras, currency="USD"):
    confirmed_client(app, client)
    response = choose(client, extras["plans"]["starter"], currency=currency, interval="year")
    assert response.status_code == 302 and response.headers["Location"].endswith("/signup/pay")


def test_manual_payment_journey(app, client, extras):
    paid_plan(app, client, extras)
    row = workspace_row(app)
    assert row["status"] == "pending"
    assert row["subscription"] == ("pending_payment", "manual", "USD", "year", 19000)
    with app.app_context():
        assert db.session.query(PanelConnection).one().panel_type == "perfectpanel_v2"
    # the status page sends to the payment step while nothing was paid
    assert client.get("/signup/status").headers["Location"].endswith("/signup/pay")
    page = client.get("/signup/pay").get_data(as_text=True)
    assert "Bank transfer" in page and "IBAN XX00 1234" in page and "Old wallet" not in page
    assert 'value="190.00"' in page  # the amount, prefilled
    assert 'id="pay-stripe"' not in page  # no Stripe without its key
    response = client.post("/signup/pay", data={"method": str(extras["method"]),
                                                "amount": "190.00", "reference": "TRX-55",
                                                "note": "paid from Acme Ltd"})
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/signup/status")
    with app.app_context():
        submission = db.session.query(PaymentSubmission).one()
        assert (submission.reference, submission.amount_cents, submission.currency,
                submission.status) == ("TRX-55", 19000, "USD", "pending")
    status = client.get("/signup/status").get_data(as_text=True)
    assert 'id="status-waiting"' in status and "TRX-55" in status and "190.00 USD" in status
    assert "Starter" in status
    # every workspace screen sends here while pending; the account pages do not
    for path in ("/", "/channelview/list/", "/memberview/list/", "/signup/plan",
                 "/signup/pay"):
        assert client.get(path).headers["Location"].endswith("/signup/status"), path
    for path in ("/users/userinfo/", "/resetmypassword/form", "/logout/"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("values,field,expected", [
    ({"amount": "-5"}, "amount", "at least 0"),
    ({"amount": "0"}, "amount", "amount you paid"),
    ({"amount": "abc"}, "amount", "19.00"),
    ({"amount": "1.234"}, "amount", "decimals"),
    ({"reference": ""}, "reference", "required"),
    ({"method": ""}, "method", "how you paid"),
    ({"method": "999"}, "method", "Not a valid choice"),
    ({"method": "off"}, "method", "Not a valid choice"),
])
def test_bad_payment_input_is_refused_beside_its_field(app, client, extras, values, field,
                                                       expected):
    paid_plan(app, client, extras)
    data = {"method": str(extras["method"]), "amount": "190.00", "reference": "TRX-1",
            "note": "", **values}
    if data["method"] == "off":
        data["method"] = str(extras["off"])
    response = client.post("/signup/pay", data=data)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert expected.lower() in " ".join(field_errors(html, field)).lower(), html
    if field != "reference":
        assert 'value="TRX-1"' in html
    with app.app_context():
        assert db.session.query(PaymentSubmission).count() == 0


def test_rejected_payment_shows_the_note_and_takes_another_reference(app, client, extras):
    paid_plan(app, client, extras)
    client.post("/signup/pay", data={"method": str(extras["method"]), "amount": "190",
                                     "reference": "WRONG-1"})
    with app.app_context():
        submission = db.session.query(PaymentSubmission).one()
        submission.status, submission.review_note = "rejected", "No transfer with this reference."
        db.session.query(Subscription).one().status = "pending_payment"
        db.session.commit()
    status = client.get("/signup/status").get_data(as_text=True)
    assert 'id="status-rejected"' in status and "No transfer with this reference." in status
    assert 'id="payment-form"' in status and "Send another reference" in status
    response = client.post("/signup/pay", data={"method": str(extras["method"]),
                                                "amount": "190", "reference": "RIGHT-2"})
    assert response.headers["Location"].endswith("/signup/status")
    with app.app_context():
        assert [s.reference for s in db.session.query(PaymentSubmission).order_by(
            PaymentSubmission.id)] == ["WRONG-1", "RIGHT-2"]


def test_no_method_for_the_currency_says_so(app, client, extras):
    paid_plan(app, client, extras, currency="INR")
    page = client.get("/signup/pay").get_data(as_text=True)
    assert 'id="no-payment-method"' in page and "INR" in page


@pytest.fixture
def fake_stripe(monkeypatch):
    """A stand-in for app.payments.stripe_gateway (the payments work's module): records the
    call and answers a Checkout URL."""
    calls = []
    package = types.ModuleType("app.payments")
    package.__path__ = []
    module = types.ModuleType("app.payments.stripe_gateway")

    def start_checkout(subscription, price, success_url, cancel_url):
        calls.append((subscription.payment_method, price.stripe_price_id, success_url,
                      cancel_url))
        return "https://checkout.stripe.test/c/pay/cs_test_123"

    module.start_checkout = start_checkout
    monkeypatch.setitem(sys.modules, "app.payments", package)
    monkeypatch.setitem(sys.modules, "app.payments.stripe_gateway", module)
    return calls


def test_stripe_button_needs_the_key_the_price_id_and_the_module(app, client, extras,
                                                                 monkeypatch, fake_stripe):
    from app.models import PlanPrice

    paid_plan(app, client, extras)
    assert 'id="pay-stripe"' not in client.get("/signup/pay").get_data(as_text=True)
    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_123")
    assert 'id="pay-stripe"' not in client.get("/signup/pay").get_data(as_text=True)
    assert client.post("/signup/pay/stripe").status_code == 404
    with app.app_context():
        db.session.query(PlanPrice).filter_by(plan_id=extras["plans"]["starter"], currency="USD",
                                              interval="year").one().stripe_price_id = "price_1"
        db.session.commit()
    page = client.get("/signup/pay").get_data(as_text=True)
    assert 'id="pay-stripe"' in page and 'id="pay-razorpay"' not in page
    response = client.post("/signup/pay/stripe")
    assert response.status_code == 303
    assert response.headers["Location"] == "https://checkout.stripe.test/c/pay/cs_test_123"
    [(method, price_id, success, cancel)] = fake_stripe
    assert (method, price_id) == ("stripe", "price_1")
    assert success.endswith("/signup/stripe/success") and cancel.endswith("/signup/pay")
    back = client.get("/signup/stripe/success")
    assert back.headers["Location"].endswith("/signup/status")
    status = client.get("/signup/status").get_data(as_text=True)
    assert 'id="status-gateway-waiting"' in status and "Stripe" in status
    monkeypatch.delitem(sys.modules, "app.payments.stripe_gateway")
    monkeypatch.setitem(sys.modules, "app.payments.stripe_gateway", None)  # not installed
    assert 'id="pay-stripe"' not in client.get("/signup/pay").get_data(as_text=True)


def stripe_offered(app, monkeypatch, extras) -> None:
    """Stripe configured, and a Stripe price for the yearly Starter plan in USD."""
    from app.models import PlanPrice

    monkeypatch.setitem(app.config, "STRIPE_SECRET_KEY", "sk_test_123")
    with app.app_context():
        db.session.query(PlanPrice).filter_by(plan_id=extras["plans"]["starter"], currency="USD",
                                              interval="year").one().stripe_price_id = "price_1"
        db.session.commit()


def test_a_gateway_failure_is_told_not_a_500(app, client, extras, monkeypatch, fake_stripe):
    paid_plan(app, client, extras)
    stripe_offered(app, monkeypatch, extras)

    def broken(*args):
        raise ConnectionError("stripe down")

    monkeypatch.setattr(sys.modules["app.payments.stripe_gateway"], "start_checkout", broken)
    response = client.post("/signup/pay/stripe", follow_redirects=True)
    assert response.status_code == 200 and "could not be reached" in response.get_data(
        as_text=True)


def test_no_card_payment_beside_a_reference_waiting_for_approval(app, client, extras,
                                                                monkeypatch, fake_stripe):
    paid_plan(app, client, extras)
    stripe_offered(app, monkeypatch, extras)
    client.post("/signup/pay", data={"method": str(extras["method"]), "amount": "190",
                                     "reference": "TRX-9"})
    response = client.post("/signup/pay/stripe")
    assert response.status_code == 302 and response.headers["Location"].endswith(
        "/signup/status")
    assert fake_stripe == []  # no Checkout Session was created
    with app.app_context():
        assert db.session.query(Subscription).one().payment_method == "manual"


# --- who may open the steps ---------------------------------------------------------------------

def test_steps_need_a_pending_workspace(app, client, factory, extras):
    for path in ("/signup/plan", "/signup/pay", "/signup/status"):
        assert "/login/" in client.get(path).headers["Location"]
    workspace = factory.workspace("acme")
    factory.member(workspace, "acme-manager")
    member = signed_in(app, "acme-manager")
    for path in ("/signup/plan", "/signup/pay", "/signup/status"):
        assert member.get(path).headers["Location"].endswith("/"), path
    assert member.post("/signup/plan", data={"plan": extras["plans"]["free"],
                                             "currency": "USD", "interval": "month"}
                       ).headers["Location"].endswith("/")
    assert member.get("/signup/").headers["Location"].endswith("/signup/status")
    assert member.get("/channelview/list/").status_code == 200  # active: not redirected
