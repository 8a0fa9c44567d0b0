"""The query-string arguments of every list, screen and REST API alike, checked before FAB reads
them: a bad one answers 400 with a sentence saying what is wrong, never a 500.

FAB reads these arguments without checking them, and the database refuses what it passes on:

* screens: `page_<View>` / `psize_<View>` (FAB calls int() on every argument whose name contains
  `page_`), `_oc_<View>` / `_od_<View>` (sort), `_flt_<n>_<column>` (search filters; also preset
  relations on the add and edit forms);
* REST: `q` (Rison or JSON) with `page`, `page_size`, `filters`, and `page`/`page_size` per related
  field of `_info`.

Rules: a page number is a whole number from 0 to MAX_PAGE_INDEX (deeper pages are refused: a
filter narrows a long list, an OFFSET of millions does not); a page size is a whole number of at
least 1, and on screens it is capped at MAX_PAGE_SIZE (what FAB's page-size menu offers; the REST
APIs cap at their `max_page_size`, FAB_API_MAX_PAGE_SIZE); a screen sorts only by its
`order_columns`; a filter value must be one its column can hold (a number for a number, a known
id for a relation, text without NUL characters for text).

Installed by `create_app` as one `before_request` hook; a request without query arguments (every
webhook call) returns at its first line.
"""
from __future__ import annotations

import json
import math
import re

import prison
from flask import abort, current_app, request
from flask_appbuilder.api import BaseApi, ModelRestApi
from flask_appbuilder.baseviews import BaseCRUDView
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, SmallInteger, inspect
from werkzeug.datastructures import ImmutableMultiDict

from app.views.big_lists import label_operations

MAX_PAGE_SIZE = 100
MAX_PAGE_INDEX = 100_000

BAD_PAGE = _l("The page number must be a whole number from 0 to %(max)d.")
BAD_PAGE_SIZE = _l("The page size must be a whole number of at least 1.")
BAD_ORDER = _l("This list cannot be sorted by that column.")
BAD_FILTER = _l("A filter on “%(column)s” has a value this column cannot hold.")
BAD_FILTER_COLUMN = _l("This list cannot be filtered by “%(column)s”.")
BAD_FILTER_SHAPE = _l("Each filter needs a column (col), an operator (opr) and a value.")
BAD_OPERATOR = _l("A filter on “%(column)s” cannot use the operator “%(operator)s”.")
BAD_QUERY = _l("The q argument is neither valid Rison nor valid JSON.")
NOT_AN_OBJECT = _l("The q argument must be an object, e.g. (page:0,page_size:25).")

# The argument names FAB itself recognises (flask_appbuilder.urltools).
_PAGE_ARG = re.compile("page_(.*)")
_PAGE_SIZE_ARG = re.compile("psize_(.*)")
_ORDER_ARG = re.compile("_oc_(.*)")
_FILTER_ARG = re.compile(r"_flt_(\d)_(.*)")
_DIGITS = re.compile(r"[0-9]+")
# What PostgreSQL accepts as a boolean (SQLite compares anything without complaint).
_BOOLEAN_WORDS = {"y", "n", "yes", "no", "t", "f", "true", "false", "on", "off", "1", "0"}


class ListArgumentError(ValueError):
    """A query-string argument a list cannot use; the message is fit for the person."""


def install_list_arg_checks(app) -> None:
    app.before_request(check_list_args)


def check_list_args():
    """The before_request hook: None to go on, or the 400 answer of a REST API (404 for a
    row id no row can have: beyond its column's range, which SQLite cannot even compare)."""
    pk = (request.view_args or {}).get("pk")
    if isinstance(pk, str) and re.fullmatch(r"-?[0-9]{1,4000}", pk):
        pk = int(pk)  # FAB's routes take the id as text
    if isinstance(pk, int):
        view = _views_by_blueprint().get(request.blueprint)
        if isinstance(view, ModelRestApi):
            kind = inspect(view.datamodel.obj).primary_key[0].type
            if is_integer_type(kind) and not fits_integer(pk, kind):
                return view.response_404()
    if not request.args:
        return None
    view = _views_by_blueprint().get(request.blueprint)
    try:
        if isinstance(view, BaseCRUDView):
            _check_screen_args(view)
        elif isinstance(view, BaseApi):
            _check_api_args(view)
    except ListArgumentError as exc:
        if isinstance(view, BaseApi):
            return view.response_400(message=str(exc))
        abort(400, description=str(exc))
    return None


