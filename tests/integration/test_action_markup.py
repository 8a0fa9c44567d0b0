"""Action texts reach the page's scripts as data (app/templates/appbuilder/general/lib.html).

FAB's own `lib.html` wrote an action's confirmation and the delete question into inline scripts;
ours re-exports FAB's macros and replaces those that did. These tests pin the two halves: every
macro of the installed FAB is still there (an upgrade that adds one fails here, not on a page),
and a hostile text comes out of the attribute exactly as it went in, with no script around it.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser
from types import SimpleNamespace

from pathlib import Path

import flask_appbuilder
import pytest

from app.extensions import db
from app.models import PanelConnection

HOSTILE = """It's "quoted" </script><script>alert(1)</script> & <b>bold</b> {{ 7*7 }}"""


class Attributes(HTMLParser):
    """Every element's attributes, decoded as a browser decodes them, and any script text."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict[str, str]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.elements.append({"tag": tag, **{k: v or "" for k, v in attrs}})
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)


def parsed(markup: str) -> Attributes:
    parser = Attributes()
    parser.feed(str(markup))
    return parser


@pytest.fixture
def lib(app):
    with app.test_request_context("/"):
        yield app.jinja_env.get_template("appbuilder/general/lib.html").module


def test_every_macro_of_fabs_lib_is_still_offered(app, lib):
    fab_lib = Path(flask_appbuilder.__file__).parent / "templates/appbuilder/general/lib.html"
    fab_macros = set(re.findall(r"{%\s*macro\s+(\w+)", fab_lib.read_text()))
    assert fab_macros, "FAB's lib.html moved: the override must follow it"
    missing = {name for name in fab_macros if not callable(getattr(lib, name, None))}
    assert not missing


def test_a_hostile_confirmation_leaves_the_menu_as_the_same_text_and_no_script(app, lib):
    action = SimpleNamespace(name="refresh_services", text="Refresh services", icon="fa-refresh",
                             confirmation=HOSTILE)
    page = parsed(lib.render_actions({"refresh_services": action}, "PanelConnectionView"))
    item = next(e for e in page.elements if e.get("data-action-name") == "refresh_services")
    assert item["data-confirmation"] == HOSTILE
    assert item["data-none-selected"] == "No row selected"
    assert page.scripts == []


def test_a_lazy_translated_confirmation_is_escaped_once(app, lib):
    """flask-babel's lazy strings claim to be markup (`__html__`): printed as they are, a quote
    in one would end the attribute."""
    from flask_babel import lazy_gettext

    action = SimpleNamespace(name="probe", text="Probe", icon="fa-bolt",
                             confirmation=lazy_gettext(HOSTILE))
    markup = str(lib.render_actions({"probe": action}, "PanelConnectionView"))
    assert "&#34;quoted&#34;" in markup or "&quot;quoted&quot;" in markup
    item = next(e for e in parsed(markup).elements if e.get("data-action-name") == "probe")
    assert item["data-confirmation"] == HOSTILE


def test_the_delete_button_carries_its_question_as_data(app, lib):
    page = parsed(lib.lnk_delete("/panelconnectionview/delete/7"))
    button = next(e for e in page.elements if "data-delete-url" in e)
    assert button["data-delete-url"] == "/panelconnectionview/delete/7"
    assert button["data-confirmation"] == "Are you sure you want to delete this item?"
    assert page.scripts == []


def test_list_and_show_pages_carry_no_action_text_in_scripts(app, client, auth, factory):
    """The pages as served: the confirmations are attributes, and no inline script of a list or
    show page calls FAB's action functions with a text."""
    workspace, manager = factory.populated_workspace("markup")
    auth.login(manager.username)
    for path in ("/panelconnectionview/list/", "/channelview/list/", "/memberview/list/"):
        page = parsed(client.get(path).get_data(as_text=True))
        confirmations = [e["data-confirmation"] for e in page.elements
                         if "data-confirmation" in e]
        assert confirmations, path
        assert not [s for s in page.scripts if "execute_" in s], path
    connection = db.session.query(PanelConnection).filter_by(workspace_id=workspace.id).one()
    page = parsed(client.get(f"/panelconnectionview/show/{connection.id}").get_data(as_text=True))
    buttons = [e for e in page.elements if "data-action-url" in e]
    assert buttons and any(b["data-confirmation"] for b in buttons)
    assert not [s for s in page.scripts if "execute_" in s]
