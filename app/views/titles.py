"""Page titles of a screen, from the label of its menu entry.

FAB makes titles from the class name ("List Channel", "Edit Workspace Settings", in English
whatever the language). `screen_titles(view, label)` (called by `add_screen`) sets instead:
list "Channels" (the menu label), add "Channels › Add", edit "Channels › Edit", show
"Channels › Details" — one translated pattern per page kind, so a new screen is titled in every
language the day it is registered. A view that sets a title of its own keeps it.
"""
from __future__ import annotations

from typing import Any

from flask_babel import LazyString
from flask_babel import gettext as _
from wtforms.fields.core import UnboundField


def N_(text: str) -> str:  # noqa: N802 - marks a msgid for `make i18n`, translated later
    return text


PATTERNS = {
    "add_title": N_("%(screen)s › Add"),
    "edit_title": N_("%(screen)s › Edit"),
    "show_title": N_("%(screen)s › Details"),
}


class ScreenTitle(LazyString):
    """A title made by `screen_titles` (so registering a subclass again may replace it)."""


def _pattern_title(kind: str, label: Any) -> ScreenTitle:
    pattern = PATTERNS[kind]
    return ScreenTitle(lambda: _(pattern, screen=str(label)))


def screen_titles(view: type, label: Any) -> None:
    """Title the list, add, edit and show pages of `view` after its menu `label`."""
    if not hasattr(view, "list_title"):
        return
    titles = {"list_title": ScreenTitle(lambda: str(label))}
    titles.update({kind: _pattern_title(kind, label) for kind in PATTERNS})
    for attribute, title in titles.items():
        current = getattr(view, attribute, "")
        if not current or isinstance(current, ScreenTitle):
            setattr(view, attribute, title)


# Column labels FAB makes from column names on its own screens (roles, groups): plain English.
FAB_COLUMN_LABELS = (N_("User"), N_("Users"), N_("Roles"), N_("Label"), N_("Description"))


class _TranslatedLabel(LazyString):
    """A plain-text label looked up in the catalogues when a page renders."""


def _translated(label):
    return _TranslatedLabel(lambda: _(label)) if isinstance(label, str) else label


def _translate_form_labels(form_class) -> None:
    """The labels of a form class FAB built (its search form feeds the "Add Filter" menu)."""
    for name in dir(form_class):
        unbound = getattr(form_class, name, None)
        if not isinstance(unbound, UnboundField):
            continue
        if "label" in unbound.kwargs:
            unbound.kwargs["label"] = _translated(unbound.kwargs["label"])
        elif unbound.args:
            unbound.args = (_translated(unbound.args[0]), *unbound.args[1:])


def translate_plain_labels(appbuilder) -> None:
    """Look every plain-text column label of every registered screen up in the catalogues when
    a page renders (FAB titles a column it was not given a label for by its prettified name, in
    English: "Users", "Label"...), in `label_columns` and in the forms FAB already built from
    them. Labels already lazy (`_l(...)`) are left as they are."""
    for view in appbuilder.baseviews:
        labels = getattr(view, "label_columns", None)
        if not hasattr(view, "list_title") or not isinstance(labels, dict):
            continue
        for column, label in list(labels.items()):
            labels[column] = _translated(label)
        for attribute in ("search_form", "add_form", "edit_form"):
            form_class = getattr(view, attribute, None)
            if isinstance(form_class, type):
                _translate_form_labels(form_class)
