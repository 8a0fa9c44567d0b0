"""Hostile input against the SaaS routes: odd ids and values answer in words, never a 500;
another workspace's rows stay out of reach."""
from __future__ import annotations

import pytest

from tests.integration.test_billing_screens import approve_first, world  # noqa: F401
from tests.integration.team_support import signed_in

ODD = ["99999999999", "-1", "0", "abc", "1e9", "", "٣"]


@pytest.fixture
def no_csrf(app, monkeypatch):
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)


def test_odd_ids_on_every_route_never_give_a_500(app, world, no_csrf):  # noqa: F811
    manager = signed_in(app, "alpha-manager")
    admin = signed_in(app, "root")
    for odd in ODD:
        for client in (manager, admin):
            for url in (f"/billing/invoices/{odd}.pdf", f"/paymentsubmissionview/review/{odd}",
                        f"/invoiceview/show/{odd}", f"/api/v1/invoice/{odd}",
                        f"/api/v1/payment_submission/{odd}", f"/api/v1/subscription/{odd}"):
                assert client.get(url).status_code < 500, url
            for url in ("/billing/stripe/checkout", "/billing/razorpay/start",
                        "/billing/stripe/portal"):
                assert client.post(url, data={"price": odd}).status_code < 500, (url, odd)


def test_login_next_does_not_send_anyone_away(app, world):  # noqa: F811
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example",
                   "https:evil.example"):
        from tests.integration.team_support import password_for

        response = client.post(f"/login/?next={target}",
                               data={"username": "alpha-manager",
                                     "password": password_for("alpha-manager")})
        location = response.headers.get("Location", "")
        from urllib.parse import urlsplit

        parts = urlsplit(location)
        assert parts.netloc in ("", "localhost") and not location.startswith("//"), location
        client.get("/logout/")
