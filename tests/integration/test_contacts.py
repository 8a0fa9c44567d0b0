"""Contacts › Contacts, Contact groups, Import contacts and their REST twins
(app/views/contacts.py, app/contact_import.py): CRUD with custom fields, phone numbers as
digits, the Linked users screen as the contacts with a username, groups, CSV export with
formulas defused, and the import (mapping, duplicates skip/update/create, progress, the error
report, bad files, the plan's limit, opt-out)."""
from __future__ import annotations

import csv
import io

import pytest

from app import contact_import
from app.extensions import db
from app.models import ContactGroup, LinkedUser
from tests.form_errors import api_message, field_error


@pytest.fixture
def acme(factory, auth, redis_conn):
    workspace, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    return workspace


def contacts(workspace) -> list[LinkedUser]:
    db.session.expire_all()
    return db.session.query(LinkedUser).filter_by(workspace_id=workspace.id) \
        .order_by(LinkedUser.id).all()


def add_form(**values):
    form = {"name": "", "phone": "", "email": "", "username": "", "language": "en", "tags": "",
            "custom_fields": "", "notes": ""}
    form.update(values)
    return form


# --- CRUD ---------------------------------------------------------------------------------

def test_a_contact_is_added_with_custom_fields_and_its_phone_as_digits(client, acme):
    response = client.post("/contactview/add", data=add_form(
        name="Maria", phone="+34 (600) 123-456", email="Maria@Example.com",
        custom_fields="city = Madrid\nplan_tier = gold", tags="vip"), follow_redirects=True)
    assert response.status_code == 200
    (maria,) = [c for c in contacts(acme) if c.name == "Maria"]
    assert (maria.phone, maria.email, maria.username, maria.source) == \
        ("34600123456", "maria@example.com", None, "manual")
    assert maria.custom_fields == {"city": "Madrid", "plan_tier": "gold"}
    assert str(maria) == "Maria"

    page = client.get(f"/contactview/edit/{maria.id}").get_data(as_text=True)
    assert "city = Madrid" in page and "plan_tier = gold" in page
    client.post(f"/contactview/edit/{maria.id}", data=add_form(
        name="Maria", phone="34600123456", custom_fields="city = Sevilla"))
    db.session.expire_all()
    assert db.session.get(LinkedUser, maria.id).custom_fields == {"city": "Sevilla"}


def test_bad_phone_and_custom_field_keys_are_refused_beside_their_fields(client, acme):
    page = client.post("/contactview/add", data=add_form(
        name="Bob", phone="call me", custom_fields="city = Rome")).get_data(as_text=True)
    assert field_error(page, "phone") and "phone number" in field_error(page, "phone")
    assert 'value="Bob"' in page and "city = Rome" in page  # nothing typed is lost
    page = client.post("/contactview/add", data=add_form(
        name="Bob", custom_fields="Bad Key = 1")).get_data(as_text=True)
    assert "key = value" in field_error(page, "custom_fields")
    assert 'value="Bob"' in page
    assert not [c for c in contacts(acme) if c.name == "Bob"]
    page = client.post("/contactview/add", data=add_form()).get_data(as_text=True)
    assert field_error(page, "name")


def test_the_rest_twin_takes_and_refuses_contacts(client, acme):
    response = client.post("/api/v1/contact/", json={
        "name": "Api person", "phone": "7 900 111 22 33", "custom_fields": {"city": "Kazan"}})
    assert response.status_code == 201, response.json
    row = db.session.get(LinkedUser, response.json["id"])
    assert row.phone == "79001112233" and row.custom_fields == {"city": "Kazan"}
    bad = client.post("/api/v1/contact/", json={"name": "X", "phone": "abc"})
    assert bad.status_code == 422 and "phone" in api_message(bad).lower()
    bad = client.post("/api/v1/contact/", json={"name": "X", "custom_fields": {"Bad": "1"}})
    assert bad.status_code == 422


