"""The billing screens through the test client: pending approvals (approve, reject with a
note), the master admin's subscription actions, payment methods, the manager's Billing page,
invoice PDFs (valid, Unicode-safe, tenancy-checked) and the suspension banner.

Data is read and made in short app contexts (none stays pushed: Flask reuses a pushed app
context for the test client's requests, and the signed-in user would stay on `g`)."""
from __future__ import annotations

import re
import zlib
from contextlib import contextmanager

import pytest

from app import billing
from app.extensions import db as database
from app.models import Invoice, PaymentMethod, PaymentSubmission, Subscription, Workspace
from tests.form_errors import field_errors
from tests.integration.billing_support import bank, deliver_billing_mail, paying_workspace
from tests.integration.team_support import signed_in

PENDING = "/paymentsubmissionview/list/?_flt_0_status=pending"


class _Data:
    session = property(lambda self: database.session)


@contextmanager
def data(app):
    """A short app context for reading and writing rows (`.session`)."""
    with app.app_context():
        try:
            yield _Data()
        finally:
            database.session.remove()


@pytest.fixture
def world(app, redis_conn):
    from tests.factories import Factory

    with data(app) as db:
        return _world(app, db, Factory(app))


def _world(app, db, factory):
    workspace, price = paying_workspace(db, factory, "alpha", "alpha-manager")
    other, _ = paying_workspace(db, factory, "bravo", "bravo-manager")
    factory.member(workspace, "alpha-agent", "agent")
    factory.admin("root")
    method = bank(db)
    submission = billing.submit_payment(workspace, price=price, method=method,
                                        amount_cents=price.amount_cents, currency="USD",
                                        reference="TX-ALPHA-1", note="From Acme Bank")
    db.session.commit()
    deliver_billing_mail(app)
    return {"workspace": workspace.id, "other": other.id, "submission": submission.id,
            "price": price.id, "method": method.id}


def value(app, read):
    """`read(session)` in a short app context (plain values only leave it)."""
    with data(app) as db:
        return read(db.session)


def test_pending_approvals_lists_pending_and_the_admin_approves_with_a_note(app, world):
    admin = signed_in(app, "root")
    page = admin.get(PENDING).get_data(as_text=True)
    assert "TX-ALPHA-1" in page and "Alpha Panel" in page
    review = f"/paymentsubmissionview/review/{world['submission']}"
    form = admin.get(review).get_data(as_text=True)
    assert "From Acme Bank" in form and 'name="note"' in form and "TX-ALPHA-1" in form
    answer = admin.post(review, data={"note": "Received, thanks", "decision": "approve"})
    assert answer.status_code == 302 and answer.headers["Location"].endswith(PENDING)
    with data(app) as db:
        submission = db.session.get(PaymentSubmission, world["submission"])
        assert submission.status == "approved" and submission.review_note == "Received, thanks"
        invoice = submission.invoice
        assert invoice.number.endswith("-00001") and invoice.payment_reference == "TX-ALPHA-1"
        assert db.session.get(Workspace, world["workspace"]).status == "active"
        pdf_path = invoice.pdf_path
    mails = deliver_billing_mail(app)
    assert len(mails) == 1 and pdf_path in mails[0].body
    assert "TX-ALPHA-1" not in admin.get(PENDING).get_data(as_text=True)
    again = admin.post(review, data={"note": "", "decision": "approve"}, follow_redirects=True)
    assert "already approved" in again.get_data(as_text=True)
    assert value(app, lambda s: s.query(Invoice).count()) == 1


def submission_status(app, pk) -> str:
    return value(app, lambda s: s.get(PaymentSubmission, pk).status)


