"""Codes reach people as words in forms too (app/labels.py).

Every add and edit form registered in the app, opened by the master admin in Spanish: no
option of a select shows a stored code (`greenapi`, `manager`, `window`), whether the select is
an Enum column's or a related row's ("Owner line (greenapi)"); the option's value stays the
code, so saving is unchanged.
"""
from __future__ import annotations

from html.parser import HTMLParser

import pytest
from flask_appbuilder.baseviews import BaseCRUDView

from app.labels import ENUM_LABELS

CODES = {code for labels in ENUM_LABELS.values() for code, label in labels.items()
         if str(label) != code}


class Options(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[str, str]] = []  # (value, text)
        self._value: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "option":
            self._value = dict(attrs).get("value") or ""
            self.options.append((self._value, ""))

    def handle_endtag(self, tag):
        self._value = None

    def handle_data(self, data):
        if self._value is not None:
            value, text = self.options[-1]
            self.options[-1] = (value, text + data)


def options_of(page: str) -> list[tuple[str, str]]:
    parser = Options()
    parser.feed(page)
    return [(value, " ".join(text.split())) for value, text in parser.options]


def form_pages(app, client) -> list[str]:
    paths = []
    for view in app.appbuilder.baseviews:
        if not isinstance(view, BaseCRUDView) or not getattr(view, "route_base", None):
            continue
        permissions = set(view.base_permissions or [])
        if "can_add" in permissions:
            paths.append(f"{view.route_base}/add")
        if "can_edit" in permissions and "can_list" in permissions:
            listing = client.get(f"{view.route_base}/list/").get_data(as_text=True)
            marker = f"{view.route_base}/edit/"
            if marker in listing:
                pk = listing.split(marker, 1)[1].split('"', 1)[0].split("?", 1)[0]
                paths.append(f"{marker}{pk}")
    return paths


@pytest.fixture
def spanish_admin(app, client, auth, factory):
    workspace, _manager = factory.populated_workspace("acme")
    factory.admin_identity(workspace, factory.channel(workspace, name="Owner line"))
    factory.admin("root")
    auth.login("root")
    client.get("/lang/es")
    return client


def test_no_form_offers_a_raw_code(app, spanish_admin):
    pages = form_pages(app, spanish_admin)
    assert len(pages) >= 20 and any("/edit/" in p for p in pages)
    raw: list[str] = []
    enum_options = 0
    for path in pages:
        response = spanish_admin.get(path)
        assert response.status_code == 200, path
        for value, text in options_of(response.get_data(as_text=True)):
            if value in CODES:
                enum_options += 1
                if text == value:
                    raw.append(f"{path}: option {value!r} shows its code")
            for code in CODES:
                if f"({code})" in text or f"[{code}]" in text:
                    raw.append(f"{path}: option {text!r} names the code {code!r}")
    assert enum_options > 10  # the selects were found
    assert not raw, "\n".join(raw)


def test_a_labelled_choice_still_saves_its_code(app, client, auth, factory):
    from app.extensions import db
    from app.models import CommandAlias

    workspace, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    client.get("/lang/es")
    page = client.get("/commandaliasview/add").get_data(as_text=True)
    assert ("speed", "Acelerar") in options_of(page)
    response = client.post("/commandaliasview/add", data={"alias": "rapido", "action": "speed"})
    assert response.status_code == 302
    saved = db.session.query(CommandAlias).filter_by(workspace_id=workspace.id,
                                                     alias="rapido").one()
    assert saved.action == "speed"
    listing = client.get("/commandaliasview/list/").get_data(as_text=True)
    assert "Acelerar" in listing