def test_linked_users_lists_only_the_contacts_with_a_username(client, acme):
    db.session.add(LinkedUser(workspace_id=acme.id, name="No username", source="chat"))
    db.session.commit()
    page = client.get("/linkeduserview/list/").get_data(as_text=True)
    assert "acme-customer" in page and "No username" not in page
    page = client.get("/contactview/list/").get_data(as_text=True)
    assert "acme-customer" in page and "No username" in page
    listed = client.get("/api/v1/linked_user/").json["result"]
    assert [r["username"] for r in listed] == ["acme-customer"]


def test_contacts_are_searched_by_phone_and_exported_with_formulas_defused(client, acme):
    db.session.add_all([
        LinkedUser(workspace_id=acme.id, name="=HYPERLINK(\"x\")", phone="79001110000"),
        LinkedUser(workspace_id=acme.id, name="Other", phone="79002220000")])
    db.session.commit()
    page = client.get("/contactview/list/?_flt_0_phone=7900111").get_data(as_text=True)
    assert "HYPERLINK" in page and "Other" not in page
    response = client.get("/api/v1/contact/export.csv")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text


def test_contacts_are_added_to_a_group(client, acme):
    group = ContactGroup(workspace_id=acme.id, name="VIP")
    one = LinkedUser(workspace_id=acme.id, name="One")
    db.session.add_all([group, one])
    db.session.commit()
    response = client.post("/contacts/import/add-to-group",
                           data={"ids": str(one.id), "group_id": group.id})
    assert response.status_code == 302
    db.session.expire_all()
    assert [g.name for g in db.session.get(LinkedUser, one.id).groups] == ["VIP"]


# --- import -------------------------------------------------------------------------------

FILE = (
    "Full name;Phone;E-mail;Tags;Unsubscribed;City\n"
    "Ana;+34 600 000 001;ana@example.com;lead;no;Madrid\n"
    "Ben;79001234567;;;yes;Kazan\n"
    "Existing new name;79005550000;;vip;;Paris\n"
    "Bad phone;phone?;;;;Rome\n"
    "=cmd|' /C calc'!A0;;bad-email;;;\n"
    "Ana again;34600000001;;es;;\n"
)


def upload(client, body: bytes, filename="contacts.csv"):
    return client.post("/contacts/import/", data={"file": (io.BytesIO(body), filename)},
                       content_type="multipart/form-data")