def test_reject_requires_a_note_beside_the_field_then_tells_the_customer(app, world):
    admin = signed_in(app, "root")
    review = f"/paymentsubmissionview/review/{world['submission']}"
    refused = admin.post(review, data={"note": "  ", "decision": "reject"})
    assert refused.status_code == 200
    assert "required to reject" in " ".join(field_errors(refused.get_data(as_text=True),
                                                          "note"))
    assert submission_status(app, world["submission"]) == "pending"
    too_long = admin.post(review, data={"note": "x" * 2001, "decision": "reject"})
    assert field_errors(too_long.get_data(as_text=True), "note")
    admin.post(review, data={"note": "No transfer arrived", "decision": "reject"})
    assert submission_status(app, world["submission"]) == "rejected"
    assert value(app, lambda s: s.get(PaymentSubmission, world["submission"])
                 .subscription.status) == "pending_payment"
    assert "No transfer arrived" in deliver_billing_mail(app)[0].body
    # the manager reads the note on the Billing page, with the way to pay again
    page = signed_in(app, "alpha-manager").get("/billing/").get_data(as_text=True)
    assert "No transfer arrived" in page and 'href="/signup/pay"' in page


def test_a_reused_reference_is_warned_on_the_review_page(app, world):
    with data(app) as db:
        other = db.session.get(Workspace, world["other"])
        price = db.session.get(billing.PlanPrice, world["price"])
        second = billing.submit_payment(other, price=price,
                                        method=db.session.get(PaymentMethod, world["method"]),
                                        amount_cents=price.amount_cents, currency="USD",
                                        reference="tx-alpha-1")
        db.session.commit()
        second_id = second.id
    admin = signed_in(app, "root")
    page = admin.get(f"/paymentsubmissionview/review/{second_id}").get_data(as_text=True)
    assert "This reference was used before" in page and "Alpha Panel" in page
    assert "Used once before" in admin.get(PENDING).get_data(as_text=True)


def test_a_manager_cannot_open_pending_approvals_nor_review(app, world):
    # the world's workspace waits for its first payment: its members are sent to the sign-up
    # status page (302) before FAB's 403; neither way do they reach the page
    manager = signed_in(app, "alpha-manager")
    assert manager.get(PENDING).status_code in (302, 403)
    assert "Pending approvals" not in manager.get(PENDING, follow_redirects=True).get_data(
        as_text=True)
    assert manager.post(f"/paymentsubmissionview/review/{world['submission']}",
                        data={"decision": "approve"}).status_code in (302, 403)


def test_admin_extends_suspends_resumes_and_changes_plan_with_errors_beside_fields(app, world):
    from app.models import Plan, PlanPrice

    admin = signed_in(app, "root")
    pk = value(app, lambda s: s.query(Subscription.id).filter_by(
        workspace_id=world["workspace"]).scalar())
    base = "/adminsubscriptionview"
    show_page = admin.get(f"{base}/show/{pk}").get_data(as_text=True)
    assert "Extend" in show_page and "Change plan" in show_page and "Resume" in show_page

    for bad in ("0", "121", "abc", ""):
        page = admin.post(f"{base}/extend/{pk}", data={"intervals": bad, "unit": "month"})
        assert page.status_code == 200 and field_errors(page.get_data(as_text=True),
                                                        "intervals"), bad
        assert f'value="{bad}"' in page.get_data(as_text=True) or not bad
    assert admin.post(f"{base}/extend/{pk}", data={"intervals": "2", "unit": "month"}
                      ).status_code == 302
    assert value(app, lambda s: (s.get(Subscription, pk).status,
                                 s.get(Subscription, pk).current_period_end is not None)) == (
        "active", True)

    page = admin.post(f"{base}/suspend/{pk}", data={"reason": " "})
    assert field_errors(page.get_data(as_text=True), "reason")
    assert admin.post(f"{base}/suspend/{pk}", data={"reason": "Chargeback"}).status_code == 302
    assert value(app, lambda s: (s.get(Workspace, world["workspace"]).status,
                                 s.get(Workspace, world["workspace"]).suspended_reason)) == (
        "suspended", "Chargeback")
    assert "Chargeback" in deliver_billing_mail(app)[0].body

    resumed = admin.post(f"{base}/action/resume_workspace/{pk}", follow_redirects=True)
    assert resumed.status_code == 200 and "works again" in resumed.get_data(as_text=True)
    assert value(app, lambda s: s.get(Workspace, world["workspace"]).status) == "active"

    pro_id = value(app, lambda s: s.query(PlanPrice.id).join(Plan).filter(
        Plan.code == "pro", PlanPrice.currency == "USD", PlanPrice.interval == "month"
    ).scalar())
    form = admin.get(f"{base}/change_plan/{pk}").get_data(as_text=True)
    assert f'value="{pro_id}"' in form
    bad = admin.post(f"{base}/change_plan/{pk}", data={"price": "999999"})
    assert field_errors(bad.get_data(as_text=True), "price")
    assert admin.post(f"{base}/change_plan/{pk}", data={"price": pro_id}).status_code == 302
    assert value(app, lambda s: s.get(Subscription, pk).plan.code) == "pro"
    assert admin.get(f"{base}/extend/999999").status_code == 404


