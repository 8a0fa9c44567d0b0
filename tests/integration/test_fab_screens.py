"""Issue 11, browser walk-through: FAB's own screens read like ours, languages are chosen from a
list, and a new panel connection's form starts sensibly.

* Security → List Users, a user's Show page, a member's Profile (`/users/userinfo/`) and the role
  screens: Yes/No, "—" for empty, times without microseconds, roles by their words, in the
  reader's language; the user form offers roles by their words (the option's value stays the id).
* Every add and edit form with a language column shows a select of the shipped languages by
  name; the code is stored unchanged; the screens refuse a language they do not offer, while
  the REST API keeps taking any ISO 639-1 code.
* The panel connection's add form starts on Perfect Panel (API v2), and its secrets' hint says
  "leave blank to keep" only on the edit form.
"""
from __future__ import annotations

import re

import pytest

from app.extensions import db as _db
from app.models import LinkedUser, PanelConnection, Workspace
from app.security import ROLE_ADMIN, ROLE_AGENT, ROLE_MANAGER, ROLE_TRANSLATOR
from app.views.base import CUSTOMER_LANGUAGE_MODELS
from app.views.formatting import LANGUAGE_COLUMNS
from tests.form_errors import field_error, field_value
from tests.integration.test_choice_labels import form_pages, options_of

MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d+")
RAW = ("True", "False", "None", f"[{ROLE_MANAGER}]", ROLE_MANAGER, ROLE_AGENT)
SPANISH_ROLES = {ROLE_ADMIN: "Administrador principal",
                 ROLE_MANAGER: "Gerente del espacio de trabajo",
                 ROLE_AGENT: "Agente del espacio de trabajo", ROLE_TRANSLATOR: "Traductor",
                 "Public": "Público"}
SHIPPED_IN_SPANISH = {"en": "inglés", "es": "español", "pt_BR": "portugués (Brasil)",
                      "ru": "ruso", "tr": "turco", "id": "indonesio", "ar": "árabe"}


