"""Platform identifiers have one owner: a Green API instance id, a Telegram bot id, a Meta
phone number id and a Meta WhatsApp Business account (WABA) id each belong to at most one
channel of the whole platform, since webhooks are routed by them.

* `taken_identifiers(channel)` is the one check every write path runs before it writes: the
  screens (a field error beside the field, `IdentifierFree`), their REST twins (422 naming the
  field) and the workspace file (an error on the channel's line). It looks across every
  workspace and excludes only the row being saved.
* The UNIQUE constraints stay the final guard: `identifier_in_violation(exc)` tells which
  identifier a refused INSERT/UPDATE collided on (two saves racing past the check), so that race
  ends in the same message as the check.
* The message is the same whether the other channel is in the same workspace or in another one,
  and says nothing about it (no workspace, no channel name): `taken_message(column)`.
"""
from __future__ import annotations

import itertools
import re
import time

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from wtforms.validators import StopValidation

from app.extensions import db
from app.models import Channel
from app.models.channels import IDENTIFIER_COLUMNS, telegram_bot_id
from app.validation import FieldErrors

#: the field a person fills in for each identifier column (a bot id comes from the bot token)
INPUT_FIELD = {"id_instance": "id_instance", "bot_id": "bot_token",
               "phone_number_id": "phone_number_id", "waba_id": "waba_id"}
_fresh = itertools.count(int(time.time()) % 100_000 * 1000)
_MESSAGES = {
    "id_instance": _l("This instance id is already used by another channel."),
    "bot_id": _l("This Telegram bot is already used by another channel."),
    "phone_number_id": _l("This phone number id is already used by another channel."),
    "waba_id": _l("This WhatsApp Business account id is already used by another channel."),
}


class IdentifierTaken(FieldErrors):
    """Identifiers of the channel being saved that another channel already owns.

    `problems` maps the input field (`bot_token` for a bot id) to its message."""

    def __init__(self, columns: list[str]) -> None:
        self.columns = list(columns)
        super().__init__({INPUT_FIELD[c]: [taken_message(c)] for c in self.columns})


def taken_message(column: str) -> str:
    return str(_MESSAGES[column])


def identifiers_of(channel: Channel) -> dict[str, str]:
    """{column: value} of the identifiers the channel would store (a Telegram channel's bot id
    is derived from its bot token when the row is written, so it is derived here too)."""
    values = {}
    for column in IDENTIFIER_COLUMNS:
        if column == "bot_id":
            value = telegram_bot_id(channel.bot_token) if channel.kind == "telegram" else None
        else:
            value = getattr(channel, column)
        if isinstance(value, str) and value.strip():
            values[column] = value.strip()
    return values


def taken(values: dict[str, str], exclude_id: int | None = None) -> list[str]:
    """The columns of `values` whose value another channel (any workspace; not `exclude_id`)
    already stores, in IDENTIFIER_COLUMNS order. Never flushes the session."""
    values = {c: v for c, v in values.items() if v}
    if not values:
        return []
    columns = [getattr(Channel, c) for c in values]
    query = select(*columns).where(or_(*(col == v for col, v in zip(columns, values.values(),
                                                                     strict=True))))
    if exclude_id is not None:
        query = query.where(Channel.id != exclude_id)
    found = set()
    with db.session.no_autoflush:  # the row being saved may already sit in the session
        for row in db.session.execute(query):
            for column, stored in zip(values, row, strict=True):
                if stored == values[column]:
                    found.add(column)
    return [c for c in IDENTIFIER_COLUMNS if c in found]


def taken_identifiers(channel: Channel) -> list[str]:
    """The identifier columns of `channel` that another channel already owns."""
    return taken(identifiers_of(channel), exclude_id=channel.id)


def require_free_identifiers(channel: Channel) -> None:
    """An item validator (screens and REST twins): IdentifierTaken if any identifier of the
    channel belongs to another channel."""
    columns = taken_identifiers(channel)
    if columns:
        raise IdentifierTaken(columns)


class IdentifierFree:
    """WTForms validator for the field carrying `column` (a bot token for `bot_id`): the error
    is shown beside the field. On an edit form FAB sets `form._id` to the row being edited."""

    field_flags = {}
    #: what the browser form matrix types (app/validation.py contract): the invalid example is
    #: refused by the shape check on the same field; a valid one is fresh on every read
    invalid_example = "abc"

    def __init__(self, column: str) -> None:
        self.column = column

    @property
    def valid_example(self) -> str:
        number = 7100000000 + next(_fresh)
        return f"{number}:AAExampleBotKey_{number}" if self.column == "bot_id" else str(number)

    def __call__(self, form, field) -> None:
        value = field.data.strip() if isinstance(field.data, str) else None
        if self.column == "bot_id":
            kind = form["kind"].data if "kind" in form else None
            value = telegram_bot_id(value) if kind == "telegram" else None
        if value and taken({self.column: value}, exclude_id=getattr(form, "_id", None)):
            raise StopValidation(taken_message(self.column))


# --- the UNIQUE constraints, the final guard -----------------------------------------------------

def _constraint_names() -> dict[str, str]:
    """{constraint name: column} for the identifiers' UNIQUE constraints. A column-level
    `unique=True` has no name in the metadata; PostgreSQL names it `<table>_<column>_key`."""
    table = Channel.__table__
    names = {f"{table.name}_{c}_key": c for c in IDENTIFIER_COLUMNS}
    for constraint in table.constraints:
        columns = [c.name for c in getattr(constraint, "columns", ())]
        if constraint.name and len(columns) == 1 and columns[0] in IDENTIFIER_COLUMNS:
            names[str(constraint.name)] = columns[0]
    return names


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: channel\.(\w+)")
_POSTGRES_UNIQUE = re.compile(r'unique constraint "([^"]+)"')


def identifier_in_violation(exc: BaseException) -> str | None:
    """The identifier column a refused write collided on, or None when `exc` is anything else.
    Reads the constraint's name (PostgreSQL) or the column SQLite names; never the value."""
    if not isinstance(exc, IntegrityError):
        return None
    orig = getattr(exc, "orig", None)
    names = _constraint_names()
    constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
    if constraint in names:
        return names[constraint]
    text = str(orig or exc)
    match = _POSTGRES_UNIQUE.search(text)
    if match and match.group(1) in names:
        return names[match.group(1)]
    match = _SQLITE_UNIQUE.search(text)
    if match and match.group(1) in IDENTIFIER_COLUMNS:
        return match.group(1)
    return None