def _views_by_blueprint() -> dict:
    views = current_app.extensions.get("relaydesk_views_by_blueprint")
    if views is None:
        views = {view.blueprint.name: view for view in current_app.appbuilder.baseviews
                 if getattr(view, "blueprint", None) is not None}
        current_app.extensions["relaydesk_views_by_blueprint"] = views
    return views


# --- screens ----------------------------------------------------------------------------------

def _check_screen_args(view: BaseCRUDView) -> None:
    capped = {}
    for arg in request.args:
        value = request.args.get(arg, "")
        if _PAGE_ARG.findall(arg):
            _page_index(value)
        if _PAGE_SIZE_ARG.findall(arg) and _page_size(value) > MAX_PAGE_SIZE:
            capped[arg] = str(MAX_PAGE_SIZE)
        order = _ORDER_ARG.findall(arg)
        if order and request.args.get("_od_" + order[0]) in ("asc", "desc"):
            _check_order(order[0], value)
        filter_arg = _FILTER_ARG.findall(arg)
        if filter_arg:
            index, column = filter_arg[0]
            _check_screen_filter(view, int(index), column, request.args.getlist(arg))
    if capped:
        args = request.args.copy()
        for arg, value in capped.items():
            args.setlist(arg, [value])
        # FAB reads request.args (the list, its pagination and page-size links): one place
        # caps the page size for every screen, FAB's own user and role screens included.
        request.args = ImmutableMultiDict(args)


def _whole(value: str) -> int | None:
    """A decimal number as FAB's int() would read it (9 digits at most), None if not one;
    a longer number reads as 10**9."""
    if not _DIGITS.fullmatch(value):
        return None
    digits = value.lstrip("0") or "0"
    return 10 ** 9 if len(digits) > 9 else int(digits)


def _page_index(value: str) -> int:
    page = _whole(value)
    if page is None or page > MAX_PAGE_INDEX:
        raise ListArgumentError(str(BAD_PAGE % {"max": MAX_PAGE_INDEX}))
    return page


def _page_size(value: str) -> int:
    size = _whole(value)
    if size is None or size < 1:
        raise ListArgumentError(str(BAD_PAGE_SIZE))
    return size


def _check_order(view_name: str, column: str) -> None:
    """`_oc_<View>` names the view it sorts (a show page also lists related views)."""
    named = next((v for v in _views_by_blueprint().values()
                  if isinstance(v, BaseCRUDView) and type(v).__name__ == view_name), None)
    if named is not None and column not in (named.order_columns or []):
        raise ListArgumentError(str(BAD_ORDER))


def _check_screen_filter(view: BaseCRUDView, index: int, column: str, values: list) -> None:
    datamodel = view.datamodel
    if column not in datamodel.get_columns_list():
        return  # FAB ignores a filter on a column it does not know
    # on the list page only: an add or edit form reads `_flt_0_<relation>` as a preset id
    listing = request.endpoint == f"{view.endpoint}.list"
    by_label = label_operations(view, column) \
        if listing and column in (view.search_columns or ()) else set()
    filters = by_label or datamodel.filter_converter_class(datamodel).convert(column) or []
    if index >= len(filters):
        raise ListArgumentError(str(BAD_FILTER % {"column": column}))
    for value in values:
        if by_label:
            check_text_value(column, value)
        else:
            check_filter_value(datamodel, column, value)


# --- REST APIs --------------------------------------------------------------------------------

def _check_api_args(view: BaseApi) -> None:
    raw = request.args.get("q")
    if not raw:
        return
    args = _parse_q(raw)
    if not isinstance(args, dict):
        raise ListArgumentError(str(NOT_AN_OBJECT))
    _check_rest_paging(args)
    for key in ("add_columns", "edit_columns"):  # _info: a page of choices per related field
        fields = args.get(key)
        if isinstance(fields, dict):
            for paging in fields.values():
                if isinstance(paging, dict):
                    _check_rest_paging(paging)
    filters = args.get("filters")
    if isinstance(view, ModelRestApi) and isinstance(filters, list):
        # the CSV export also takes the master admin's `workspace` filters, which it checks
        # itself (app/views/export.py `_workspace_filters`): the screen's Export CSV carries them
        exporting = request.path.endswith("/export.csv")
        for item in filters:
            if not isinstance(item, dict):
                raise ListArgumentError(str(BAD_FILTER_SHAPE))
            if exporting and item.get("col") == "workspace":
                continue
            _check_rest_filter(view, item)


