"""CSV export of the log lists: `GET /api/v1/<resource>/export.csv` and the screens' button.

The export takes the same rison `q` as the list (`filters`, `order_column`,
`order_direction`) and parses it with FAB's own REST filter handling (`_handle_filters_args`),
so the list and its export cannot disagree. Rows are read through the REST twin's scoped data
interface (the reader's workspace only; the master admin's every workspace) with a
server-side cursor (`yield_per`) and written out as they come: the table is never held in
memory. The columns are the twin's declared `list_columns`, dumped by its list schema, so a
sensitive column never leaves (secrets only as `<column>_masked`). A text cell that a
spreadsheet would read as a formula (starting with = + - @, a tab or a carriage return) is
prefixed with an apostrophe.

The master admin's copy of a log list can be narrowed to one workspace (its `workspace`
filter, "Relation" / "No relation"), which the twin itself does not offer: the export takes
that filter too (`{"col": "workspace", "opr": "rel_o_m" | "nrel_o_m", "value": <id>}`), on
top of the reader's scope, so the file is narrowed as the list was.
"""
from __future__ import annotations

import csv
import io
import re
from datetime import datetime

import prison
from flask import Response, request, stream_with_context
from flask_appbuilder.api import expose, get_list_schema, rison, safe
from flask_appbuilder.const import (API_FILTERS_RIS_KEY, API_ORDER_COLUMN_RIS_KEY,
                                    API_ORDER_DIRECTION_RIS_KEY)
from flask_appbuilder.exceptions import FABException, InvalidOrderByColumnFABException
from flask_appbuilder.security.decorators import permission_name, protect
from flask_appbuilder.urltools import get_order_args
from sqlalchemy.orm import lazyload, selectinload

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 2000
WORKSPACE_OPERATIONS = ("rel_o_m", "nrel_o_m")  # FAB's relation filters: is / is not


def cell(value) -> str:
    """One CSV cell: related rows by their label, lists joined, formulas defused."""
    if value is None:
        return ""
    if isinstance(value, dict):  # a related row's summary {"id", "label"}
        value = value.get("label", "")
    elif isinstance(value, (list, tuple)):
        value = "; ".join(cell(item) for item in value)
    elif isinstance(value, bool):
        return "true" if value else "false"
    elif isinstance(value, (int, float)):
        return str(value)
    elif isinstance(value, datetime):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text


class CsvExportApi:
    """Mixin for a `WorkspaceRestApi`: the `export.csv` route (permission `can_get`, the
    list's)."""

    csv_batch = BATCH

    @staticmethod
    def _workspace_filters(args: dict) -> list[tuple[str, int]]:
        """Take the `workspace` filters out of the rison `filters` (the twin has no such search
        column): [(operation, workspace id)]. Raise ValueError for one it cannot use."""
        filters = args.get(API_FILTERS_RIS_KEY)
        if not isinstance(filters, list):
            return []
        taken, kept = [], []
        for item in filters:
            if not (isinstance(item, dict) and item.get("col") == "workspace"):
                kept.append(item)
                continue
            value = item.get("value")
            if isinstance(value, list) and len(value) == 1:
                value = value[0]  # a screen's filter value
            if item.get("opr") not in WORKSPACE_OPERATIONS or isinstance(value, bool) \
                    or not re.fullmatch(r"[0-9]{1,9}", str(value)):
                raise ValueError("A workspace filter takes rel_o_m or nrel_o_m and a "
                                 "workspace id.")
            taken.append((item["opr"], int(value)))
        args[API_FILTERS_RIS_KEY] = kept
        return taken

    def _many_to_one(self, columns):
        model = self.datamodel.obj
        return [name for name in columns
                if self.datamodel.is_relation_many_to_one(name) and hasattr(model, name)]

    @expose("/export.csv", methods=["GET"])
    @protect()
    @safe
    @permission_name("get")
    @rison(get_list_schema)
    def export_csv(self, **kwargs):
        gate = self._plan_gate()  # a plan without the REST API module: 403, nothing read
        if gate is not None:
            return gate
        return self._narrowed(lambda: self._export_csv(kwargs.get("rison", {})))

    def _export_csv(self, args: dict):
        try:
            workspaces = self._workspace_filters(args)
        except ValueError as exc:
            return self.response_400(message=str(exc))
        try:
            filters = self._handle_filters_args(args)
        except FABException as exc:
            return self.response_400(message=str(exc))
        try:
            order_column, order_direction = self._handle_order_args(args)
        except InvalidOrderByColumnFABException as exc:
            return self.response_400(message=str(exc))
        if order_direction not in ("", "asc", "desc"):
            return self.response_400(message="order_direction must be asc or desc")
        columns = list(self.list_columns)
        schema = self.list_model_schema
        session = self.datamodel.session
        query = self.datamodel.apply_all(session.query(self.datamodel.obj), filters,
                                         order_column, order_direction)
        for operation, workspace_id in workspaces:  # within the scope: never wider
            column = self.datamodel.obj.workspace_id
            query = query.filter(column == workspace_id if operation == "rel_o_m"
                                 else column != workspace_id)
        # no joined eager load (yield_per refuses them); the list's related rows by batch
        model = self.datamodel.obj
        query = query.options(lazyload("*"), *[selectinload(getattr(model, name))
                                              for name in self._many_to_one(columns)])
        query = query.yield_per(self.csv_batch)  # a server-side cursor, read by batch
        batch = self.csv_batch

        def rows():
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(columns)
            pending = 0
            for item in query:
                data = schema.dump(item)
                writer.writerow([cell(data.get(name)) for name in columns])
                pending += 1
                if pending >= batch:
                    yield out.getvalue()
                    out.seek(0)
                    out.truncate()
                    pending = 0
            yield out.getvalue()
            session.rollback()  # end the read transaction (closes the server-side cursor)

        filename = f"{self.resource_name}.csv"
        return Response(stream_with_context(rows()), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "Cache-Control": "no-store",
                                 "X-Content-Type-Options": "nosniff"},
                        content_type="text/csv; charset=utf-8")


def with_csv_export(api_cls: type) -> type:
    """`api_cls` with the `export.csv` route."""
    return type(api_cls.__name__, (CsvExportApi, api_cls), {"__module__": api_cls.__module__,
                                                            "__doc__": api_cls.__doc__})


class CsvExportButton:
    """Mixin for a log list screen: its list page shows "Export CSV", a link to the REST
    twin's `export.csv` carrying the list's current filters and order as rison `q`."""

    list_template = "relaydesk/log_list.html"
    csv_resource: str = ""

    def csv_export_url(self) -> str:
        filters = []
        for flt, value in zip(self._filters.filters, self._filters.values, strict=False):
            # (the master admin's copy filters by workspace: the export takes that one too)
            filters.append({"col": flt.column_name, "opr": flt.arg_name, "value": value})
        args: dict = {}
        if filters:
            args[API_FILTERS_RIS_KEY] = filters
        order = get_order_args().get(self.__class__.__name__)
        if order and order[0] in (self.order_columns or ()):
            args[API_ORDER_COLUMN_RIS_KEY] = order[0]
            args[API_ORDER_DIRECTION_RIS_KEY] = order[1] if order[1] in ("asc", "desc") \
                else "desc"
        url = f"{request.script_root}/api/v1/{self.csv_resource}/export.csv"
        if args:
            from urllib.parse import quote

            url += "?q=" + quote(prison.dumps(args), safe="")
        return url

    def render_template(self, template, **kwargs):
        if template == self.list_template and self.csv_resource:
            kwargs["csv_export_url"] = self.csv_export_url()
        return super().render_template(template, **kwargs)
