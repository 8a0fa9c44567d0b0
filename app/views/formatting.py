"""Values on list and show screens as words: every column of every registered screen.

`make_readable(view)` (called by `add_screen` for every screen it registers) gives the view a
`formatters_columns` that formats any column it is asked about:

* a code of an enumerated column (the model's `Enum` type, or a column listed in
  `CODE_COLUMNS`) becomes its translated label (`greenapi` → "WhatsApp (Green API)"), and a
  comma list of codes (`CODE_LIST_COLUMNS`) the list of their labels;
  a language code its name in the reader's language;
* booleans become a translated "Yes"/"No"; None, "" and empty lists become "—"; FAB's roles
  their words (`ROLE_LABELS`: "WorkspaceManager" → "Workspace manager");
* times are shown in the reader's time zone (a member: the workspace's; the master admin: UTC,
  whose screens span workspaces), to the minute in lists and to the second on show pages,
  never with microseconds;
* every text is isolated for bidirectional display (`<bdi>`): a value with no right-to-left
  letter (an id, a phone number, `79001234567@c.us`, a URL, a code, a Latin name) is marked
  left-to-right, so an Arabic page shows it as written; other text gets the browser's
  first-strong-letter direction.

A view's own formatter for a column still decides what the value says; its result is finished
the same way (empty → "—", plain text isolated). Markup (HTML a formatter built) passes as is.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from flask import current_app, g, has_request_context, request
from flask_appbuilder.security.sqla.models import Role
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import Enum, inspect
from sqlalchemy.exc import NoInspectionAvailable

from app.labels import CODE_COLUMNS, CODE_LIST_COLUMNS, ENUM_LABELS, role_label
from app.models.base import split_list

EMPTY = "—"
UTC = dt.UTC

# Columns holding a language code, shown as the language's name in the reader's language.
LANGUAGE_COLUMNS = {"language"}

# Strong right-to-left letters: Hebrew, Arabic, Syriac, Thaana, NKo and their presentation forms.
_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")

Formatter = Callable[[Any], Any]


def bidi(text: str) -> Markup:
    """`text` escaped and isolated: left-to-right unless it holds a right-to-left letter."""
    if _RTL.search(text):
        return Markup("<bdi>%s</bdi>") % text
    return Markup('<bdi dir="ltr">%s</bdi>') % text


def yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def reader_timezone() -> dt.tzinfo:
    """The time zone times are shown in: the reader's workspace's, UTC for the master admin
    (or outside a request, or when the workspace names a zone the tz database lacks)."""
    if not has_request_context():
        return UTC
    cached = g.get("_relaydesk_reader_tz")
    if cached is not None:
        return cached
    zone: dt.tzinfo = UTC
    from app.extensions import db
    from app.models import Workspace
    from app.tenancy import current_scope

    workspace_id = current_scope().workspace_id
    workspace = db.session.get(Workspace, workspace_id) if workspace_id else None
    if workspace is not None and workspace.timezone:
        try:
            zone = ZoneInfo(workspace.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    g._relaydesk_reader_tz = zone
    return zone


#: endpoints showing one row (to the second): show pages and FAB's Profile (`/users/userinfo/`)
SHOW_ENDPOINTS = ("show", "userinfo")


def _on_show_page() -> bool:
    return has_request_context() and \
        (request.endpoint or "").rsplit(".", 1)[-1] in SHOW_ENDPOINTS


def server_local(value: Any) -> Any:
    """A naive time FAB wrote in the server's local time (`datetime.now()`: a login's last
    sign-in, created and changed on) made aware, so it is shown in the reader's zone like ours
    (whose naive times are UTC). Other values as they are."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.astimezone()
    return value


def format_time(value: dt.datetime | dt.date, seconds: bool | None = None,
                zone: dt.tzinfo | None = None) -> str:
    """A time in the reader's zone: `2026-12-03 10:15` (lists) or `2026-12-03 10:15:42`
    (show pages, or `seconds=True`). Naive datetimes are UTC (how the models store them)."""
    if not isinstance(value, dt.datetime):
        return value.isoformat()
    zone = zone or reader_timezone()
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    moment = moment.astimezone(zone)
    if seconds is None:
        seconds = _on_show_page()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def language_name(code: str) -> str:
    """`es` → "español" in a Spanish page, "Spanish" in an English one; unknown codes as is."""
    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return code
    name = locale.get_display_name(get_locale() or "en")
    return name or code


