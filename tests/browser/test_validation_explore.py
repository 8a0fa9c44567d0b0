from __future__ import annotations

import pytest

from app.models import Plan
from tests.browser.test_provider_routes import sign_in
from tests.factories import password_for

pytestmark = pytest.mark.browser


def test_explore_subscription(new_page, factory, db):
    ws = factory.workspace("acme", "Acme")
    db.session.add(Plan(code="pro", name="Pro", price_cents=100, currency="USD"))
    db.session.commit()
    admin = factory.admin("root")
    page = new_page()
    sign_in(page, admin.username, password_for(admin.username))
    page.goto("/adminsubscriptionview/add")
    page.screenshot(path="/tmp/shots-validation/sub-add.png", full_page=True)
    page.locator("#current_period_start").click()
    page.wait_for_timeout(500)
    page.screenshot(path="/tmp/shots-validation/sub-calendar.png", full_page=True)
    print("pickers", page.locator(".datepicker-dropdown").count(), page.locator(".datepicker").count())
    print(page.locator("#current_period_start").evaluate("e => e.outerHTML"))
    print(page.locator("#current_period_start").evaluate("e => e.parentElement.outerHTML"))