def cells(page: str) -> str:
    """The page's text as a person reads it (tags, scripts and extra spaces gone)."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


def words(text: str) -> set[str]:
    return set(re.findall(r"[\w\[\]]+", text))


@pytest.fixture
def world(factory):
    workspace, manager = factory.populated_workspace("acme")
    agent = factory.member(workspace, "acme-agent", "agent")
    factory.admin("root")
    return workspace, manager, agent


@pytest.fixture
def spanish_admin(world, client, auth):
    auth.login("root")
    client.get("/lang/es")
    return client


# --- FAB's user and role screens ----------------------------------------------------------------

def test_the_list_of_users_reads_as_words(spanish_admin, world):
    text = cells(spanish_admin.get("/users/list/").get_data(as_text=True))
    assert "Sí" in text and "—" in text  # active; never signed in
    assert SPANISH_ROLES[ROLE_MANAGER] in text and SPANISH_ROLES[ROLE_AGENT] in text
    assert not words(text) & set(RAW), words(text) & set(RAW)
    assert not MICROSECONDS.search(text)
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d\b", text)  # root's last sign-in


def test_a_users_show_page_reads_as_words(spanish_admin, world):
    _workspace, manager, _agent = world
    text = cells(spanish_admin.get(f"/users/show/{manager.id}").get_data(as_text=True))
    assert "Sí" in text and SPANISH_ROLES[ROLE_MANAGER] in text
    assert not words(text) & set(RAW), words(text) & set(RAW)
    assert not MICROSECONDS.search(text)
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d:\d\d\b", text)  # created on, to the second


@pytest.mark.parametrize("language, active, role", [
    ("es", "Sí", "Gerente del espacio de trabajo"),
    ("ru", "Да", "Менеджер рабочего пространства"),
    ("ar", "نعم", "مدير مساحة العمل"),
])
def test_a_managers_profile_reads_as_words_in_their_language(client, auth, world, language,
                                                              active, role):
    auth.login("acme-manager")
    client.get(f"/lang/{language}")
    response = client.get("/users/userinfo/")
    assert response.status_code == 200
    text = cells(response.get_data(as_text=True))
    assert active in text and role in text
    assert not words(text) & set(RAW), words(text) & set(RAW)


def test_the_user_form_offers_roles_by_their_words(spanish_admin, world):
    sm = spanish_admin.application.appbuilder.sm
    by_id = {str(role.id): role.name for role in sm.get_all_roles()}
    for path in ("/users/add", f"/users/edit/{world[1].id}"):
        page = spanish_admin.get(path).get_data(as_text=True)
        select = page.split('name="roles"', 1)[1].split("</select>", 1)[0]
        offered = dict(options_of("<select>" + select + "</select>"))
        assert offered, path
        for value, text in offered.items():
            name = by_id[value]  # the option's value is still the role's id
            assert text == SPANISH_ROLES.get(name, name), (path, name, text)


def test_a_user_saved_through_the_form_keeps_the_chosen_role(spanish_admin, world):
    sm = spanish_admin.application.appbuilder.sm
    agent_role = sm.find_role(ROLE_AGENT)
    response = spanish_admin.post("/users/add", data={
        "first_name": "Ana", "last_name": "Gómez", "username": "ana", "active": "y",
        "email": "ana@test.example", "roles": str(agent_role.id),
        "password": "Quiet-Harbor-Lantern-42", "conf_password": "Quiet-Harbor-Lantern-42"})
    assert response.status_code == 302, cells(response.get_data(as_text=True))[:2000]
    assert [role.name for role in sm.find_user(username="ana").roles] == [ROLE_AGENT]


def test_the_role_screens_name_roles_by_their_words(spanish_admin):
    text = cells(spanish_admin.get("/roles/list/").get_data(as_text=True))
    for name in (ROLE_MANAGER, ROLE_AGENT, ROLE_TRANSLATOR):
        assert SPANISH_ROLES[name] in text
    manager_role = spanish_admin.application.appbuilder.sm.find_role(ROLE_MANAGER)
    shown = cells(spanish_admin.get(f"/roles/show/{manager_role.id}").get_data(as_text=True))
    assert SPANISH_ROLES[ROLE_MANAGER] in shown and "can list on" in shown
    assert "[can " not in shown  # permissions as a list, not Python's repr


def test_fab_times_written_in_local_time_are_shown_in_the_readers_zone(monkeypatch):
    import datetime as dt
    import time

    from app.views.formatting import format_time, server_local

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        local_noon = dt.datetime(2026, 12, 3, 12, 0, 0, 243896)  # FAB's datetime.now()
        assert format_time(server_local(local_noon), seconds=True, zone=dt.UTC) == \
            "2026-12-03 03:00:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


# --- languages: a select of the shipped languages -----------------------------------------------

def test_every_language_field_is_a_select_of_the_shipped_languages(app, spanish_admin):
    """Workspace languages (the screens' and the default replies') are chosen from the shipped
    ones; customers' languages (`CUSTOMER_LANGUAGE_MODELS`) stay free ISO codes."""
    models = {view.route_base.strip("/"): view.datamodel.obj.__name__
              for view in app.appbuilder.baseviews
              if getattr(view, "route_base", None) and getattr(view, "datamodel", None)}
    selects, texts = [], []
    for path in form_pages(app, spanish_admin):
        page = spanish_admin.get(path).get_data(as_text=True)
        for column in LANGUAGE_COLUMNS:
            tag = re.search(rf'<(input|select|textarea)\b[^>]*\bname="{column}"', page)
            if tag is None:
                continue
            if models.get(path.split("/")[1]) in CUSTOMER_LANGUAGE_MODELS:
                assert tag.group(1) == "input", f"{path}: a customer's language is a {tag.group(1)}"
                texts.append(path)
                continue
            assert tag.group(1) == "select", f"{path}: {column} is a free-text {tag.group(1)}"
            select = page[tag.start():page.index("</select>", tag.start())]
            offered = dict(options_of(select + "</select>"))
            assert offered == SHIPPED_IN_SPANISH, (path, offered)
            selects.append(path)
    assert {p.split("/")[1] for p in selects} >= {"workspaceadminview", "myworkspaceview"}
    assert {p.split("/")[1] for p in texts} >= {"linkeduserview", "replytemplateview",
                                                "globalreplytemplateview"}
    assert any("/edit/" in p for p in selects) and any(p.endswith("/add") for p in selects)


