"""Template fields on screens and in the REST API (app/domain/templates.py does the checking).

* `TemplateText(kind_of)`: a WTForms validator, so a refused template is reported beside its
  field, naming the offending placeholder in the user's language. FAB's form macro shows field
  errors through `_()`, which marks them safe: these errors quote what the user typed, so they
  are escaped here (`field_error`).
* `*_valid(item)`: item validators (`WorkspaceWriteMixin.item_validators`), run on every add and
  update by the screen and by its REST twin (422 there).
* `*_help`: the documented placeholders of each kind as the field's description (translated when
  shown).
* `reply_key_field()`: the reply a text is for, chosen from the replies that exist.
"""
from __future__ import annotations

from collections.abc import Callable

from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import get_locale, get_translations, gettext
from flask_babel import lazy_gettext as _l
from flask_babel.speaklater import LazyString
from markupsafe import escape
from wtforms import SelectField, ValidationError
from wtforms.validators import DataRequired

from app.domain.replies import COUNTED_REPLIES, DEFAULT_REPLIES, base_key, general_count
from app.domain.templates import (CUSTOM_COMMAND, DEFAULT_ROUTE_TEMPLATE, PLACEHOLDERS,
                                  QUICK_REPLY, REPLY_KINDS, ROUTE, ROUTE_JOINED_PLACEHOLDERS,
                                  ROUTE_LINE_PLACEHOLDERS, Kind, TemplateError, clip, problem,
                                  reply_kind, reply_problem)
from app.validation import FieldError

KindOf = Callable[[object], "Kind | None"]


def message(error: TemplateError) -> str:
    """The error in the signed-in user's language."""
    return error.message(gettext)


def field_error(error: TemplateError) -> ValidationError:
    """The error for a form field, escaped: FAB's `render_field` prints `_(error)`, which Jinja
    marks safe, and the message quotes what the user typed."""
    return ValidationError(escape(message(error)))


class TemplateText:
    """WTForms validator: the field holds a valid template of the kind `kind_of(form)` gives
    (None: nothing to check here, e.g. the reply key is itself wrong and says so)."""

    #: what the browser form matrix types (app/validation.py contract): an unclosed brace is
    #: valid in no kind; a route's default template (it must name the provider's ids) and plain
    #: text for the other kinds are valid
    invalid_example = "{external} {action} {nonsense"

    def __init__(self, kind_of: Kind | KindOf) -> None:
        self.kind_of = kind_of if callable(kind_of) else (lambda form: kind_of)
        self.valid_example = (DEFAULT_ROUTE_TEMPLATE if kind_of is ROUTE
                              else "Thank you, we are on it.")

    def __call__(self, form, field) -> None:
        if field.data is None:
            return
        kind = self.kind_of(form)
        error = problem(kind, field.data) if kind is not None else None
        if error is not None:
            raise field_error(error)


class KnownReplyKey:
    """WTForms validator: the reply key exists (a crafted form can post any value)."""

    valid_example = next(iter(DEFAULT_REPLIES))
    invalid_example = "no_such_reply"

    def __call__(self, form, field) -> None:
        if reply_kind(field.data) is None:
            raise field_error(reply_problem(field.data, ""))


def reply_kind_in_form(form) -> Kind | None:
    """The kind of the reply being edited, from the form's key field."""
    key = getattr(form, "key", None)
    return reply_kind(key.data) if key is not None else None


def builtin_reply_text(key: str, text: str) -> str:
    """The built-in text of `key` in the user's language (a counted key: its plural form for
    several orders; `<key>_one`: its form for one)."""
    base = base_key(key)
    if base in COUNTED_REPLIES:
        one, other = COUNTED_REPLIES[base]
        return get_translations().ungettext(
            one, other, 1 if base != key else general_count(get_locale()))
    return gettext(text)


def _reply_choices() -> list[tuple[str, str]]:
    # each reply with its text in the user's language: the placeholders it takes are in it
    return [(key, f"{key} — {clip(builtin_reply_text(key, text), 100)}")
            for key, text in DEFAULT_REPLIES.items()]


def reply_key_field() -> SelectField:
    return SelectField(_l("Reply"), choices=_reply_choices, validate_choice=False,
                       validators=[DataRequired(), KnownReplyKey()], widget=Select2Widget())


# --- item validators (screens and REST) ---------------------------------------------------------

def _refuse(field: str, error: TemplateError | None) -> None:
    if error is not None:
        raise FieldError(field, message(error))


def reply_template_valid(item) -> None:
    """A workspace's or the platform's reply text: an existing key, a valid template of it."""
    _refuse("key" if reply_kind(item.key) is None else "body",
            reply_problem(item.key, item.body))


def custom_reply_valid(item) -> None:
    _refuse("reply", problem(CUSTOM_COMMAND, item.reply))


def quick_reply_valid(item) -> None:
    _refuse("body", problem(QUICK_REPLY, item.body))


def route_template_valid(item) -> None:
    if item.template is not None:  # absent: the column default applies
        _refuse("template", problem(ROUTE, item.template))


# --- help texts ---------------------------------------------------------------------------------

def _listed(names) -> str:
    return "; ".join(f"{{{name}}} {gettext(PLACEHOLDERS[name])}" for name in names)


def _braces() -> str:
    return gettext("Write %(open)s or %(close)s for a literal brace; nothing else in braces "
                   "is read (no formatting, no dots or brackets).", open="{{", close="}}")


def _reply_help() -> str:
    names = list(dict.fromkeys(n for kind in REPLY_KINDS.values() for n in kind.placeholders))
    return " ".join([gettext("Each reply takes only the placeholders of its built-in text, "
                             "shown next to it in the list of replies: %(placeholders)s.",
                             placeholders=_listed(names)), _braces()])


def _custom_help() -> str:
    return " ".join([gettext("Plain text without placeholders."), _braces()])


def _route_help() -> str:
    return " ".join([
        gettext("One line per order: %(placeholders)s.",
                placeholders=_listed(ROUTE_LINE_PLACEHOLDERS)),
        gettext("Or one line per action listing its orders: %(placeholders)s.",
                placeholders=_listed(ROUTE_JOINED_PLACEHOLDERS)),
        _braces()])


def _quick_reply_help() -> str:
    return " ".join([gettext("Placeholders filled for the conversation: %(placeholders)s.",
                             placeholders=_listed(QUICK_REPLY.placeholders)), _braces()])


REPLY_HELP = LazyString(_reply_help)
QUICK_REPLY_HELP = LazyString(_quick_reply_help)
CUSTOM_REPLY_HELP = LazyString(_custom_help)
ROUTE_HELP = LazyString(_route_help)