def _check_rest_filter(view: ModelRestApi, item: dict) -> None:
    """A filter's column must be one the API searches, its operator one FAB offers for that
    column (FAB dropped an unknown operator silently on some columns), its value one the
    column can hold."""
    column, operator = item.get("col"), item.get("opr")
    if not isinstance(column, str) or column not in (view.search_columns or []):
        raise ListArgumentError(str(BAD_FILTER_COLUMN % {"column": column}))
    offered = {f.arg_name for f in view._filters._search_filters.get(column, ())}  # noqa: SLF001
    if offered and operator not in offered:
        raise ListArgumentError(str(BAD_OPERATOR % {"column": column, "operator": operator}))
    if "value" not in item:  # FAB dropped such a filter, and every one after it, silently
        raise ListArgumentError(str(BAD_FILTER_SHAPE))
    if operator in label_operations(view, column):
        check_text_value(column, item["value"])  # a name, not an id
    else:
        check_filter_value(view.datamodel, column, item["value"])


def _parse_q(raw: str):
    """`q` as FAB reads it: Rison, else JSON (FAB_API_ALLOW_JSON_QS). FAB falls back to JSON
    only on prison's ParserException; anything else prison raises (a ValueError on some
    numbers, `1.5e+27`) escaped FAB as a 500, so it is a 400 here."""
    try:
        return prison.loads(raw)
    except prison.decoder.ParserException:
        if not current_app.config.get("FAB_API_ALLOW_JSON_QS", True):
            raise ListArgumentError(str(BAD_QUERY)) from None
    except Exception:  # noqa: BLE001 - prison raises more than its ParserException
        raise ListArgumentError(str(BAD_QUERY)) from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ListArgumentError(str(BAD_QUERY)) from None


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rest_paging(args: dict) -> None:
    if "page" in args:
        page = args["page"]
        if not _whole_number(page) or not 0 <= page <= MAX_PAGE_INDEX:
            raise ListArgumentError(str(BAD_PAGE % {"max": MAX_PAGE_INDEX}))
    if "page_size" in args:
        size = args["page_size"]
        if not _whole_number(size) or size < 1:
            raise ListArgumentError(str(BAD_PAGE_SIZE))


# --- filter values ----------------------------------------------------------------------------

def check_filter_value(datamodel, column: str, value) -> None:
    """Raise ListArgumentError unless `value` (or each value of a list, for `in` filters) is one
    the column can be compared with."""
    values = value if isinstance(value, list) else [value]
    if not all(_fits(datamodel, column, v) for v in values):
        raise ListArgumentError(str(BAD_FILTER % {"column": column}))


def check_text_value(column: str, value) -> None:
    """Raise ListArgumentError unless `value` (or each value of a list: a screen's filter
    carried to the export) is text PostgreSQL can hold (no NUL)."""
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and "\x00" not in v for v in values):
        raise ListArgumentError(str(BAD_FILTER % {"column": column}))


def _fits(datamodel, column: str, value) -> bool:
    if isinstance(value, str) and "\x00" in value:
        return False  # PostgreSQL cannot hold NUL in text
    if datamodel.is_relation(column):
        target = inspect(datamodel.get_related_model(column)).primary_key[0]
        return fits_integer(value, target.type) if is_integer_type(target.type) \
            else isinstance(value, str)
    if datamodel.is_boolean(column):
        return isinstance(value, bool) or (isinstance(value, str)
                                           and value.strip().lower() in _BOOLEAN_WORDS)
    if datamodel.is_integer(column):
        return fits_integer(value, _column_type(datamodel, column))
    if datamodel.is_float(column) or datamodel.is_numeric(column):
        return _fits_float(value)
    if datamodel.is_date(column) or datamodel.is_datetime(column):
        return isinstance(value, str)  # FAB parses the text and ignores what it cannot parse
    return isinstance(value, str)


def _column_type(datamodel, column: str):
    return getattr(datamodel.obj, column).property.columns[0].type


def is_integer_type(kind) -> bool:
    try:
        return kind.python_type is int
    except NotImplementedError:
        return False


def fits_integer(value, kind) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return False
    try:
        number = int(value)
    except ValueError:  # not a number, or more digits than Python converts
        return False
    bits = 64 if isinstance(kind, BigInteger) else 16 if isinstance(kind, SmallInteger) else 32
    return -(2 ** (bits - 1)) <= number < 2 ** (bits - 1)


def _fits_float(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return False
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return False
    return math.isfinite(number)
