"""Helpers for the sign-up tests (not a test module): the mails, the links, the plans."""
from __future__ import annotations

import re

from tests.integration.team_support import deliver_templated_mail

CONFIRM_LINK = re.compile(r"https?://\S+?(/signup/confirm/[A-Za-z0-9_.\-]+)")
PASSWORD = "Amber-Lighthouse-7731"


deliver_signup_mail = deliver_templated_mail


def confirm_path(message) -> str:
    found = CONFIRM_LINK.search(message.body)
    assert found, message.body
    return found.group(1)


def signup_data(**overrides) -> dict:
    data = {"full_name": "Ana Lima", "email": "ana@example.org", "password": PASSWORD,
            "workspace_name": "Ana SMM", "slug": "", "language": "en"}
    data.update(overrides)
    return data


def field_errors(html: str, field: str) -> list[str]:
    """The errors shown beside a sign-up field (`#group-<field>`), as plain text."""
    found = re.search(rf'<div class="form-group( has-error)?" id="group-{re.escape(field)}"[^>]*>'
                      r'(.*?)(?=<div class="form-group|</form>)', html, re.S)
    assert found, f"no field {field} on the page"
    if not found.group(1):
        return []
    return [re.sub(r"<[^>]+>", "", text).strip() for text in
            re.findall(r'<span class="help-block field-error">(.*?)</span>', found.group(2), re.S)]


def add_paid_plan_extras(app, *, hidden_code: str = "secret") -> dict:
    """The default plans, a plan that is not public, and a manual payment method (USD only)."""
    from app.extensions import db
    from app.models import PaymentMethod, Plan, PlanPrice
    from app.plans import ensure_default_plans

    with app.app_context():
        ensure_default_plans()
        hidden = Plan(code=hidden_code, name="Hidden", is_public=False, sort_order=9,
                      prices=[PlanPrice(currency="USD", interval="month", amount_cents=100)])
        method = PaymentMethod(name="Bank transfer", instructions="IBAN XX00 1234\nRef: your "
                               "workspace", currencies="USD,EUR", active=True)
        off = PaymentMethod(name="Old wallet", instructions="gone", active=False)
        db.session.add_all([hidden, method, off])
        db.session.commit()
        ids = {plan.code: plan.id for plan in db.session.query(Plan)}
        return {"plans": ids, "method": method.id, "off": off.id}
