"""Multi-row statements for the pipeline's batches: one statement for the rows of many commands.

A batch of commands (app/jobs/events.py, `process_event`) writes the same kinds of rows for each
command: its log, its per-order verdicts, its messages, its cooldown claims. Sent one statement
per row, every row pays the statement's full price twice: in the worker (SQLAlchemy's execution
path) and in PostgreSQL (parse, plan, executor start). Here each kind goes out as one statement:

* `insert_rows(table, columns, rows, suffix, returning)`: `INSERT … VALUES (…), (…) <suffix>
  [RETURNING …]`;
* `update_rows(table, columns, rows)`: `UPDATE t SET c = v.c … FROM (VALUES …) AS v WHERE t.id =
  v.id`, the rows keyed by `id`, each setting the same columns.

On PostgreSQL both are sent with psycopg2's `execute_values` on the session's own connection (so
they belong to the caller's transaction), or on a cursor the caller gives (`autocommit_cursor`:
each statement its own transaction, for writes that must be durable at once, one by one).
Elsewhere (SQLite, the embedded set-up) they fall back to one typed statement per row: same
results, no batching. Values are converted as the ORM would: JSON columns are serialised,
datetimes, numbers and booleans go as they are.
"""
from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from functools import cache

from sqlalchemy import JSON, bindparam, text
from sqlalchemy.dialects import postgresql

from app.extensions import db

PAGE = 1000  # rows per statement; a batch rarely has more (100 orders × a few commands)


def on_postgres() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"


def dialect_insert(table):
    """An INSERT on `table` of the session's database dialect (PostgreSQL or SQLite), the kind
    that takes `on_conflict_do_nothing` / `on_conflict_do_update`."""
    from sqlalchemy.dialects import sqlite

    return (postgresql.insert if on_postgres() else sqlite.insert)(table)


def _cursor():
    return db.session.connection().connection.dbapi_connection.cursor()


@contextlib.contextmanager
def autocommit_cursor() -> Iterator:
    """PostgreSQL: a cursor on a pooled connection of its own in autocommit mode, outside the
    session's transaction. Each statement is its own transaction, in one round trip (no BEGIN,
    no COMMIT, none of the session's bookkeeping). The connection goes back to the pool, its
    isolation level reset, when the block ends."""
    connection = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
    finally:
        connection.close()


def _is_json(column) -> bool:
    return isinstance(column.type, JSON)


@cache
def _pg_cast(table, name: str) -> str:
    column = table.c[name]
    if _is_json(column):
        return "json"
    return column.type.compile(dialect=postgresql.dialect())


@cache
def _json_flags(table, columns: tuple[str, ...]) -> tuple[bool, ...]:
    return tuple(_is_json(table.c[c]) for c in columns)


def _pg_values(table, columns: tuple[str, ...], row: dict) -> list:
    return [json.dumps(row[c]) if flag and row[c] is not None else row[c]
            for c, flag in zip(columns, _json_flags(table, columns), strict=True)]


@cache
def _typed_statement(sql: str, table, names: tuple[str, ...], returning: tuple[str, ...]):
    stmt = text(sql).bindparams(*[bindparam(n, type_=table.c[n].type) for n in names])
    if returning:
        stmt = stmt.columns(*[table.c[n] for n in returning])
    return stmt


def _execute_values(sql: str, width: int, values: list, fetch: bool, given=None) -> list:
    """`sql` holds one `%s` for the VALUES list. One row goes as a plain parameterised
    statement (execute_values' own work costs more than the statement); more go through
    execute_values. On the `given` cursor, else on one of the session's connection."""
    from psycopg2.extras import execute_values

    cursor = given if given is not None else _cursor()
    try:
        if len(values) == 1:
            cursor.execute(_single(sql, width), values[0])
            return cursor.fetchall() if fetch else []
        return execute_values(cursor, sql, values, page_size=PAGE, fetch=fetch) or []
    finally:
        if given is None:
            cursor.close()


@cache
def _single(sql: str, width: int) -> str:
    return sql.replace("%s", "(" + ", ".join(["%s"] * width) + ")", 1)


@cache
def _pg_insert_sql(table, columns: tuple[str, ...], suffix: str,
                   returning: tuple[str, ...]) -> str:
    back = f" RETURNING {', '.join(returning)}" if returning else ""
    return (f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - constants
            f"VALUES %s {suffix}{back}")


