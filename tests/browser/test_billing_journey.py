"""Manual payments in a real browser: the master admin opens Pending approvals, approves a
customer's payment with a note, and the workspace's manager finds the invoice on the Billing
page and downloads its PDF. No page may log a JavaScript error. Screenshots go to
test-artifacts/.
"""
from __future__ import annotations

import pytest

from app import billing
from app.extensions import db
from app.models import Invoice, PaymentSubmission
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.integration.billing_support import bank, paying_workspace

pytestmark = pytest.mark.browser


@pytest.fixture
def pending(app, factory, redis_conn):
    workspace, price = paying_workspace(db, factory, "shop", "shop-manager")
    factory.admin("bill-root")
    submission = billing.submit_payment(workspace, price=price, method=bank(db),
                                        amount_cents=price.amount_cents, currency="USD",
                                        reference="WIRE-778899", note="Sent Monday")
    db.session.commit()
    return submission.id


def test_admin_approves_a_pending_payment_and_the_manager_gets_the_invoice(
        new_page, pending, artifacts_dir):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "bill-root")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Master admin").click()
    page.locator(".navbar a", has_text="Pending approvals").click()
    page.wait_for_load_state()
    assert "WIRE-778899" in page.content()
    page.locator(f"a[href*='/paymentsubmissionview/show/{pending}']").first.click()
    page.wait_for_load_state()
    page.locator("a[id^='btn-action-'][id$='-approve']").first.click()
    page.wait_for_load_state()
    assert f"/paymentsubmissionview/review/{pending}" in page.url
    page.fill("#note", "Received with thanks")
    page.screenshot(path=str(artifacts_dir / "billing-review.png"), full_page=True)
    page.locator("button[value=approve]").click()
    page.wait_for_load_state()
    assert "Payment approved" in page.locator(".alert-success").inner_text()
    db.session.expire_all()
    invoice = db.session.query(Invoice).one()
    assert db.session.get(PaymentSubmission, pending).status == "approved"
    assert not errors, errors

    manager = new_page()
    manager_errors = watch_console(manager)
    sign_in(manager, "shop-manager")
    manager.goto("/billing/")
    table = manager.locator("#billing-invoices")
    assert invoice.number in table.inner_text()
    manager.screenshot(path=str(artifacts_dir / "billing-page.png"), full_page=True)
    with manager.expect_download() as download:
        table.locator("a.invoice-pdf").first.click()
    path = download.value.path()
    with open(path, "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    assert download.value.suggested_filename == f"{invoice.number}.pdf"
    assert not manager_errors, manager_errors
