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
