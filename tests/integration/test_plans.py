"""Issue 13, point 1: the plans the master admin edits, on the screens and through the REST API.

* Plan add/edit: mediums and modules as multiple choices by label (stored as comma lists of
  codes), limits where an empty field means unlimited ("Unlimited" on the list and show pages);
* prices on the plan's page (a plan price's amount typed as money, stored in minor units);
* the REST twins `plan` and `plan_price` (master admin only), with the screens' checks;
* bad input of every kind refused beside its field, everything typed kept, nothing stored;
* `flask init` creates the four default plans once; a workspace file naming `plan: pro` imports
  on a fresh install after it.
"""
from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from app.extensions import db as _db
from app.models import Plan, PlanPrice, Workspace
from app.models.billing import PLAN_LIMITS, PLAN_MEDIUMS
from tests.form_errors import field_error, field_value
from tests.integration.test_choice_labels import options_of


def count(model) -> int:
    _db.session.expire_all()
    return _db.session.query(model).count()


def plan_named(code: str) -> Plan:
    _db.session.expire_all()
    return _db.session.query(Plan).filter_by(code=code).one()


def text(response) -> str:
    """The page's text: tags of a cell's values (bdi) dropped, others a space."""
    assert response.status_code == 200, response.status_code
    page = re.sub(r"</?bdi[^>]*>", "", response.get_data(as_text=True))
    return unescape(re.sub(r"<[^>]+>", " ", page))


def words(response) -> str:
    return " ".join(text(response).split())


@pytest.fixture
def root(factory, auth):
    factory.admin("root")
    auth.login("root")
    return "root"


GROWTH = {"code": "growth", "name": "Growth", "description": "",
          "mediums": ["greenapi", "telegram"], "modules": ["tickets", "api"],
          "max_channels": "3", "max_linked_users": "", "max_team_members": "5",
          "max_broadcasts_per_month": "", "log_retention_days": "30",
          "api_requests_per_minute": "60", "api_requests_per_day": "", "is_public": "y",
          "sort_order": "4"}


