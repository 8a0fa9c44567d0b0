"""Values as words (app/views/formatting.py) and page titles (app/views/titles.py), without a
database: enum labels, Yes/No, "—", time zones, bidi isolation."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask_babel import Babel, force_locale
from markupsafe import Markup
from sqlalchemy import Enum, inspect

import app.models as models
from app.config import BASE_DIR
from app.views import formatting
from app.views.formatting import (ENUM_LABELS, EMPTY, ReadableFormatters, bidi, column_formatter,
                                  format_time, language_name, make_readable, readable)
from app.views.titles import ScreenTitle, screen_titles


@pytest.fixture(scope="module")
def babel_app():
    """A bare Flask app with our catalogues (the same directories and domains as the product)."""
    application = Flask(__name__)
    translations = str(BASE_DIR / "translations")
    application.config.update(BABEL_TRANSLATION_DIRECTORIES=f"{translations};{translations}",
                              BABEL_DOMAIN="fab;messages")
    Babel(application)
    application.add_url_rule("/screen/show/<int:pk>", "Screen.show", lambda pk: "")
    application.add_url_rule("/screen/list/", "Screen.list", lambda: "")
    with application.test_request_context("/"):
        yield application


def _text(value) -> str:
    """What a reader sees: the formatted Markup without its tags."""
    return value.striptags() if isinstance(value, Markup) else str(value)


def _enum_columns():
    for name in models.__all__:
        mapper = inspect(getattr(models, name), raiseerr=False)
        for column in mapper.columns if mapper is not None else ():
            if isinstance(column.type, Enum):
                yield getattr(models, name), column.key, column.type


def test_every_enum_value_of_every_model_has_a_label():
    """A value added to a model's Enum without a label here would show as a code."""
    found = list(_enum_columns())
    assert len(found) >= 15
    for model, column, enum_type in found:
        labels = ENUM_LABELS.get(enum_type.name)
        assert labels is not None, f"{model.__name__}.{column}: no labels for {enum_type.name}"
        assert set(enum_type.enums) <= set(labels), (model.__name__, column)


def test_enum_codes_become_translated_words(babel_app):
    kind = column_formatter(models.Channel, "kind")
    status = column_formatter(models.Channel, "status")
    role = column_formatter(models.WorkspaceMember, "role")
    assert _text(kind("greenapi")) == "WhatsApp (Green API)"
    assert _text(status("unknown")) == "Not checked yet"
    assert _text(role("agent")) == "Agent"
    assert _text(column_formatter(models.PanelConnection, "panel_type")("perfectpanel_v2")) \
        == "Perfect Panel (API v2)"
    assert _text(column_formatter(models.PanelConnection, "service_rules_mode")("cached")) \
        == "From the panel's service list"
    assert _text(column_formatter(models.ExternalCall, "outcome")("timeout")) == "Timed out"
    with force_locale("es"):
        assert _text(status("unknown")) not in ("unknown", "Not checked yet")
        assert _text(role("manager")) not in ("manager", "Manager")
    with force_locale("ar"):
        assert "greenapi" not in _text(kind("greenapi"))
    # a code nobody labelled stays visible as it is (not hidden, not a crash)
    assert _text(status("brand-new")) == "brand-new"


def test_booleans_empty_values_and_lists(babel_app):
    enabled = column_formatter(models.Channel, "enabled")
    assert _text(enabled(True)) == "Yes"
    assert _text(enabled(False)) == "No"
    assert "True" not in str(enabled(True))
    with force_locale("ru"):
        assert _text(enabled(True)) not in ("Yes", "True")
    for empty in (None, "", [], ()):
        assert readable(empty) == EMPTY
    assert _text(readable(["a", "b"])) == "a, b"
    assert readable(0) != EMPTY  # zero is a value


def test_language_codes_become_language_names(babel_app):
    language = column_formatter(models.Workspace, "language")
    assert _text(language("es")).lower() == "spanish"
    with force_locale("es"):
        assert _text(language("es")).lower() == "español"
    assert language_name("not a language") == "not a language"