def test_a_language_is_saved_as_its_code(client, auth, world):
    workspace, _manager, _agent = world
    auth.login("acme-manager")
    response = client.post("/linkeduserview/add", data={"username": "bob", "language": "pt_BR"})
    assert response.status_code == 302
    assert _db.session.query(LinkedUser).filter_by(username="bob").one().language == "pt_BR"
    response = client.post(f"/myworkspaceview/edit/{workspace.id}", data={
        "name": "Acme", "language": "ar", "timezone": "Europe/Istanbul"})
    assert response.status_code == 302
    _db.session.expire_all()
    assert _db.session.get(Workspace, workspace.id).language == "ar"


@pytest.mark.parametrize("typed, says", [
    ("Spanish", "Not a language code"),  # the language rule still checks the value
    ("de", "Choose one of the languages offered"),  # a real code, but not one we ship
])
def test_the_workspace_screen_refuses_a_language_it_does_not_offer(client, auth, world, typed,
                                                                    says):
    workspace, _manager, _agent = world
    auth.login("acme-manager")
    response = client.post(f"/myworkspaceview/edit/{workspace.id}", data={
        "name": "Typed name", "language": typed, "timezone": "UTC"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert says in (field_error(page, "language") or ""), field_error(page, "language")
    assert field_value(page, "name") == "Typed name"
    _db.session.expire_all()
    assert _db.session.get(Workspace, workspace.id).language == "en"


def test_a_customers_language_may_be_any_iso_code(client, auth, world):
    auth.login("acme-manager")
    refused = client.post("/linkeduserview/add", data={"username": "bob", "language": "Spanish",
                                                       "notes": "typed"})
    assert "Not a language code" in (field_error(refused.get_data(as_text=True), "language")
                                     or "")
    response = client.post("/linkeduserview/add", data={"username": "hans", "language": "de"})
    assert response.status_code == 302
    assert _db.session.query(LinkedUser).filter_by(username="hans").one().language == "de"


def test_the_rest_api_still_takes_any_iso_code(client, auth, world):
    auth.login("acme-manager")
    response = client.post("/api/v1/linked_user/", json={"username": "hans", "language": "de"})
    assert response.status_code == 201, response.json
    assert _db.session.query(LinkedUser).filter_by(username="hans").one().language == "de"


def test_a_row_in_another_language_keeps_it_on_its_edit_form(client, auth, world):
    workspace, _manager, _agent = world
    _db.session.get(Workspace, workspace.id).language = "fr"  # written through the REST API
    _db.session.commit()
    auth.login("acme-manager")
    client.get("/lang/es")
    page = client.get(f"/myworkspaceview/edit/{workspace.id}").get_data(as_text=True)
    assert ("fr", "francés") in options_of(page)
    response = client.post(f"/myworkspaceview/edit/{workspace.id}", data={
        "name": "Acme", "language": "fr", "timezone": "UTC"})
    assert response.status_code == 302, field_error(response.get_data(as_text=True), "language")


# --- the panel connection's add form ------------------------------------------------------------

def test_a_new_panel_connection_starts_on_perfect_panel(client, auth, factory):
    workspace = factory.workspace("fresh")
    factory.member(workspace, "fresh-manager")
    auth.login("fresh-manager")
    page = client.get("/panelconnectionview/add").get_data(as_text=True)
    assert field_value(page, "panel_type") == "perfectpanel_v2"
    assert PanelConnection.__table__.c.panel_type.default.arg == "demo"  # API and file: as before


def test_leave_blank_to_keep_is_said_on_edit_only(client, auth, world):
    workspace, _manager, _agent = world
    auth.login("acme-manager")
    keep = "Leave blank to keep the current value"
    add = client.get("/panelconnectionview/add").get_data(as_text=True)
    assert "Stored encrypted and never shown again." in add and keep not in add
    panel = _db.session.query(PanelConnection).filter_by(workspace_id=workspace.id).one()
    edit = client.get(f"/panelconnectionview/edit/{panel.id}").get_data(as_text=True)
    assert edit.count(keep) == 2  # the admin and the user API key