def test_subscription_forms_carry_csrf(app, world):
    admin = signed_in(app, "root")
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        pk = world["submission"]
        page = admin.get(f"/paymentsubmissionview/review/{pk}").get_data(as_text=True)
        assert 'name="csrf_token"' in page
        refused = admin.post(f"/paymentsubmissionview/review/{pk}",
                             data={"decision": "approve"})
        assert refused.status_code in (200, 400)
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert submission_status(app, pk) == "pending"


def test_payment_methods_refuse_bad_currencies_beside_the_field(app, world):
    admin = signed_in(app, "root")
    page = admin.post("/paymentmethodview/add", data={
        "name": "Wallet", "instructions": "Send to wallet 42", "currencies": "dollars",
        "sort_order": "1"})
    assert page.status_code == 200
    assert field_errors(page.get_data(as_text=True), "currencies")
    assert 'value="dollars"' in page.get_data(as_text=True)
    repeated = admin.post("/paymentmethodview/add", data={
        "name": "Wallet", "instructions": "x", "currencies": "USD, USD", "sort_order": "1"})
    assert field_errors(repeated.get_data(as_text=True), "currencies")
    assert admin.post("/paymentmethodview/add", data={
        "name": "Wallet", "instructions": "Send to wallet 42", "currencies": "USD, INR",
        "sort_order": "1", "active": "y"}).status_code == 302
    assert value(app, lambda s: s.query(PaymentMethod).filter_by(name="Wallet").one()
                 .takes("INR"))


def approve_first(app, world) -> dict:
    with data(app) as db:
        submission = db.session.get(PaymentSubmission, world["submission"])
        invoice = billing.approve_submission(submission).invoice
        db.session.commit()
        return {"id": invoice.id, "number": invoice.number, "path": invoice.pdf_path,
                "amount": invoice.amount_text()}


def test_invoice_pdf_is_valid_and_tenancy_checked(app, world):
    invoice = approve_first(app, world)
    path = invoice["path"]
    manager = signed_in(app, "alpha-manager")
    answer = manager.get(path)
    assert answer.status_code == 200 and answer.mimetype == "application/pdf"
    assert answer.data.startswith(b"%PDF") and invoice["number"].encode() in answer.data
    assert signed_in(app, "bravo-manager").get(path).status_code == 404
    assert signed_in(app, "alpha-agent").get(path).status_code == 403
    assert signed_in(app, "root").get(path).status_code == 200
    assert manager.get("/billing/invoices/999999.pdf").status_code == 404
    # the lists show the money and the link, not raw cents
    listing = manager.get("/invoiceview/list/").get_data(as_text=True)
    assert invoice["amount"] in listing and f'href="{path}"' in listing
    billing_page = manager.get("/billing/").get_data(as_text=True)
    assert invoice["number"] in billing_page and f'href="{path}"' in billing_page