def test_times_in_the_zone_to_the_minute_or_second(babel_app):
    stored = dt.datetime(2026, 12, 3, 7, 5, 42, 123456)  # naive: UTC, as the models store it
    moscow = ZoneInfo("Europe/Moscow")
    assert format_time(stored, seconds=False, zone=moscow) == "2026-12-03 10:05"
    assert format_time(stored, seconds=True, zone=moscow) == "2026-12-03 10:05:42"
    assert format_time(stored, seconds=True, zone=dt.UTC) == "2026-12-03 07:05:42"
    aware = stored.replace(tzinfo=dt.UTC)
    assert format_time(aware, seconds=False, zone=ZoneInfo("America/Sao_Paulo")) \
        == "2026-12-03 04:05"
    assert format_time(dt.date(2026, 1, 2)) == "2026-01-02"
    # outside a workspace (this bare app has no signed-in user) times are UTC, no microseconds
    shown = _text(readable(stored))
    assert shown == "2026-12-03 07:05"
    assert "123456" not in str(readable(stored))
    # a time a model method answers as ISO text (a member's last sign-in) reads the same way
    assert _text(readable("2026-12-03T07:05:42")) == "2026-12-03 07:05"
    assert _text(readable("2026-12-03T99:99")) == "2026-12-03T99:99"  # not a time: as it is


def test_show_pages_get_seconds_lists_minutes(babel_app):
    stored = dt.datetime(2026, 12, 3, 7, 5, 42)
    with babel_app.test_request_context("/screen/show/1"):
        assert formatting._on_show_page()
        assert _text(readable(stored)) == "2026-12-03 07:05:42"
    with babel_app.test_request_context("/screen/list/"):
        assert not formatting._on_show_page()
        assert _text(readable(stored)) == "2026-12-03 07:05"


def test_ids_phones_and_urls_are_isolated_left_to_right(babel_app):
    chat = readable("79001234567@c.us")
    assert str(chat) == '<bdi dir="ltr">79001234567@c.us</bdi>'
    assert str(readable("https://7103.api.greenapi.com")).startswith('<bdi dir="ltr">')
    assert str(readable(12345)) == '<bdi dir="ltr">12345</bdi>'
    # Arabic text keeps its own direction (first strong letter), isolated from its neighbours
    assert str(bidi("مرحبا 123")) == "<bdi>مرحبا 123</bdi>"
    with force_locale("ar"):
        assert str(column_formatter(models.Channel, "enabled")(True)).startswith("<bdi>")
    # values are escaped once; Markup a view built passes untouched
    assert str(readable("<b>x</b>")) == '<bdi dir="ltr">&lt;b&gt;x&lt;/b&gt;</bdi>'
    built = Markup("<pre>{}</pre>")
    assert readable(built) is built


def test_a_views_own_formatter_is_finished(babel_app):
    class Screen:
        datamodel = type("DM", (), {"obj": models.Channel})()
        formatters_columns = {"name": lambda v: (v or "")[:3]}

    make_readable(Screen)
    formatters = Screen.formatters_columns
    assert isinstance(formatters, ReadableFormatters) and formatters
    assert _text(formatters.get("name")("abcdef")) == "abc"
    assert formatters.get("name")(None) == EMPTY
    assert _text(formatters.get("kind")("telegram")) == "Telegram"

    class Empty:
        datamodel = type("DM", (), {"obj": models.Channel})()
        formatters_columns = None

    make_readable(Empty)
    assert Empty.formatters_columns  # truthy: FAB's `formatters_columns or {}` keeps it

    class Admin(Screen):  # an admin variant registered again keeps the parent's own formatter
        pass

    make_readable(Admin)
    assert _text(Admin.formatters_columns.get("name")("abcdef")) == "abc"


def test_titles_come_from_the_menu_label(babel_app):
    class Screen:
        list_title = add_title = edit_title = show_title = ""

    screen_titles(Screen, "Channels")
    assert str(Screen.list_title) == "Channels"
    assert str(Screen.add_title) == "Channels › Add"
    assert str(Screen.edit_title) == "Channels › Edit"
    assert str(Screen.show_title) == "Channels › Details"
    with force_locale("es"):
        assert "Add" not in str(Screen.add_title)

    class Admin(Screen):
        pass

    screen_titles(Admin, "All channels")  # a ScreenTitle inherited is replaced
    assert str(Admin.list_title) == "All channels"
    assert str(Screen.list_title) == "Channels"

    class Own:
        list_title = "My own title"
        add_title = edit_title = show_title = ""

    screen_titles(Own, "Channels")
    assert Own.list_title == "My own title"
    assert isinstance(Own.add_title, ScreenTitle)