@cache
def _pg_update_sql(table, columns: tuple[str, ...], where: str,
                   merge: tuple[tuple[str, str], ...]) -> str:
    merged = dict(merge)
    sets = ", ".join(
        f"{c} = " + merged.get(c, "{new}").format(new=f"v.{c}::{_pg_cast(table, c)}")
        for c in columns)
    extra = f" AND {where}" if where else ""
    return (f"UPDATE {table.name} AS t SET {sets} "  # noqa: S608 - constants only
            f"FROM (VALUES %s) AS v(id, {', '.join(columns)}) WHERE t.id = v.id{extra}")


def insert_rows(table, columns: tuple[str, ...], rows: list[dict], suffix: str = "",
                returning: tuple[str, ...] = ()) -> list:
    """Insert `rows` (dicts holding at least `columns`); with `returning`, the returned rows
    (tuples, in no promised order: match them on a returned key)."""
    if not rows:
        return []
    columns, returning = tuple(columns), tuple(returning)
    if on_postgres():
        values = [_pg_values(table, columns, row) for row in rows]
        found = _execute_values(_pg_insert_sql(table, columns, suffix, returning),
                                len(columns), values, bool(returning))
        return [tuple(r) for r in found]
    sql = (f"INSERT INTO {table.name} ({', '.join(columns)}) "  # noqa: S608 - constants
           f"VALUES ({', '.join(':' + c for c in columns)}) {suffix}"
           + (f" RETURNING {', '.join(returning)}" if returning else ""))
    stmt = _typed_statement(sql, table, columns, returning)
    connection = db.session.connection()
    found = []
    for row in rows:
        result = connection.execute(stmt, {c: row[c] for c in columns})
        if returning:
            found.extend(tuple(r) for r in result)
    return found


def insert_with_template(sql: str, template: str, rows: list[dict],
                         types: dict | None = None) -> None:
    """Insert `rows` (dicts) with a row template: `sql` holds one `%s` for the VALUES list,
    `template` one row's parenthesised values written with `%(name)s` placeholders (a name may
    appear several times, inside expressions such as scalar subqueries). PostgreSQL: one
    statement (execute_values); elsewhere one statement per row, the values bound with
    `types` (name → SQLAlchemy type) where given."""
    if not rows:
        return
    if on_postgres():
        from psycopg2.extras import execute_values

        cursor = _cursor()
        try:
            if len(rows) == 1:
                cursor.execute(sql.replace("%s", template, 1), rows[0])
            else:
                execute_values(cursor, sql, rows, template=template, page_size=PAGE)
        finally:
            cursor.close()
        return
    stmt = _sqlite_template(sql, template, tuple(sorted((types or {}).items(),
                                                        key=lambda item: item[0])))
    connection = db.session.connection()
    for row in rows:
        connection.execute(stmt, row)


@cache
def _sqlite_template(sql: str, template: str, types: tuple):
    import re

    stmt = text(sql.replace("%s", re.sub(r"%\((\w+)\)s", r":\1", template), 1))
    return stmt.bindparams(*[bindparam(name, type_=type_) for name, type_ in types])


def update_rows(table, columns: tuple[str, ...], rows: list[dict], where: str = "",
                merge: dict[str, str] | None = None, cursor=None) -> None:
    """Set `columns` of each row (dicts with `id` and those columns); `where` is an extra SQL
    condition on the target table `t`; `merge` gives a column an expression instead of the
    plain new value, written with `{new}` for it (e.g. "COALESCE(t.x, {new})"). `cursor`
    (PostgreSQL): run there (`autocommit_cursor`) instead of in the session's transaction."""
    if not rows:
        return
    columns, merge = tuple(columns), merge or {}
    if on_postgres():
        values = [[row["id"], *_pg_values(table, columns, row)] for row in rows]
        _execute_values(_pg_update_sql(table, columns, where, tuple(sorted(merge.items()))),
                        len(columns) + 1, values, False, cursor)
        return
    sets = ", ".join(f"{c} = " + merge.get(c, "{new}").format(new=f":{c}") for c in columns)
    extra = f" AND {where}" if where else ""
    sql = f"UPDATE {table.name} AS t SET {sets} WHERE t.id = :id{extra}"  # noqa: S608
    stmt = _typed_statement(sql, table, ("id", *columns), ())
    connection = db.session.connection()
    for row in rows:
        connection.execute(stmt, {"id": row["id"], **{c: row[c] for c in columns}})
