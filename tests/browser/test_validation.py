"""Issue 11 point 3 in a real browser: a refused form keeps what was typed and shows each error
beside its field; a subscription's period dates are chosen with one calendar and saved.
Screenshots go to test-artifacts/."""
from __future__ import annotations

import re

import pytest

from app.extensions import db as _db
from app.models import Channel, Plan, Subscription
from tests.browser.test_provider_routes import choose, sign_in
from tests.factories import password_for

pytestmark = pytest.mark.browser


def set_select(page, field: str, value: str) -> None:
    """Choose an option of a (select2) select by value, as its change event expects."""
    page.locator(f"#model_form select#{field}").evaluate(
        "(e, v) => { e.value = v; e.dispatchEvent(new Event('change', {bubbles: true})); }",
        value)


def save(page) -> None:
    page.locator("#model_form").locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()


def error_beside(page, field: str) -> str:
    group = page.locator(f"#model_form .form-group.has-error:has(#{field})")
    assert group.count() == 1, f"no refused .form-group around {field}"
    return " ".join(group.locator(".help-block.field-error").all_inner_texts())


def test_a_refused_channel_form_keeps_what_was_typed(new_page, factory, artifacts_dir):
    workspace = factory.workspace("acme", "Acme")
    manager = factory.member(workspace, "acme-manager", "manager")
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, manager.username, password_for(manager.username))
    page.goto("/channelview/add?kind=greenapi")
    page.fill("#model_form #name", "Shop WhatsApp")
    page.fill("#model_form #api_url", "https://api.green-api.com")
    page.fill("#model_form #id_instance", "abc")
    page.fill("#model_form #api_token", "typed-secret-123")
    page.fill("#model_form #notes", "the shop's main number")
    save(page)
    page.screenshot(path=str(artifacts_dir / "validation-channel-refused.png"), full_page=True)

    assert re.search(r"/channelview/add", page.url)
    assert "Use digits only" in error_beside(page, "id_instance")
    assert page.input_value("#model_form #name") == "Shop WhatsApp"
    assert page.input_value("#model_form #id_instance") == "abc"
    assert page.input_value("#model_form #api_url") == "https://api.green-api.com"
    assert page.input_value("#model_form #notes") == "the shop's main number"
    assert page.locator("#model_form input[name=kind]").input_value() == "greenapi"
    # the secret is not echoed into the page; the field says to type it again
    assert page.input_value("#model_form #api_token") == ""
    assert "typed-secret-123" not in page.content()
    assert "enter it again" in error_beside(page, "api_token")

    # corrected, it saves
    page.fill("#model_form #id_instance", "1101234567")
    page.fill("#model_form #api_token", "typed-secret-123")
    save(page)
    assert "/channelview/add" not in page.url, page.url  # saved: the form is gone
    _db.session.expire_all()
    saved = _db.session.query(Channel).filter_by(name="Shop WhatsApp").one()
    assert (saved.id_instance, saved.notes) == ("1101234567", "the shop's main number")
    assert not errors, errors


def test_a_subscription_period_is_chosen_with_one_calendar_and_saved(new_page, factory,
                                                                     artifacts_dir):
    workspace = factory.workspace("acme", "Acme")
    _db.session.add(Plan(code="pro", name="Pro"))
    _db.session.commit()
    admin = factory.admin("root")
    page = new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, admin.username, password_for(admin.username))
    page.goto("/adminsubscriptionview/add")
    choose(page, "workspace", workspace.name)
    choose(page, "plan", "Pro")
    set_select(page, "status", "active")

    calendars = page.locator(".datepicker-dropdown:visible")
    page.locator("#current_period_start").click()
    assert calendars.count() == 1
    page.screenshot(path=str(artifacts_dir / "validation-subscription-calendar.png"),
                    full_page=True)
    calendars.locator("td.day:not(.old):not(.new)", has_text=re.compile(r"^15$")).click()
    start = page.input_value("#current_period_start")
    assert re.fullmatch(r"\d{4}-\d{2}-15", start), start
    page.locator("#current_period_end").click()
    assert calendars.count() == 1  # the first one closed
    calendars.locator("td.day:not(.old):not(.new)", has_text=re.compile(r"^28$")).click()
    end = page.input_value("#current_period_end")
    page.locator("#model_form label[for=plan]").click()  # away from the fields
    assert calendars.count() == 0
    save(page)
    page.screenshot(path=str(artifacts_dir / "validation-subscription-saved.png"),
                    full_page=True)
    assert "/adminsubscriptionview/add" not in page.url, page.url  # saved: the form is gone
    _db.session.expire_all()
    row = _db.session.query(Subscription).one()
    assert row.current_period_start.date().isoformat() == start
    assert row.current_period_end.date().isoformat() == end
    assert not errors, errors
