"""Contacts in a real browser: a manager imports a CSV from Contacts › Import contacts (the
mapping guessed from the headers, a duplicate updated), watches the progress bar reach done by
itself while the job runs, downloads the error report; then adds a contact with custom fields
(a bad phone refused beside its field, what was typed kept), edits it and deletes it. No page
may log a JavaScript error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app import contact_import
from app.extensions import db
from app.models import LinkedUser
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console

pytestmark = pytest.mark.browser

CSV = ("Full name,Phone,E-mail,City\n"
       "Ana,+34 600 000 001,ana@example.com,Madrid\n"
       "Old friend,79005550000,,Paris\n"
       "Bad,call me,,Rome\n")


@pytest.fixture
def shop(app, factory, redis_conn):
    workspace = factory.workspace("contactshop", name="Contact Shop")
    factory.member(workspace, "import-manager", "manager")
    factory.commit(LinkedUser(workspace_id=workspace.id, name="Old", phone="79005550000"))
    return workspace.id


def contacts(workspace_id: int) -> dict[str, LinkedUser]:
    db.session.expire_all()
    return {c.phone or c.name: c for c in
            db.session.query(LinkedUser).filter_by(workspace_id=workspace_id)}


def test_import_with_mapping_duplicates_and_progress_then_crud(new_page, shop, artifacts_dir,
                                                               tmp_path):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "import-manager")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Communication").click()
    page.locator(".navbar a", has_text="Import contacts").click()
    page.wait_for_load_state()
    assert "/contacts/import/" in page.url

    bad = tmp_path / "contacts.pdf"
    bad.write_text("nothing")
    page.set_input_files("#file", str(bad))
    page.locator("#contact-import-upload button[type=submit]").click()
    page.wait_for_load_state()
    assert ".csv or .xlsx" in page.locator("#upload-error").inner_text()

    good = tmp_path / "contacts.csv"
    good.write_text(CSV)
    page.set_input_files("#file", str(good))
    page.locator("#contact-import-upload button[type=submit]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/map")
    assert page.input_value("#target_0") == "name"
    assert page.input_value("#target_1") == "phone"
    assert page.input_value("#target_3") == "custom" and page.input_value("#key_3") == "city"
    page.check("#mode_update")
    page.screenshot(path=str(artifacts_dir / "contacts-import-mapping.png"), full_page=True)
    page.locator("#contact-import-start").click()
    page.wait_for_load_state()
    token = page.url.rstrip("/").split("/")[-1]
    assert page.locator("#import-progress").get_attribute("data-state") == "queued"
    contact_import.run_import(token)  # the worker's part
    page.locator("#import-progress[data-state=done]").wait_for(timeout=30_000)
    assert page.locator("#import-bar").inner_text() == "100%"
    assert page.locator("[data-field=created]").inner_text() == "1"
    assert page.locator("[data-field=updated]").inner_text() == "1"
    assert page.locator("[data-field=failed]").inner_text() == "1"
    page.screenshot(path=str(artifacts_dir / "contacts-import-done.png"), full_page=True)
    with page.expect_download() as download:
        page.locator("#import-errors").click()
    report = open(download.value.path(), encoding="utf-8").read()
    assert report.splitlines()[0] == "row,column,reason" and report.splitlines()[1]\
        .startswith("4,Phone,")
    found = contacts(shop)
    assert found["34600000001"].custom_fields == {"city": "Madrid"}
    assert found["79005550000"].name == "Old friend"

    # CRUD with custom fields
    page.goto("/contactview/add")
    page.fill("#name", "Maria")
    page.fill("#phone", "phone?")
    page.fill("#custom_fields", "tier = gold\nrefs = 3")
    page.locator("#model_form button[type=submit], #model_form input[type=submit]"
                 ).first.click()
    page.wait_for_load_state()
    assert "Not a phone number" in page.content()
    assert page.input_value("#name") == "Maria"
    assert "tier = gold" in page.input_value("#custom_fields")
    page.fill("#phone", "+7 900 765-43-21")
    page.locator("#model_form button[type=submit], #model_form input[type=submit]"
                 ).first.click()
    page.wait_for_load_state()
    maria = contacts(shop)["79007654321"]
    assert maria.custom_fields == {"tier": "gold", "refs": "3"}
    page.goto(f"/contactview/edit/{maria.id}")
    page.fill("#custom_fields", "tier = silver")
    page.locator("#model_form button[type=submit], #model_form input[type=submit]"
                 ).first.click()
    page.wait_for_load_state()
    assert contacts(shop)["79007654321"].custom_fields == {"tier": "silver"}
    page.goto("/contactview/list/?_flt_0_phone=790076")
    assert "Maria" in page.content() and "Old friend" not in page.content()
    page.screenshot(path=str(artifacts_dir / "contacts-list.png"), full_page=True)
    assert errors == []
