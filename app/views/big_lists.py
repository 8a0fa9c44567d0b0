"""Lists that stay fast on big tables: a capped row count, and related rows searched by their
name instead of chosen from a list of every row.

* **Capped count.** FAB counts every row a list's filters match, for its pagination and its
  "Record Count". On a log table that is every row of the workspace, and with a "contains"
  filter that no index answers well, reading all of them. A screen (`WorkspaceModelView`)
  counts at most `list_count_cap` + 1 rows (`count_cap`): past the cap the count is a
  `CappedCount`, a number one past the cap (pagination keeps working, up to the cap's last
  page and on, page by page) shown as "more than 10,000". The REST twins count exactly: an
  API client's `count` keeps its meaning.
* **Search by name.** FAB's search form offers a related column (a command's linked user) as
  a select of every related row of the workspace: 100,000 linked users made a select of
  100,000 options on every page of the command log, loaded, rendered and sent each time. A
  screen's `search_by_label = {"linked_user": "username"}` makes that filter a text box: the
  panel username "equal to", "starts with" or "contains" (`label_filters`), answered in SQL
  by `linked_user_id IN (SELECT id FROM linked_user WHERE <the reader's workspace> AND
  username …)`. The REST twin keeps its id filters and gains the same three
  (`username_eq`, `username_sw`, `username_ct`), so the screen's "Export CSV" link carries
  the filter as it is.
"""
from __future__ import annotations

import functools
from contextvars import ContextVar

from flask_appbuilder.models.filters import BaseFilter
from flask_appbuilder.models.sqla.filters import FilterContains, FilterEqual, FilterStartsWith
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from markupsafe import escape
from sqlalchemy import func, inspect, select

from app.tenancy import scope_query

#: the cap of a screen's row count while it is counted (None: count exactly)
count_cap: ContextVar[int | None] = ContextVar("relaydesk_list_count_cap", default=None)

MORE_THAN = _l("more than %(count)s")
#: the search box's hint, by the related text column searched
LABEL_HINTS = {"username": _l("Panel username")}


class CappedCount(int):
    """A row count that stopped at its cap: the number is cap + 1, the text "more than
    <cap>"."""

    cap: int

    def __new__(cls, cap: int) -> CappedCount:
        count = super().__new__(cls, cap + 1)
        count.cap = cap
        return count

    def __str__(self) -> str:
        return str(MORE_THAN % {"count": format_decimal(self.cap)})

    def __html__(self) -> str:
        return str(escape(str(self)))


def capped_count(interface, query, filters, select_columns) -> int:
    """The interface's row count for `filters`, at most `count_cap` + 1 rows read."""
    cap = count_cap.get()
    inner = interface._apply_inner_all(query, filters, select_columns=select_columns,
                                       aliases_mapping={})
    if cap is None:
        return inner.count()
    key = inspect(interface.obj).primary_key[0]
    limited = inner.with_entities(key).limit(cap + 1).subquery()
    count = interface.session.query(func.count()).select_from(limited).scalar() or 0
    return CappedCount(cap) if count > cap else count


# --- search by name -----------------------------------------------------------------------

class RelatedLabelFilter(BaseFilter):
    """A filter on a many-to-one column by a text column of the related row (its label)."""

    label_column = ""

    def condition(self, label, value: str):
        """The SQL condition on the label column; each class `label_filter_classes` makes
        sets its own (equal to, starts with, contains), so this base is never applied."""
        raise NotImplementedError("made by label_filter_classes")

    def apply(self, query, value):
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        relationship = getattr(self.model, self.column_name).property
        related = relationship.mapper.class_
        foreign_key = next(iter(relationship.local_columns))
        label = getattr(related, self.label_column)
        key = inspect(related).primary_key[0]
        ids = scope_query(select(key), related).where(self.condition(label, str(value).strip()))
        return query.filter(foreign_key.in_(ids))


@functools.cache
def label_filter_classes(label_column: str) -> tuple[type[RelatedLabelFilter], ...]:
    """The filters by `label_column`: equal to, starts with, contains (FAB's own names)."""

    def make(suffix: str, name, condition) -> type[RelatedLabelFilter]:
        return type(f"RelatedLabel{suffix.title()}_{label_column}", (RelatedLabelFilter,), {
            "name": name, "arg_name": f"{label_column}_{suffix}",
            "label_column": label_column, "condition": condition,
            "__module__": __name__})

    return (
        make("eq", FilterEqual.name, lambda self, label, value: label == value),
        make("sw", FilterStartsWith.name,
             lambda self, label, value: label.ilike(_like_text(value) + "%", escape="\\")),
        make("ct", FilterContains.name,
             lambda self, label, value: label.ilike("%" + _like_text(value) + "%",
                                                    escape="\\")),
    )


def _like_text(value: str) -> str:
    """`value` matched literally inside a LIKE pattern: its %, _ and \\ escaped."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def label_filters(column: str, label_column: str, datamodel) -> list[RelatedLabelFilter]:
    return [cls(column, datamodel) for cls in label_filter_classes(label_column)]


def label_operations(view, column: str) -> set[str]:
    """The `opr` names of `view`'s search-by-name filters on `column` (empty if none)."""
    label_column = (getattr(view, "search_by_label", None) or {}).get(column)
    if not label_column:
        return set()
    return {cls.arg_name for cls in label_filter_classes(label_column)}
