"""List arguments (app/views/list_args.py): every list screen and REST API registered on the app
(found at run time, FAB's own user and role screens included) caps a huge page size and answers
400, never 500, to a bad page number, page size, sort column, filter value or `q`.

The master admin asks, so every list is reachable, and every list holds at least two rows.
"""
from __future__ import annotations

import re
from urllib.parse import quote

import prison
import pytest
from flask_appbuilder import ModelRestApi
from flask_appbuilder.baseviews import BaseCRUDView

from app.extensions import db
from app.views import list_args
from app.views.list_args import MAX_PAGE_INDEX, MAX_PAGE_SIZE
from tests.tenancy_helpers import fill_every_owned_table, make_row

LIST_TABLE = re.compile(r'<table class="table table-bordered table-hover">(.*?)</table>', re.S)


def screens(app) -> list:
    return [v for v in app.appbuilder.baseviews if isinstance(v, BaseCRUDView)]


def apis(app) -> list:
    return [v for v in app.appbuilder.baseviews if isinstance(v, ModelRestApi)]


def rows_listed(html: str) -> int:
    table = LIST_TABLE.search(html)
    assert table, "no list table on the page"
    return table.group(1).count("<tr>") - 1  # the header row


def status(client, url: str):
    """The answer's status, or what was raised (the test client re-raises a view's error)."""
    try:
        return client.get(url).status_code
    except Exception as exc:  # noqa: BLE001 - reported as a problem, the run goes on
        db.session.rollback()
        return f"raised {type(exc).__name__}: {str(exc)[:120]}"