def selected(page: str, field: str) -> list[str]:
    """The values chosen in a multiple select."""
    found = re.search(rf'<select[^>]*\bid="{field}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select {field}"
    return re.findall(r'<option selected value="([^"]*)"', found.group(1))


# --- plans on the screens -----------------------------------------------------------------------

def test_the_add_form_offers_mediums_and_modules_by_their_words(client, root):
    page = client.get("/planview/add").get_data(as_text=True)
    offered = dict(options_of(page))
    assert offered["greenapi"] == "WhatsApp (Green API)" and offered["webchat"] == "Web chat"
    assert offered["tickets"] == "Ticket workflow" and offered["api"] == "API access"
    assert offered["service_cache"] == "Cached service rules"
    assert selected(page, "mediums") == list(PLAN_MEDIUMS)  # a new plan: every medium
    assert selected(page, "modules") == ["api"]
    assert "Leave empty for unlimited." in unescape(page)
    client.get("/lang/es")
    page = client.get("/planview/add").get_data(as_text=True)
    offered = dict(options_of(page))
    assert offered["tickets"] not in ("tickets", "Ticket workflow")
    assert offered["webchat"] not in ("webchat", "Web chat")


def test_a_plan_is_added_with_mediums_modules_and_unlimited_limits(client, root):
    response = client.post("/planview/add", data=GROWTH)
    assert response.status_code == 302, field_errors_of(response)
    plan = plan_named("growth")
    assert plan.mediums == "greenapi,telegram" and plan.modules == "tickets,api"
    assert plan.max_channels == 3 and plan.max_team_members == 5
    assert plan.max_linked_users is None and plan.api_requests_per_day is None  # unlimited
    assert plan.max_broadcasts_per_month is None and plan.log_retention_days == 30

    listing = words(client.get("/planview/list/"))
    assert "Growth" in listing and "Unlimited" in listing
    show = words(client.get(f"/planview/show/{plan.id}"))
    assert "WhatsApp (Green API), Telegram" in show
    assert "Ticket workflow, API access" in show
    assert show.count("Unlimited") == 3  # linked users, broadcasts, API requests a day
    # no raw code in the page's values (the menu's "Panel tickets" is a label, not a code)
    assert not re.search(r"\bgreenapi\b|(?<!Panel )\btickets\b", show), show

    edit = client.get(f"/planview/edit/{plan.id}").get_data(as_text=True)
    assert selected(edit, "mediums") == ["greenapi", "telegram"]
    assert selected(edit, "modules") == ["tickets", "api"]
    assert field_value(edit, "max_linked_users") == ""  # unlimited shows as empty

    client.get("/lang/es")
    show = words(client.get(f"/planview/show/{plan.id}"))
    assert "Unlimited" not in show and "Ticket workflow" not in show


def test_an_edit_empties_a_limit_and_changes_the_choices(client, root):
    client.post("/planview/add", data=GROWTH)
    plan = plan_named("growth")
    response = client.post(f"/planview/edit/{plan.id}", data=dict(
        GROWTH, max_channels="", mediums=["webchat", "meta"], modules=[]))
    assert response.status_code == 302, field_errors_of(response)
    plan = plan_named("growth")
    assert plan.max_channels is None
    assert plan.mediums == "meta,webchat"  # in the order the form offers them
    assert plan.modules == ""  # no module at all is allowed


def field_errors_of(response) -> str:
    page = response.get_data(as_text=True)
    return " | ".join(re.findall(r'field-error">(.*?)</span>', page, re.S))[:2000]


@pytest.mark.parametrize("field, bad, says", [
    ("max_channels", "-1", "Enter a number from 0 to 10000000"),
    ("api_requests_per_minute", "10000001", "Enter a number from 0 to 10000000"),
    ("max_linked_users", "99999999999999999999999", "Enter a number from 0 to 10000000"),
    ("max_team_members", "2.5", "integer"),
    ("mediums", ["greenapi", "sms"], "Not offered: sms"),  # a code posted by hand
    ("modules", ["crm"], "Not offered: crm"),
    ("mediums", [], "required"),
    ("code", "Pro Plan!", "lowercase letters"),
    ("name", "<script>alert(1)</script>Gold", "no HTML tags"),
])
def test_bad_plan_input_is_refused_beside_its_field(client, root, field, bad, says):
    before = count(Plan)
    response = client.post("/planview/add", data=dict(GROWTH, **{field: bad}))
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    error = field_error(page, field)
    assert error is not None and says in error, (field, error)
    assert count(Plan) == before
    for name in ("code", "name", "max_channels", "log_retention_days"):  # everything kept
        if name != field:
            assert field_value(page, name) == GROWTH[name], name
    if field in ("mediums", "modules"):
        assert selected(page, "mediums" if field == "modules" else "modules") == \
            GROWTH["mediums" if field == "modules" else "modules"]
    else:
        assert selected(page, "mediums") == GROWTH["mediums"]
    assert "<script>alert(1)" not in page  # typed markup is shown as text, never run


# --- prices on the plan's page ------------------------------------------------------------------

@pytest.fixture
def growth(client, root):
    client.post("/planview/add", data=GROWTH)
    return plan_named("growth")


PRICE = {"currency": "USD", "interval": "month", "amount": "19.00",
         "stripe_price_id": "price_1MoBy5LkdIwHu7ix", "razorpay_plan_id": ""}


def add_price(client, plan, **values):
    return client.post(f"/planpriceview/add?_flt_0_plan={plan.id}",
                       data=dict(PRICE, plan=str(plan.id), **values))


def test_prices_are_added_edited_and_deleted_from_the_plans_page(client, growth):
    show = client.get(f"/planview/show/{growth.id}").get_data(as_text=True)
    assert f"/planpriceview/add?_flt_0_plan={growth.id}" in show  # the add button of the list
    form = client.get(f"/planpriceview/add?_flt_0_plan={growth.id}").get_data(as_text=True)
    assert 'id="plan"' not in form  # the plan is the page's: not asked again
    assert "e.g. 19.00" in unescape(form)
    response = add_price(client, growth)
    assert response.status_code == 302, field_errors_of(response)
    assert response.location.endswith(f"/planview/show/{growth.id}")
    response = add_price(client, growth, currency="INR", interval="year", amount="15000",
                         stripe_price_id="", razorpay_plan_id="plan_NkFzqNqLZRsYfX")
    assert response.status_code == 302, field_errors_of(response)
    _db.session.expire_all()
    prices = {(p.currency, p.interval): p for p in _db.session.query(PlanPrice)}
    assert prices[("USD", "month")].amount_cents == 1900
    assert prices[("USD", "month")].plan_id == growth.id
    assert prices[("INR", "year")].amount_cents == 1_500_000
    assert prices[("INR", "year")].razorpay_plan_id == "plan_NkFzqNqLZRsYfX"

    page = client.get(f"/planview/show/{growth.id}")
    assert "<th>Plan</th>" not in page.get_data(as_text=True)  # the page's own plan
    show = words(page)
    assert "19.00 USD / Monthly" in show and "15,000.00 INR / Yearly" in show
    assert "price_1MoBy5LkdIwHu7ix" in show and "plan_NkFzqNqLZRsYfX" in show
    assert "Plan prices" in show

    usd = prices[("USD", "month")]
    edit = client.get(f"/planpriceview/edit/{usd.id}").get_data(as_text=True)
    assert field_value(edit, "amount") == "19.00"
    assert 'value="month" selected' in edit or 'selected value="month"' in edit
    response = client.post(f"/planpriceview/edit/{usd.id}",
                           data=dict(PRICE, plan=str(growth.id), amount="24,50"))
    assert response.status_code == 302, field_errors_of(response)
    _db.session.expire_all()
    assert _db.session.get(PlanPrice, usd.id).amount_cents == 2450

    client.get("/lang/es")
    show = words(client.get(f"/planview/show/{growth.id}"))
    assert "24,50 USD" in show and "Monthly" not in show
    client.get("/lang/en")

    response = client.post(f"/planpriceview/delete/{usd.id}")
    assert response.status_code == 302
    assert count(PlanPrice) == 1


def test_a_currency_without_decimals_is_stored_in_whole_units(client, growth):
    response = add_price(client, growth, currency="JPY", amount="2900")
    assert response.status_code == 302, field_errors_of(response)
    _db.session.expire_all()
    price = _db.session.query(PlanPrice).one()
    assert price.amount_cents == 2900  # yen have no minor unit
    assert "2,900 JPY / Monthly" in words(client.get(f"/planview/show/{growth.id}"))


@pytest.mark.parametrize("field, values, says", [
    ("interval", {}, "already has a price in this currency for this billing interval"),
    ("currency", {"currency": "usd"}, "Not a currency code"),
    ("currency", {"currency": "Dollars"}, "Not a currency code"),
    ("amount", {"amount": "-5"}, "at least 0"),
    ("amount", {"amount": "nineteen"}, "Enter an amount such as 19.00"),
    ("amount", {"amount": "1,000"}, "without thousands separators"),
    ("amount", {"amount": "19.999"}, "USD amounts have at most 2 decimals"),
    ("amount", {"amount": "1000000.01"}, "at most 1000000"),
    ("amount", {"amount": "99999999999999999999999"}, "Enter an amount"),
    ("amount", {"currency": "JPY", "amount": "19.50"}, "JPY amounts have no decimals"),
    ("amount", {"amount": ""}, "required"),
    ("stripe_price_id", {"stripe_price_id": "prod_NZKdYqrwEYx6iK"}, "Not a Stripe price id"),
    ("razorpay_plan_id", {"razorpay_plan_id": "sub_1"}, "Not a Razorpay plan id"),
])
def test_bad_price_input_is_refused_beside_its_field(client, growth, field, values, says):
    assert add_price(client, growth).status_code == 302  # USD monthly exists
    before = count(PlanPrice)
    typed = dict(PRICE, **values)
    response = add_price(client, growth, **values)
    assert response.status_code == 200, response.status_code
    page = response.get_data(as_text=True)
    error = field_error(page, field)
    assert error is not None and says in error, (field, error, field_errors_of(response))
    assert count(PlanPrice) == before
    for name in ("currency", "amount", "stripe_price_id"):
        assert field_value(page, name) == typed[name], name


def test_a_refused_price_edit_changes_nothing(client, growth):
    add_price(client, growth)
    add_price(client, growth, currency="EUR", amount="18")
    _db.session.expire_all()
    eur = _db.session.query(PlanPrice).filter_by(currency="EUR").one()
    response = client.post(f"/planpriceview/edit/{eur.id}",
                           data=dict(PRICE, plan=str(growth.id), amount="17.00"))  # → USD
    assert response.status_code == 200
    assert "already has a price" in field_error(response.get_data(as_text=True), "interval")
    _db.session.expire_all()
    eur = _db.session.get(PlanPrice, eur.id)
    assert (eur.currency, eur.amount_cents) == ("EUR", 1800)


# --- the REST twins -----------------------------------------------------------------------------

API_PLAN = {"code": "scale", "name": "Scale", "mediums": "greenapi,meta", "modules": "api",
            "max_channels": 10, "max_linked_users": None, "max_team_members": 8,
            "api_requests_per_minute": 90, "api_requests_per_day": None, "sort_order": 5}


def refused_by_api(response, field: str, says: str) -> None:
    assert response.status_code == 422, (response.status_code, response.json)
    message = response.json["message"]
    assert isinstance(message, dict) and field in message, message
    assert any(says in m for m in message[field]), message


def test_the_rest_api_adds_and_changes_plans_and_prices(client, root):
    response = client.post("/api/v1/plan/", json=API_PLAN)
    assert response.status_code == 201, response.json
    plan_id = response.json["id"]
    plan = plan_named("scale")
    assert plan.mediums == "greenapi,meta" and plan.max_linked_users is None

    response = client.post("/api/v1/plan_price/", json={
        "plan": plan_id, "currency": "USD", "interval": "year", "amount_cents": 49000,
        "stripe_price_id": "price_1MoBy5LkdIwHu7ix"})
    assert response.status_code == 201, response.json
    price_id = response.json["id"]

    shown = client.get(f"/api/v1/plan/{plan_id}").json["result"]
    assert shown["mediums"] == "greenapi,meta" and shown["max_linked_users"] is None
    assert shown["prices"] == [{"id": price_id, "label": "Scale · 490.00 USD / Yearly"}]
    price = client.get(f"/api/v1/plan_price/{price_id}").json["result"]
    assert price["plan"] == {"id": plan_id, "label": "Scale"}  # a summary, never the row
    assert price["amount_cents"] == 49000 and price["interval"] == "year"

    response = client.put(f"/api/v1/plan/{plan_id}", json={"max_channels": None,
                                                           "modules": "api,broadcasts"})
    assert response.status_code == 200, response.json
    plan = plan_named("scale")
    assert plan.max_channels is None and plan.modules == "api,broadcasts"
    assert plan.mediums == "greenapi,meta"  # PUT changes only what it names

    assert client.delete(f"/api/v1/plan_price/{price_id}").status_code == 200
    assert count(PlanPrice) == 0


@pytest.mark.parametrize("values, field, says", [
    ({"mediums": "greenapi,sms"}, "mediums", "Not offered: sms"),
    ({"mediums": ""}, "mediums", "Choose at least one"),
    ({"modules": "api,api"}, "modules", "Listed twice"),
    ({"max_channels": -1}, "max_channels", "Enter a number from 0 to 10000000"),
    ({"api_requests_per_day": 10**12}, "api_requests_per_day", "Enter a number from 0 to"),
    ({"name": "<img src=x onerror=alert(1)>"}, "name", "no HTML tags"),
    ({"code": "Scale Plan"}, "code", "lowercase letters"),
])
def test_the_rest_api_refuses_bad_plans_by_field(client, root, values, field, says):
    refused_by_api(client.post("/api/v1/plan/", json=dict(API_PLAN, **values)), field, says)
    assert count(Plan) == 0


def test_the_rest_api_refuses_bad_prices_by_field(client, growth):
    price = {"plan": growth.id, "currency": "USD", "interval": "month", "amount_cents": 1900}
    assert client.post("/api/v1/plan_price/", json=price).status_code == 201
    refused_by_api(client.post("/api/v1/plan_price/", json=price), "interval",
                   "already has a price in this currency for this billing interval")
    refused_by_api(client.post("/api/v1/plan_price/", json=dict(price, currency="usd")),
                   "currency", "Not a currency code")
    refused_by_api(client.post("/api/v1/plan_price/", json=dict(price, interval="week",
                                                                amount_cents=1)),
                   "interval", "Must be one of")
    refused_by_api(client.post("/api/v1/plan_price/", json=dict(price, currency="EUR",
                                                                amount_cents=-1)),
                   "amount_cents", "Enter a number from 0 to 100000000")
    assert count(PlanPrice) == 1


def test_only_the_master_admin_reaches_plans(factory, auth, client):
    plan = factory.plan()
    _ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    assert client.get("/api/v1/plan/").status_code in (401, 403)
    assert client.get(f"/api/v1/plan/{plan.id}").status_code in (401, 403)
    assert client.post("/api/v1/plan_price/", json={"plan": plan.id}).status_code in (401, 403)
    assert client.get(f"/planview/show/{plan.id}").status_code == 403
    assert client.get("/planpriceview/list/").status_code == 403


def test_a_plan_workspaces_are_on_is_not_deleted(client, growth, factory):
    add_price(client, growth)
    factory.workspace("acme", "Acme", plan_id=growth.id)
    response = client.post(f"/planview/delete/{growth.id}", follow_redirects=True)
    assert "Workspaces are still on this plan" in words(response)
    response = client.delete(f"/api/v1/plan/{growth.id}")
    assert response.status_code == 422, response.json
    assert "move them to another plan" in response.json["message"]
    assert count(Plan) == 1 and count(PlanPrice) == 1
    assert plan_named("growth").prices  # nothing half-deleted

    _db.session.query(Workspace).update({"plan_id": None})
    _db.session.commit()
    assert client.delete(f"/api/v1/plan/{growth.id}").status_code == 200
    assert count(Plan) == 0 and count(PlanPrice) == 0  # its prices go with it


# --- workspaces show their plan -----------------------------------------------------------------

def test_the_workspace_list_shows_each_workspaces_plan(client, root, factory):
    factory.workspace("acme", "Acme", plan=factory.plan(name="Business"))
    factory.workspace("bravo", "Bravo")
    listing = client.get("/workspaceadminview/list/").get_data(as_text=True)
    rows = {m.group(1): m.group(0) for m in re.finditer(
        r"<tr>.*?<bdi[^>]*>(acme|bravo)</bdi>.*?</tr>", listing, re.S)}
    assert "Business" in rows["acme"] and "Business" not in rows["bravo"]
    assert "Plan" in words(client.get("/workspaceadminview/list/"))


# --- flask init: the default plans --------------------------------------------------------------

DEFAULT_LIMITS = {  # code: (channels, linked users, team members, API a minute, API a day)
    "free": (1, 100, 2, 30, 1000),
    "starter": (2, 1000, 5, 60, 10000),
    "pro": (5, 10000, 20, 120, 50000),
    "enterprise": (None, None, None, 300, None),
}


def plans_as_stored() -> dict:
    _db.session.expire_all()
    return {p.code: ({c.key: getattr(p, c.key) for c in Plan.__table__.columns},
                     sorted((x.currency, x.interval, x.amount_cents) for x in p.prices))
            for p in _db.session.query(Plan)}


def test_init_creates_the_four_default_plans_once(app, db):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "Default plans created: free, starter, pro, enterprise." in result.output
    plans = {p.code: p for p in db.session.query(Plan)}
    assert set(plans) == set(DEFAULT_LIMITS)
    for code, (channels, linked, team, per_minute, per_day) in DEFAULT_LIMITS.items():
        plan = plans[code]
        assert (plan.max_channels, plan.max_linked_users, plan.max_team_members) == \
            (channels, linked, team), code
        assert (plan.api_requests_per_minute, plan.api_requests_per_day) == \
            (per_minute, per_day), code
        assert plan.medium_list == list(PLAN_MEDIUMS), code  # every medium on all four
        assert "api" in plan.module_list, code
        assert ("tickets" in plan.module_list) is (code in ("pro", "enterprise")), code
        assert ("broadcasts" in plan.module_list) is (code in ("pro", "enterprise")), code
        assert {(p.currency, p.interval) for p in plan.prices} >= {("USD", "month"),
                                                                   ("USD", "year")}, code
    assert all(getattr(plans["enterprise"], limit) is None for limit in
               ("max_channels", "max_linked_users", "max_team_members",
                "api_requests_per_day"))
    assert set(PLAN_LIMITS) <= {c.key for c in Plan.__table__.columns}

    # the master admin edits a plan and a price, deletes another price; init again: no change
    pro = plans["pro"]
    pro.max_channels, pro.name, pro.modules = 7, "Pro (edited)", "api"
    pro.prices[0].amount_cents = 123
    db.session.delete(plans["free"].prices[0])
    db.session.commit()
    before = plans_as_stored()
    result = runner.invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "Default plans created" not in result.output
    assert plans_as_stored() == before


def test_a_workspace_file_naming_plan_pro_imports_after_init(app, db, tmp_path):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["init"]).exit_code == 0
    path = tmp_path / "acme.yaml"
    sample = Path(__file__).resolve().parents[2] / "docs" / "examples" / "acme.yaml"
    assert "plan: pro" in sample.read_text()
    path.write_text("workspace: {slug: acme, name: Acme SMM, plan: pro, language: en, "
                    "timezone: UTC}\n")
    result = runner.invoke(args=["workspace", "import", str(path)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    workspace = db.session.query(Workspace).filter_by(slug="acme").one()
    assert workspace.plan.code == "pro" and workspace.plan.max_channels == 5