def run(client, body: bytes, mode: str, mapping: dict | None = None):
    response = upload(client, body)
    assert response.status_code == 302, response.get_data(as_text=True)
    token = response.headers["Location"].rstrip("/").split("/")[-2]
    page = client.get(f"/contacts/import/{token}/map").get_data(as_text=True)
    form = {"mode": mode}
    guessed = {"target_0": "name", "target_1": "phone", "target_2": "email",
               "target_3": "tags", "target_4": "opted_out", "target_5": "custom",
               "key_5": "city"}
    for name, value in guessed.items():  # the guesses made from the headers
        if name.startswith("target_"):
            assert f'value="{value}" selected' in page, name
    form.update(mapping or guessed)
    response = client.post(f"/contacts/import/{token}/map", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get(f"/contacts/import/{token}/progress").json["state"] == "queued"
    contact_import.run_import(token)
    return token


def test_an_import_maps_columns_skips_duplicates_and_reports_errors(client, acme):
    db.session.add(LinkedUser(workspace_id=acme.id, name="Old", phone="79005550000",
                              tags="old"))
    db.session.commit()
    token = run(client, FILE.encode(), "skip")

    progress = client.get(f"/contacts/import/{token}/progress").json
    assert progress["state"] == "done" and progress["percent"] == 100
    assert (progress["total"], progress["created"], progress["updated"], progress["skipped"],
            progress["failed"]) == (6, 2, 0, 2, 2)
    by_name = {c.name: c for c in contacts(acme)}
    assert by_name["Ana"].phone == "34600000001" and by_name["Ana"].custom_fields == \
        {"city": "Madrid"} and by_name["Ana"].source == "import"
    assert by_name["Ben"].opted_out is True and by_name["Ben"].opted_out_at is not None
    assert by_name["Old"].tags == "old"  # skipped: unchanged
    report = list(csv.reader(io.StringIO(
        client.get(f"/contacts/import/{token}/errors.csv").get_data(as_text=True))))
    assert report[0] == ["row", "column", "reason"]
    assert [r[:2] for r in report[1:]] == [["5", "Phone"], ["6", "E-mail"]]
    page = client.get(f"/contacts/import/{token}/").get_data(as_text=True)
    assert 'id="import-bar"' in page and "100%" in page


def test_update_mode_writes_the_rows_values_into_the_existing_contact(client, acme):
    db.session.add(LinkedUser(workspace_id=acme.id, name="Old", phone="79005550000",
                              tags="old", custom_fields={"tier": "1"}))
    db.session.commit()
    run(client, FILE.encode(), "update")
    by_phone = {c.phone: c for c in contacts(acme) if c.phone}
    old = by_phone["79005550000"]
    assert old.name == "Existing new name" and old.tags == "old, vip"
    assert old.custom_fields == {"tier": "1", "city": "Paris"}
    ana = by_phone["34600000001"]  # "Ana again" (same phone, same file) updated Ana
    assert ana.name == "Ana again" and ana.tags == "lead, es"
    assert len([c for c in contacts(acme) if c.phone == "34600000001"]) == 1


def test_create_mode_makes_another_contact_for_a_duplicate(client, acme):
    run(client, FILE.encode(), "create")
    assert len([c for c in contacts(acme) if c.phone == "34600000001"]) == 2


def test_the_plans_limit_stops_new_contacts(client, acme, factory):
    acme.plan = factory.plan(max_linked_users=2)  # acme-customer + one
    db.session.commit()
    token = run(client, FILE.encode(), "skip")
    progress = client.get(f"/contacts/import/{token}/progress").json
    assert progress["created"] == 1
    assert "limit of linked users and contacts" in \
        client.get(f"/contacts/import/{token}/errors.csv").get_data(as_text=True)
    assert "contacts-limit-reached" in client.get("/contactview/list/").get_data(as_text=True)


def test_an_excel_file_is_imported(client, acme):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Name", "Phone", "Email"])
    sheet.append(["Xl person", 79009998877, "xl@example.com"])
    out = io.BytesIO()
    book.save(out)
    response = upload(client, out.getvalue(), "book.xlsx")
    token = response.headers["Location"].rstrip("/").split("/")[-2]
    client.post(f"/contacts/import/{token}/map",
                data={"mode": "skip", "target_0": "name", "target_1": "phone",
                      "target_2": "email"})
    contact_import.run_import(token)
    (person,) = [c for c in contacts(acme) if c.name == "Xl person"]
    assert person.phone == "79009998877" and person.email == "xl@example.com"


@pytest.mark.parametrize(("body", "filename", "words"), [
    (b"name\nx\n", "contacts.pdf", ".csv or .xlsx"),
    (b"", "contacts.csv", "empty"),
    (b"name,phone\n", "contacts.csv", "no contacts"),
    ("name\nJos\xe9\n".encode("latin-1"), "contacts.csv", "UTF-8"),
    (b"not a zip", "contacts.xlsx", "Excel"),
])
def test_bad_files_get_a_clear_answer(client, acme, body, filename, words):
    response = upload(client, body, filename)
    assert response.status_code == 200
    assert words in response.get_data(as_text=True)


def test_a_mapping_without_a_name_phone_email_or_username_is_refused(client, acme):
    token = upload(client, FILE.encode()).headers["Location"].rstrip("/").split("/")[-2]
    page = client.post(f"/contacts/import/{token}/map",
                       data={"mode": "skip", "target_0": "tags", "target_1": "tags"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "more than one column" in text
    assert "Map at least one column" in text


def test_another_workspaces_import_is_not_found(client, acme, factory, auth):
    token = upload(client, FILE.encode()).headers["Location"].rstrip("/").split("/")[-2]
    other, other_manager = factory.populated_workspace("other")
    auth.logout()
    auth.login(other_manager.username)
    for path in ("map", "", "progress", "errors.csv"):
        assert client.get(f"/contacts/import/{token}/{path}").status_code == 404
    assert client.get("/contacts/import/not-a-token!/progress").status_code == 404


def test_health_says_when_the_plans_limit_of_contacts_is_reached(client, acme, factory):
    from app.health_checks import evaluate

    acme.plan = factory.plan(max_linked_users=2)
    db.session.commit()
    assert "contacts_limit_reached" not in [p.code for p in evaluate(acme.id).problems]
    db.session.add(LinkedUser(workspace_id=acme.id, name="Second"))
    db.session.commit()
    (problem,) = [p for p in evaluate(acme.id).problems if p.code == "contacts_limit_reached"]
    assert problem.severity == "warning" and "limit of 2" in problem.message()
    assert problem.link == "/contactview/list/"


def test_a_contact_is_deleted_by_its_screen_and_its_rest_twin(client, acme):
    one = LinkedUser(workspace_id=acme.id, name="One")
    two = LinkedUser(workspace_id=acme.id, name="Two")
    db.session.add_all([one, two])
    db.session.commit()
    ids = one.id, two.id
    assert client.post(f"/contactview/delete/{ids[0]}").status_code == 302
    assert client.delete(f"/api/v1/contact/{ids[1]}").status_code == 200
    db.session.expire_all()
    assert db.session.get(LinkedUser, ids[0]) is None and db.session.get(LinkedUser, ids[1]) is None


def test_another_workspaces_groups_cannot_be_given_to_a_contact(client, acme, factory):
    """A many-to-many reference (a contact's groups) is checked like a foreign key: another
    workspace's group id is refused exactly like an id that does not exist, on every twin, and
    nothing of that group is named or changed."""
    other = factory.workspace("globex")
    theirs = factory.commit(ContactGroup(workspace_id=other.id, name="Globex secret list"))
    mine = factory.commit(ContactGroup(workspace_id=acme.id, name="Acme VIP"))
    answers = {}
    for label, group_id in (("theirs", theirs.id), ("missing", theirs.id + 1000)):
        response = client.post("/api/v1/contact/", json={"name": "Probe", "groups": [group_id]})
        answers[label] = (response.status_code, response.json)
        assert response.status_code in (400, 422, 404), response.json
        assert "Globex" not in response.get_data(as_text=True)
    assert answers["theirs"] == answers["missing"]
    contact = factory.linked_user(acme, "acme-buyer")
    for resource in ("contact", "linked_user"):
        response = client.put(f"/api/v1/{resource}/{contact.id}",
                              json={"groups": [mine.id, theirs.id]})
        assert response.status_code in (400, 422), (resource, response.json)
        assert "Globex" not in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ContactGroup, theirs.id).contacts == []
    assert db.session.get(LinkedUser, contact.id).groups == []
    assert not [c for c in contacts(acme) if c.name == "Probe"]
    ok = client.put(f"/api/v1/contact/{contact.id}", json={"groups": [mine.id]})
    assert ok.status_code == 200, ok.json
    db.session.expire_all()
    assert [g.name for g in db.session.get(LinkedUser, contact.id).groups] == ["Acme VIP"]


def _zip_bomb() -> bytes:
    """An .xlsx-looking zip whose one entry unpacks to more than the import reads (streamed:
    the test never holds the unpacked bytes)."""
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as entry:
            chunk = b"\x00" * (1024 * 1024)
            for _ in range(contact_import.MAX_UNPACKED_BYTES // len(chunk) + 1):
                entry.write(chunk)
    return buffer.getvalue()


@pytest.mark.parametrize(("make", "filename", "words"), [
    (_zip_bomb, "contacts.xlsx", "too large once unpacked"),
    (lambda: b"name,phone\n" + b"a" * 200_000 + b",1\n", "contacts.csv", "cannot be read as CSV"),
])
def test_hostile_files_are_refused_beside_the_field(client, acme, make, filename, words):
    body = make()
    assert len(body) < contact_import.MAX_BYTES
    response = upload(client, body, filename)
    assert response.status_code == 200
    assert words in response.get_data(as_text=True)


def test_a_workspace_keeps_at_most_a_few_imports_waiting(client, acme):
    for _ in range(contact_import.MAX_PENDING):
        assert upload(client, FILE.encode()).status_code == 302
    refused = upload(client, FILE.encode())
    assert refused.status_code == 200
    assert "waiting to be mapped or running" in refused.get_data(as_text=True)