@pytest.mark.parametrize("name", ["Панель Ромашка", "لوحة الخدمات", "Ωmega & Çiçek"])
@pytest.mark.parametrize("font", ["bundled", "missing"])
def test_invoice_pdf_of_a_workspace_named_in_any_script(app, world, name, font):
    from app.invoice_pdf import invoice_pdf

    number = approve_first(app, world)["number"]
    if font == "missing":
        app.config["INVOICE_FONT"] = "/nonexistent/font.ttf"
    try:
        with data(app) as db:
            invoice = db.session.query(Invoice).filter_by(number=number).one()
            invoice.workspace.name = name
            invoice.workspace.language = "ar" if "ل" in name else "ru"
            db.session.commit()
            with app.test_request_context():
                body = invoice_pdf(invoice)
    finally:
        app.config.pop("INVOICE_FONT", None)
    assert body.startswith(b"%PDF") and number.encode() in body


def pdf_characters(body: bytes) -> set[str]:
    """The characters a PDF's embedded fonts map to (their ToUnicode tables), read from the
    file's compressed streams: what a reader copying the text would get."""
    found = set()
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", body, re.S):
        try:
            text = zlib.decompress(stream)
        except zlib.error:
            text = stream
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
            for code in re.findall(rb"<[0-9A-Fa-f]+>\s*<([0-9A-Fa-f]+)>", block):
                found.add(bytes.fromhex(code.decode()).decode("utf-16-be", "replace"))
    return found


@pytest.mark.parametrize("shaping", [True, False])
def test_arabic_invoice_is_shaped_or_falls_back_to_english(app, world, monkeypatch, shaping):
    from flask_babel import force_locale, gettext

    from app import invoice_pdf as pdf_module

    monkeypatch.setattr(pdf_module, "shaping_available", lambda: shaping)
    number = approve_first(app, world)["number"]
    with data(app) as db:
        invoice = db.session.query(Invoice).filter_by(number=number).one()
        invoice.workspace.language = "ar"
        db.session.commit()
        with app.test_request_context():
            body = pdf_module.invoice_pdf(invoice)
            with force_locale("ar"):
                label = gettext("Payment method")
    assert body.startswith(b"%PDF") and number.encode() in body
    letters = {char for char in label if char.isalpha()}
    assert letters and all("\u0600" <= char <= "\u06ff" for char in letters), label
    characters = pdf_characters(body)
    if shaping:  # the Arabic label's letters are in the file; no English label is
        assert letters <= characters, letters - characters
    else:
        assert not letters & characters and {"P", "y", "m", "t"} <= characters


def test_billing_page_says_what_to_do_next(app, world):
    manager = signed_in(app, "alpha-manager")
    page = manager.get("/billing/").get_data(as_text=True)
    assert "waits for approval" in page and "TX-ALPHA-1" in page
    approve_first(app, world)
    page = manager.get("/billing/").get_data(as_text=True)
    assert "Renew before the period ends" in page and 'href="/signup/pay"' in page
    assert re.search(r'id="billing-status">\s*Active', page)
    assert signed_in(app, "alpha-agent").get("/billing/").status_code == 403
    assert signed_in(app, "root").get("/billing/").status_code == 302


def test_an_expired_workspace_banner_says_why_in_words_and_links_billing(app, world):
    with data(app) as db:
        billing.suspend(db.session.get(Workspace, world["workspace"]), billing.EXPIRED_REASON)
        db.session.commit()
    page = signed_in(app, "alpha-manager").get("/channelview/list/").get_data(as_text=True)
    banner = page[page.index('id="suspended-banner"'):]
    banner = banner[:banner.index("</div>")]
    assert "ended without a renewal" in banner and 'href="/billing/"' in banner
    assert "<bdi>expired</bdi>" not in banner
