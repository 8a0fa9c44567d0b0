"""The master admin's dashboard (app/dashboard.py, app/views/dashboard.py) and its JSON twin.

Figures are checked against rows made for them: MRR per currency (a yearly price counts a
twelfth, only active subscriptions), sign-ups in 7 and 30 days and per day, pending payment
approvals, subscriptions ending within 7 days, failed jobs from the real Redis (None when it
does not answer). Each tile's link opens a list holding exactly what it counts. `/` brings the
master admin to the dashboard; members keep their home. Only the master admin reads either.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest

from app.dashboard import dashboard_figures, monthly_equivalent
from app.extensions import db
from app.models import PaymentSubmission, Subscription, Workspace
from app.models.base import utcnow
from tests.integration.test_runtime import _failing, burst, default_queue, redis_gone  # noqa: F401
from tests.integration.test_runtime import FLAKY

DAY = timedelta(days=1)


@pytest.fixture
def platform(factory, redis_conn):
    """Workspaces made at known times, with subscriptions and payment submissions."""
    now = utcnow()
    pro = factory.plan("pro", name="Pro")
    starter = factory.plan("starter", name="Starter")

    def workspace(slug, age_days, status="active"):
        ws = factory.workspace(slug, status=status)
        ws.created_at = now - timedelta(days=age_days, hours=1)
        db.session.commit()
        return ws

    def subscribe(ws, plan, status, amount, currency="USD", interval="month", ends_in=None):
        return factory.commit(Subscription(
            workspace_id=ws.id, plan_id=plan.id, status=status, amount_cents=amount,
            currency=currency, interval=interval,
            current_period_end=None if ends_in is None else now + ends_in))

    a = workspace("a-new", 2)
    b = workspace("b-week", 5)
    c = workspace("c-month", 20)
    d = workspace("d-old", 60)
    e = workspace("e-old", 90, status="suspended")
    f = workspace("f-pending", 1, status="pending")
    subscribe(a, pro, "active", 1900, ends_in=3 * DAY)               # 19.00 USD a month
    subscribe(b, pro, "active", 19000, interval="year", ends_in=200 * DAY)  # 15.83 a month
    subscribe(c, starter, "active", 900, currency="EUR", ends_in=10 * DAY)
    subscribe(d, starter, "trialing", 900, ends_in=6 * DAY)          # not revenue; ends soon
    subscribe(e, pro, "canceled", 1900, ends_in=2 * DAY)             # neither
    sub_f = subscribe(f, pro, "pending_approval", 1900)
    for status in ("pending", "pending", "approved"):
        factory.commit(PaymentSubmission(workspace_id=f.id, subscription_id=sub_f.id,
                                         plan_id=pro.id, amount_cents=1900, currency="USD",
                                         reference=f"ref-{status}-{id(status)}",
                                         status=status))
    factory.admin("root")
    return {"now": now, "pro": pro.id, "starter": starter.id}


def test_the_figures(app, platform):
    with app.test_request_context():
        figures = dashboard_figures(platform["now"])
    assert figures.active_workspaces == 4  # a, b, c, d (e suspended, f pending)
    assert figures.mrr == {"EUR": 900, "USD": 1900 + 1583}  # 19000 / 12 = 1583.33
    assert [(r.plan_code, r.currency, r.amount_cents) for r in figures.mrr_by_plan] == [
        ("starter", "EUR", 900), ("pro", "USD", 3483)]
    assert (figures.signups_7_days, figures.signups_30_days) == (3, 4)
    per_day = dict(figures.signups_per_day)
    assert len(per_day) == 30 and sum(per_day.values()) == 4
    assert per_day[(platform["now"] - timedelta(days=2, hours=1)).date()] >= 1
    assert figures.pending_approvals == 2
    assert figures.expiring_subscriptions == 1  # a (3 days); d is a trial, e canceled
    assert figures.failed_jobs == 0


def test_monthly_equivalent_is_exact_until_summed():
    assert monthly_equivalent(1000, "year") == Decimal(1000) / 12
    assert monthly_equivalent(1900, "month") == 1900


def test_the_json_twin_and_who_may_read_it(app, platform, client, auth, factory):
    assert client.get("/api/v1/dashboard").status_code == 401
    ws = db.session.query(Workspace).filter_by(slug="a-new").one()
    factory.member(ws, "a-manager")
    auth.login("a-manager")
    assert client.get("/api/v1/dashboard").status_code == 403
    assert client.get("/dashboard/").status_code == 403
    home = client.get("/")
    assert home.status_code == 200 and 'id="setup-checklist"' in home.get_data(as_text=True)
    auth.logout()

    auth.login("root")
    answer = client.get("/api/v1/dashboard")
    assert answer.status_code == 200
    body = answer.json
    assert body["active_workspaces"] == 4
    assert body["mrr"] == [{"currency": "EUR", "amount_cents": 900},
                           {"currency": "USD", "amount_cents": 3483}]
    assert body["mrr_by_plan"][1] == {"plan": {"id": platform["pro"], "code": "pro",
                                               "label": "Pro"},
                                      "currency": "USD", "amount_cents": 3483}
    assert body["signups"]["last_7_days"] == 3 and body["signups"]["last_30_days"] == 4
    assert len(body["signups"]["per_day"]) == 30
    assert (body["pending_approvals"], body["expiring_subscriptions"],
            body["failed_jobs"]) == (2, 1, 0)


def tile(html: str, key: str) -> str:
    return re.search(rf'data-tile="{key}">(.*?)</div>\s*</div>\s*</div>', html, re.S)[1]


def link_of(html: str, key: str) -> str | None:
    found = re.search(r'class="tile-link" href="([^"]+)"', tile(html, key))
    return found[1].replace("&amp;", "&") if found else None


def listed_slugs(client, url: str) -> set[str]:
    html = client.get(url).get_data(as_text=True)
    found = re.findall(r"\b[a-f]-(?:new|week|month|old|pending)\b", html, re.IGNORECASE)
    return {name.lower() for name in found}  # slugs, or the names made of them ("A-New")


def test_the_page_and_where_its_tiles_lead(app, platform, client, auth):
    auth.login("root")
    landing = client.get("/")
    assert landing.status_code == 302 and landing.headers["Location"].endswith("/dashboard/")
    page = client.get("/dashboard/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert ">4<" in tile(html, "active_workspaces")
    assert "34.83 USD" in tile(html, "mrr") and "9.00 EUR" in tile(html, "mrr")
    assert ">2<" in tile(html, "pending_approvals")

    charts = json.loads(re.search(r'<script type="application/json" id="dashboard-charts"[^>]*>'
                                  r"(.*?)</script>", html, re.S)[1])
    assert charts["mrr"]["plans"] == ["Starter", "Pro"]
    assert charts["mrr"]["series"] == [{"currency": "EUR", "amounts": [9.0, 0.0]},
                                       {"currency": "USD", "amounts": [0.0, 34.83]}]
    assert sum(charts["signups"]["counts"]) == 4 and len(charts["signups"]["days"]) == 30
    assert "/static/vendor/chartjs/chart.umd.min.js" in html
    assert "/static/js/dashboard.js" in html
    for script in re.findall(r"<script(?![^>]*application/json)[^>]*>", html):
        assert "nonce=" in script and "src=" in script, script  # no inline script

    assert listed_slugs(client, link_of(html, "active_workspaces")) == {
        "a-new", "b-week", "c-month", "d-old"}
    assert listed_slugs(client, link_of(html, "signups_7_days")) == {"a-new", "b-week",
                                                                     "f-pending"}
    assert listed_slugs(client, link_of(html, "signups_30_days")) == {
        "a-new", "b-week", "c-month", "f-pending"}
    assert listed_slugs(client, link_of(html, "mrr")) == {"a-new", "b-week", "c-month"}
    expiring = link_of(html, "expiring_subscriptions")
    assert expiring and client.get(expiring).status_code == 200
    assert listed_slugs(client, expiring) == {"a-new"}
    assert link_of(html, "failed_jobs").endswith("/runtime/")
    assert client.get(link_of(html, "failed_jobs")).status_code == 200
    assert client.get("/static/vendor/chartjs/chart.umd.min.js").status_code == 200


def test_failed_jobs_are_counted_and_redis_down_is_said(app, platform, client, auth,
                                                        request):
    _failing["on"] = True
    default_queue(app).enqueue(FLAKY, "dashboard", failure_ttl=3600)
    burst(app)
    auth.login("root")
    assert client.get("/api/v1/dashboard").json["failed_jobs"] == 1

    request.getfixturevalue("redis_gone")
    assert client.get("/api/v1/dashboard").json["failed_jobs"] is None
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "Redis does not answer." in tile(html, "failed_jobs")
    assert ">4<" in tile(html, "active_workspaces")  # the rest of the page still works