def report(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problems:\n  " + "\n  ".join(problems[:60])


@pytest.fixture
def admin_client(app, factory, auth, client):
    """Two populated workspaces, two rows behind every list, the master admin signed in."""
    a, _ = factory.populated_workspace("alpha")
    b, _ = factory.populated_workspace("bravo")
    fill_every_owned_table(a.id, "alpha")
    fill_every_owned_table(b.id, "bravo")
    for view in screens(app) + apis(app):
        model = view.datamodel.obj
        while db.session.query(model).count() < 2:
            make_row(model, None, "extra")
    factory.admin("root")
    auth.login("root")
    return client


# --- page size ---------------------------------------------------------------------------------

def test_a_huge_page_size_is_capped_on_every_list_screen(app, admin_client, monkeypatch):
    """With the cap lowered to 1 every list (two rows or more) shows one row for a page size of
    100000000; without the argument it shows them all (control)."""
    monkeypatch.setattr(list_args, "MAX_PAGE_SIZE", 1)
    problems, checked = [], 0
    for view in screens(app):
        name, base = type(view).__name__, view.route_base
        everything = admin_client.get(f"{base}/list/")
        assert everything.status_code == 200, f"{base}: {everything.status}"
        if rows_listed(everything.get_data(as_text=True)) < 2:
            problems.append(f"{base}/list/ shows fewer than 2 rows (control)")
            continue
        huge = admin_client.get(f"{base}/list/?psize_{name}=100000000")
        checked += 1
        if huge.status_code != 200 or rows_listed(huge.get_data(as_text=True)) != 1:
            problems.append(f"{base}/list/?psize_{name}=100000000: {huge.status_code}, "
                            f"{rows_listed(huge.get_data(as_text=True))} rows")
    assert checked >= 50, checked
    report(problems)


def test_the_real_cap_on_a_list_of_hundreds(app, admin_client):
    """FAB's permission screen lists hundreds of rows: 100 at most per page."""
    view = next(v for v in screens(app) if type(v).__name__ == "PermissionViewModelView")
    assert db.session.query(view.datamodel.obj).count() > MAX_PAGE_SIZE
    response = admin_client.get(f"{view.route_base}/list/?psize_{type(view).__name__}=100000000")
    assert response.status_code == 200
    assert rows_listed(response.get_data(as_text=True)) == MAX_PAGE_SIZE
    # the page's own links (pages, page sizes) carry the capped size
    assert "psize_PermissionViewModelView=100000000" not in response.get_data(as_text=True)


# --- page numbers and sizes --------------------------------------------------------------------

BAD_PAGES = ["-1", "abc", "1.5", "", " 1", "99999999999999999999", str(MAX_PAGE_INDEX + 1)]
BAD_PAGE_SIZES = ["-5", "0", "abc", "", "2.5"]


def test_bad_page_numbers_and_sizes_answer_400_on_every_list_screen(app, admin_client):
    problems = []
    for view in screens(app):
        name, base = type(view).__name__, view.route_base
        queries = [f"page_{name}={quote(v)}" for v in BAD_PAGES]
        queries += [f"psize_{name}={quote(v)}" for v in BAD_PAGE_SIZES]
        queries.append("page_SomeOtherView=abc")  # FAB reads every page_* argument
        for query in queries:
            got = status(admin_client, f"{base}/list/?{query}")
            if got != 400:
                problems.append(f"{base}/list/?{query}: {got}")
        for query in (f"page_{name}=0", f"page_{name}=1", f"psize_{name}=25",
                      f"page_{name}={MAX_PAGE_INDEX}&psize_{name}=100"):
            got = status(admin_client, f"{base}/list/?{query}")
            if got != 200:
                problems.append(f"{base}/list/?{query} (control): {got}")
    report(problems)


def _rison(value) -> str:
    return quote(prison.dumps(value))


def test_every_rest_api_caps_a_huge_page_size_and_refuses_bad_pages(app, admin_client,
                                                                     monkeypatch):
    """The cap is FAB's (`max_page_size`, lowered to 1 here); the 400s are list_args'."""
    problems = []
    assert len(apis(app)) >= 20
    for view in apis(app):
        monkeypatch.setattr(view, "max_page_size", 1)
        response = admin_client.get(f"{view.route_base}/?q=(page_size:100000000)")
        if response.status_code != 200 or len(response.json["ids"]) != 1 \
                or response.json["count"] < 2:
            problems.append(f"{view.route_base} (page_size:100000000): {response.status_code}")
    bad = [{"page": -1}, {"page": "abc"}, {"page": 1.5}, {"page": MAX_PAGE_INDEX + 1},
           {"page": 10 ** 20}, {"page_size": -5}, {"page_size": 0}, {"page_size": "abc"},
           {"page": True}]
    for view in apis(app):
        base = view.route_base
        for args in bad:
            got = status(admin_client, f"{base}/?q={_rison(args)}")
            if got != 400:
                problems.append(f"{base}/?q={prison.dumps(args)}: {got}")
        for raw in ("(page:", "(page:0,page_size:", "!(", "{\"page\": -1}"):
            got = status(admin_client, f"{base}/?q={quote(raw)}")
            if got != 400:
                problems.append(f"{base}/?q={raw}: {got}")
        got = status(admin_client, f"{base}/?q={_rison({'page': 1, 'page_size': 1})}")
        if got != 200:
            problems.append(f"{base}/?q=(page:1,page_size:1) (control): {got}")
        for column in _related_add_columns(view):
            for paging, wanted in (({"page": -1}, 400), ({"page_size": -1}, 400),
                                   ({"page": 0, "page_size": 5}, 200)):
                query = _rison({"add_columns": {column: paging}})
                got = status(admin_client, f"{base}/_info?q={query}")
                if got != wanted:
                    problems.append(f"{base}/_info add_columns.{column} {paging}: {got}")
    report(problems)


def _related_add_columns(view) -> list[str]:
    """Relations offered on the add form (their choices are paged in `_info`)."""
    return [c for c in view.add_columns or [] if view.datamodel.is_relation(c)]


# --- sorting and filters -----------------------------------------------------------------------

def _junk_for(datamodel, column, by_label: bool = False) -> list[str]:
    """Values the column cannot hold (a 400), whatever its type: NUL in text, and for columns
    that are not text a word and a number past 64 bits. A relation searched by its related
    row's name (`search_by_label`) takes text."""
    junk = ["bad\x00value"]
    is_text = by_label or (datamodel.is_string(column) or datamodel.is_text(column)
                           or datamodel.is_enum(column)) and not datamodel.is_relation(column)
    if not (is_text or datamodel.is_date(column) or datamodel.is_datetime(column)):
        junk += ["junk", "9" * 25]
    return junk


def test_bad_sort_and_filter_arguments_answer_400_on_every_list_screen(app, admin_client):
    problems, filters_checked = [], 0
    for view in screens(app):
        name, base, dm = type(view).__name__, view.route_base, view.datamodel
        for query, wanted in ((f"_oc_{name}=no_such_column&_od_{name}=asc", 400),
                              (f"_oc_{name}=password&_od_{name}=desc", 400)):
            got = status(admin_client, f"{base}/list/?{query}")
            if got != wanted:
                problems.append(f"{base}/list/?{query}: {got}")
        if view.order_columns:
            query = f"_oc_{name}={view.order_columns[0]}&_od_{name}=desc"
            got = status(admin_client, f"{base}/list/?{query}")
            if got != 200:
                problems.append(f"{base}/list/?{query} (control): {got}")
        for column, flts in view._filters.get_search_filters().items():
            by_label = column in (getattr(view, "search_by_label", None) or {})
            for value in _junk_for(dm, column, by_label):
                filters_checked += 1
                query = f"_flt_0_{column}={quote(value)}"
                got = status(admin_client, f"{base}/list/?{query}")
                if got != 400:
                    problems.append(f"{base}/list/?{query!r}: {got}")
            query = f"_flt_{len(flts)}_{column}=x" if len(flts) < 10 else None
            if query:
                got = status(admin_client, f"{base}/list/?{query}")
                if got != 400:
                    problems.append(f"{base}/list/?{query} (no such filter): {got}")
    assert filters_checked >= 100, filters_checked
    report(problems)


def test_add_and_edit_forms_refuse_junk_relation_presets(app, admin_client):
    """The add and edit forms read `_flt_<n>_<relation>` to preset a relation (any relation,
    not only searchable ones): junk there is a 400, a real id is fine (control)."""
    problems, checked = [], set()
    for view in screens(app):
        forms = []
        permissions = view.base_permissions or []
        if "can_add" in permissions:
            forms.append((f"{view.route_base}/add", view.add_columns))
        if "can_edit" in permissions:
            row = db.session.query(view.datamodel.obj).first()
            forms.append((f"{view.route_base}/edit/{view.datamodel.get_pk_value(row)}",
                          view.edit_columns))
        for form, columns in forms:
            for column in columns or []:
                if not view.datamodel.is_relation_many_to_one(column):
                    continue
                checked.add(form.split("/")[2])
                related = view.datamodel.get_related_model(column)
                real = db.session.query(related).first()
                real_id = view.datamodel.get_related_interface(column).get_pk_value(real)
                for value, wanted in (("junk", 400), ("9" * 25, 400), (str(real_id), 200)):
                    url = f"{form}?_flt_0_{column}={value}"
                    got = status(admin_client, url)
                    if got != wanted:
                        problems.append(f"{url}: {got}")
    assert {"add", "edit"} <= checked, checked
    report(problems)


def test_bad_filter_values_answer_400_on_every_rest_api(app, admin_client):
    problems, checked = [], 0
    for view in apis(app):
        dm = view.datamodel
        for column, flts in view._filters.get_search_filters().items():
            opr = flts[0].arg_name
            bad = [v for v in _junk_for(dm, column) if v != "9" * 25] + [True]
            if not (dm.is_string(column) or dm.is_text(column) or dm.is_enum(column)) \
                    or dm.is_relation(column):
                bad.append(10 ** 30)
            else:
                bad.append(-1)  # text compared with a number
            for value in bad:
                checked += 1
                if isinstance(value, bool) and dm.is_boolean(column):
                    continue
                query = _rison({"filters": [{"col": column, "opr": opr, "value": value}]})
                got = status(admin_client, f"{view.route_base}/?q={query}")
                if got != 400:
                    problems.append(f"{view.route_base} filter {column} {opr} {value!r}: {got}")
    assert checked >= 100, checked
    report(problems)