def language_choices() -> list[tuple[str, str]]:
    """The shipped languages (`LANGUAGES` of the app's config) as (code, name in the reader's
    language): the options of every language select."""
    return [(code, language_name(code)) for code in current_app.config["LANGUAGES"]]


#: an ISO 8601 date and time as text (e.g. a member's last sign-in, which the API answers as text)
ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def readable(value: Any, labels: dict[str, Any] | None = None, language: bool = False) -> Any:
    """One value as words (see the module docstring); Markup or "—"."""
    if isinstance(value, Markup):
        return value
    if value is None or value == "" or (isinstance(value, (list, tuple, set)) and not value):
        return EMPTY
    if isinstance(value, bool):
        return bidi(yes_no(value))
    if isinstance(value, (dt.datetime, dt.date)):
        return bidi(format_time(value))
    if isinstance(value, str) and ISO_TIME.match(value):  # a time a model method gave as text
        try:
            return bidi(format_time(dt.datetime.fromisoformat(value)))
        except ValueError:
            pass
    if isinstance(value, (list, tuple, set)):
        return Markup(", ").join(readable(item, labels, language) for item in value)
    if isinstance(value, Role):  # FAB's roles by their words ("Workspace manager")
        return bidi(str(role_label(value.name)))
    if labels is not None and isinstance(value, str) and value in labels:
        return bidi(str(labels[value]))
    if language and isinstance(value, str):
        return bidi(language_name(value))
    return bidi(str(value))


def _finished(formatter: Formatter) -> Formatter:
    def finish(value):
        return readable(formatter(value))

    return finish


def column_formatter(model: type | None, column: str) -> Formatter:
    """The generic formatter of `model.column`, chosen once from the column's declaration."""
    labels = None
    name = getattr(model, "__name__", "")
    if (name, column) in CODE_LIST_COLUMNS:  # "greenapi,telegram" → each code's label
        listed = ENUM_LABELS[CODE_LIST_COLUMNS[(name, column)]]
        return lambda value: readable(
            split_list(value) if isinstance(value, str) else value, listed)
    if (name, column) in CODE_COLUMNS:
        labels = ENUM_LABELS[CODE_COLUMNS[(name, column)]]
    elif model is not None:
        try:
            declared = inspect(model).columns.get(column)
        except NoInspectionAvailable:
            declared = None
        if declared is not None and isinstance(declared.type, Enum):
            labels = ENUM_LABELS.get(declared.type.name)
    language = column in LANGUAGE_COLUMNS

    def format_value(value):
        return readable(value, labels, language)

    return format_value


class ReadableFormatters(dict):
    """A view's `formatters_columns` that answers for every column (FAB's list and show widgets
    ask `formatters_columns.get(column)`): the view's own formatter, finished, or the generic
    one. Always truthy, so FAB keeps it even when the view declared none."""

    def __init__(self, model: type | None, explicit: dict[str, Formatter]):
        super().__init__(explicit)
        self.model = model
        self.explicit = dict(explicit)
        self._made: dict[str, Formatter] = {}

    def __bool__(self) -> bool:
        return True

    def get(self, column, default=None):
        made = self._made.get(column)
        if made is None:
            own = self.explicit.get(column)
            made = _finished(own) if own else column_formatter(self.model, column)
            self._made[column] = made
        return made


def make_readable(view: type) -> None:
    """Give a screen class readable values in every list and show column (see the docstring)."""
    datamodel = getattr(view, "datamodel", None)
    if datamodel is None:
        return
    current = vars(view).get("formatters_columns", getattr(view, "formatters_columns", None))
    explicit = current.explicit if isinstance(current, ReadableFormatters) else dict(current or {})
    view.formatters_columns = ReadableFormatters(getattr(datamodel, "obj", None), explicit)
