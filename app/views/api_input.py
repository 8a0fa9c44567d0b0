"""The JSON body of a REST write, checked field by field before marshmallow-sqlalchemy or the
database sees it (issue 18, point 3): a value of the wrong JSON type, a number its column cannot
hold, text with a NUL character or a relation given as anything but a row's id is refused with
400 `{"message": {field: [text]}}`, naming the field.

Why before: FAB's schemas hand some values on unchecked. A relation (`Related`) looks its id up
in the database as given (`"provider": ""`, `true` or `{"": null}` reached PostgreSQL: "invalid
input syntax for type integer", "operator does not exist: integer = boolean", or a TypeError
building the row); a choice column's `Raw` field ran `len()` on a number; an integer beyond the
column's range or a NUL in text failed at the flush. Each was a 500.

Values of the right type then meet the declared rules (app/validation.py `COLUMN_RULES`, the same
ones the screens and the workspace file use) in `validate_item`, which answers 422 naming the field.

Installed on every REST twin's add and edit schema by `WorkspaceRestApi._init_model_schemas`
(app/views/base.py) as a marshmallow `pre_load` hook, so a resource added later is covered.
"""
from __future__ import annotations

import math

from flask_babel import lazy_gettext as _l
from marshmallow import fields, pre_load
from marshmallow.validate import OneOf
from marshmallow_sqlalchemy.fields import Related, RelatedList
from sqlalchemy import inspect

from app.validation import rules_for
from app.views.list_args import fits_integer, is_integer_type

NOT_TEXT = _l("Enter text.")
NOT_WHOLE = _l("Enter a whole number.")
NOT_NUMBER = _l("Enter a number.")
NOT_BOOLEAN = _l("Enter true or false.")
NOT_DATE = _l("Enter a date as text, e.g. 2026-01-31T09:30:00.")
NOT_ID = _l("Give the id of a row: a whole number.")
NOT_IDS = _l("Give a list of row ids: whole numbers.")
NUL_TEXT = _l("Text cannot contain the NUL character.")
TOO_BIG = _l("This number is too large for this field.")


class BadInput(Exception):
    """A REST body with values of the wrong type: {field: [message]}, answered 400."""

    def __init__(self, problems: dict[str, list[str]]):
        super().__init__(problems)
        self.problems = problems


def _bits(kind) -> int:
    name = type(kind).__name__
    return 64 if name == "BigInteger" else 16 if name == "SmallInteger" else 32


def _integer_range(kind) -> tuple[int, int]:
    bits = _bits(kind)
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _column(model, name):
    column = inspect(model).columns.get(name)
    return column


def _is_whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _related_problem(model, name: str, value, many: bool) -> str | None:
    relationship = inspect(model).relationships.get(name)
    if relationship is None:
        return None
    target = inspect(relationship.mapper.class_).primary_key[0].type
    numeric = is_integer_type(target)

    def fits(one) -> bool:
        if numeric:
            return _is_whole(one) and fits_integer(one, target)
        return isinstance(one, str) and "\x00" not in one

    if many:
        return None if isinstance(value, list) and all(fits(v) for v in value) \
            else str(NOT_IDS)
    return None if fits(value) else str(NOT_ID)


def field_problem(model, name: str, field: fields.Field, value) -> str | None:
    """Why `value` cannot go into `field` (a load field of `model`'s schema), or None. A null
    is left to the schema (it knows which fields may be null)."""
    if value is None:
        return None
    if isinstance(field, (Related, RelatedList)):
        return _related_problem(model, name, value, isinstance(field, RelatedList))
    column = _column(model, name)
    if isinstance(field, fields.Boolean):
        return None if isinstance(value, bool) else str(NOT_BOOLEAN)
    if isinstance(field, fields.Integer):
        low, high = _integer_range(column.type) if column is not None else (-2**31, 2**31 - 1)
        if not _is_whole(value):
            return str(NOT_WHOLE)
        if low <= value <= high or rules_for(model).get(name):
            return None  # a declared range says it in its own words (422), before any flush
        return str(TOO_BIG)
    if isinstance(field, (fields.Float, fields.Decimal)):
        if not _is_number(value):
            return str(NOT_NUMBER)
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        return None if finite else str(TOO_BIG)
    if isinstance(field, (fields.DateTime, fields.Date, fields.Time)):
        if not isinstance(value, str):
            return str(NOT_DATE)
        return str(NUL_TEXT) if "\x00" in value else None
    choice = isinstance(field, fields.Raw) and type(field) is fields.Raw \
        and any(isinstance(v, OneOf) for v in field.validators)
    if isinstance(field, fields.String) or choice:
        if not isinstance(value, str):
            return str(NOT_TEXT)
        return str(NUL_TEXT) if "\x00" in value else None
    return _nested_nul(value)


def _nested_nul(value) -> str | None:
    """A JSON column (a dict or list) holding text with NUL: PostgreSQL's JSON refuses it."""
    if isinstance(value, str):
        return str(NUL_TEXT) if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _nested_nul(key) or _nested_nul(item):
                return str(NUL_TEXT)
    if isinstance(value, list):
        for item in value:
            if _nested_nul(item):
                return str(NUL_TEXT)
    if isinstance(value, float) and not math.isfinite(value):
        return str(TOO_BIG)
    return None


def body_problems(schema, model, data) -> dict[str, list[str]]:
    """{field: [message]} for every value of the body `data` the schema's field cannot take."""
    if not isinstance(data, dict):
        return {}  # the schema refuses a body that is not an object, by itself
    problems = {}
    for name, value in data.items():
        field = schema.load_fields.get(name) if isinstance(name, str) else None
        if field is None:
            continue  # unknown fields: the schema names them
        problem = field_problem(model, field.attribute or name, field, value)
        if problem:
            problems[name] = [problem]
    return problems


def typed(schema, model):
    """A copy of the marshmallow `schema` that checks the body's types first (`body_problems`):
    raises BadInput, which the REST twin answers 400."""
    base = type(schema)

    class Typed(base):
        @pre_load
        def _refuse_wrong_types(self, data, **kwargs):
            problems = body_problems(self, model, data)
            if problems:
                raise BadInput(problems)
            return data

    Typed.__name__ = base.__name__
    Typed.__qualname__ = base.__qualname__
    return Typed(only=schema.only, load_only=schema.load_only, dump_only=schema.dump_only)
