"""Helpers for the billing tests (not a test module): a paying workspace, its mails."""
from __future__ import annotations

from tests.integration.team_support import deliver_templated_mail
from app.models import PaymentMethod
from tests.integration.test_billing_core import price_of


deliver_billing_mail = deliver_templated_mail


def bank(db, currencies="USD,EUR", active=True, name="Bank transfer") -> PaymentMethod:
    method = PaymentMethod(name=name, instructions="IBAN XX00 0000", currencies=currencies,
                           active=active)
    db.session.add(method)
    db.session.commit()
    return method


def paying_workspace(db, factory, slug="payer", manager="payer-manager", code="starter",
                     interval="month"):
    """A workspace with a manager and a pending subscription to `code` (not paid yet)."""
    from app import billing

    workspace = factory.workspace(slug, name=f"{slug.title()} Panel")
    factory.member(workspace, manager, "manager")
    price = price_of(db, code, interval)
    billing.choose_plan(workspace, price, "manual")
    db.session.commit()
    return workspace, price
