"""CSV export of the log lists (app/views/export.py): `GET /api/v1/<resource>/export.csv`
takes the list's rison `q`, answers the reader's workspace only, never a secret, defuses
formulas, streams, and refuses a bad `q` with 400; each log screen links to it with its
current filters."""
from __future__ import annotations

import csv
import io
import re
from html import unescape
from urllib.parse import quote

import prison
import pytest

from app.extensions import db
from app.models import Channel, CommandLog, CommandOrder, InboundEvent
from app.models.base import utcnow
from tests.tenancy_helpers import fill_every_owned_table, make_row, tenant_ids_raw

RESOURCES = ["command_log", "command_order", "inbound_event", "outbound_message",
             "external_call", "ticket_activity", "broadcast_recipient", "cooldown_claim"]


def q(**args) -> str:
    return "?q=" + quote(prison.dumps(args), safe="")


def parse(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


@pytest.fixture
def two(factory):
    alpha, _ = factory.populated_workspace("alpha")
    bravo, _ = factory.populated_workspace("bravo")
    fill_every_owned_table(alpha.id, "alpha")
    fill_every_owned_table(bravo.id, "bravo")
    db.session.commit()
    return alpha, bravo


def command_log(workspace_id: int, text: str, order_ids: str, tag: str) -> CommandLog:
    row = CommandLog(workspace_id=workspace_id, inbound_event_id=make_row(InboundEvent,
                                                                          workspace_id, tag),
                     channel_id=tenant_ids_raw(Channel, workspace_id)[0], chat_id=f"{tag}-chat",
                     text=text, order_ids=order_ids, created_at=utcnow(), state="done")
    db.session.add(row)
    db.session.commit()
    return row


def test_every_log_resource_exports_its_workspace_only(app, two, client, auth):
    alpha, bravo = two
    auth.login("alpha-manager")
    for resource in RESOURCES:
        response = client.get(f"/api/v1/{resource}/export.csv")
        assert response.status_code == 200, (resource, response.get_data(as_text=True)[:300])
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert response.is_streamed
        assert "attachment" in response.headers["Content-Disposition"]
        rows = parse(response)
        listed = client.get(f"/api/v1/{resource}/{q(page_size=100)}").get_json()
        assert rows[0] == list(_api(app, resource).list_columns), resource
        assert len(rows) - 1 == listed["count"] >= 1, resource
        text = response.get_data(as_text=True)
        assert "bravo" not in text, resource


def _api(app, resource):
    return next(v for v in app.appbuilder.baseviews
                if getattr(v, "resource_name", None) == resource and hasattr(v, "export_csv"))


def test_filters_and_order_are_the_lists(app, two, client, auth):
    alpha, bravo = two
    for n in range(5):
        command_log(alpha.id, f"refill 77{n}", f"77{n}", f"a{n}")
    command_log(alpha.id, "=HYPERLINK(\"http://evil\")", "999", "evil")
    command_log(bravo.id, "refill 770", "770", "b0")
    auth.login("alpha-manager")
    filters = [{"col": "order_ids", "opr": "ct", "value": "77"}]
    listed = client.get("/api/v1/command_log/" + q(filters=filters)).get_json()
    rows = parse(client.get("/api/v1/command_log/export.csv" + q(
        filters=filters, order_column="created_at", order_direction="asc")))
    header, body = rows[0], rows[1:]
    assert listed["count"] == len(body) == 5
    texts = [r[header.index("text")] for r in body]
    assert texts == [f"refill 77{n}" for n in range(5)]  # ascending, as asked
    evil = parse(client.get("/api/v1/command_log/export.csv" + q(
        filters=[{"col": "order_ids", "opr": "eq", "value": "999"}])))
    assert evil[1][header.index("text")] == "'=HYPERLINK(\"http://evil\")"


def test_no_secret_leaves(app, two, client, auth):
    auth.login("alpha-manager")
    for resource in RESOURCES:
        api = _api(app, resource)
        header = parse(client.get(f"/api/v1/{resource}/export.csv"))[0]
        assert not set(header) & set(api.secret_columns), resource
        model = api.datamodel.obj
        from app.models.sensitive import sensitive_columns
        assert not set(header) & set(sensitive_columns(model)), resource


@pytest.mark.parametrize("bad", [
    "?q=(((", q(filters=[{"col": "nope", "opr": "eq", "value": "1"}]),
    q(order_column="nope"), q(filters=[{"col": "duration_ms", "opr": "eq", "value": "x"}]),
])
def test_bad_query_is_400(two, client, auth, bad):
    auth.login("alpha-manager")
    response = client.get("/api/v1/command_log/export.csv" + bad)
    assert response.status_code == 400, response.get_data(as_text=True)[:300]


def test_anonymous_is_refused(two, client):
    assert client.get("/api/v1/command_log/export.csv").status_code == 401


def test_screen_button_carries_the_filters(app, two, client, auth):
    alpha, _ = two
    for n in range(3):
        command_log(alpha.id, f"refill 55{n}", f"55{n}", f"s{n}")
    auth.login("alpha-manager")
    page = client.get("/commandlogview/list/?_flt_2_order_ids=551").get_data(as_text=True)
    link = re.search(r'class="btn btn-sm btn-default relaydesk-export-csv" href="([^"]+)"', page)
    assert link, "no Export CSV button"
    rows = parse(client.get(unescape(link.group(1))))
    assert [r[rows[0].index("text")] for r in rows[1:]] == ["refill 551"]
    for view in ("commandorderview", "inboundeventview", "outboundmessageview",
                 "externalcallview", "ticketactivityview"):
        page = client.get(f"/{view}/list/").get_data(as_text=True)
        assert "relaydesk-export-csv" in page, view


def test_master_admin_exports_every_workspace(app, two, client, auth, factory):
    alpha, bravo = two
    make_row(CommandOrder, alpha.id, "x1")
    factory.admin("root")
    auth.login("root")
    text = client.get("/api/v1/command_log/export.csv").get_data(as_text=True)
    assert "alpha" in text and "bravo" in text
    for resource in RESOURCES:  # `?workspace=<slug>` narrows the master admin's export
        narrowed = client.get(f"/api/v1/{resource}/export.csv?workspace={alpha.slug}")
        assert narrowed.status_code == 200, resource
        text = narrowed.get_data(as_text=True)
        assert "bravo" not in text and len(parse(narrowed)) > 1, resource
    assert client.get("/api/v1/command_log/export.csv?workspace=Bad!").status_code == 400
    assert client.get("/api/v1/command_log/export.csv?workspace=nowhere").status_code == 404


def test_master_admin_export_keeps_the_workspace_filter(app, two, client, auth, factory):
    alpha, bravo = two
    command_log(alpha.id, "refill 301", "301", "wa")
    command_log(bravo.id, "refill 302", "302", "wb")
    factory.admin("root")
    auth.login("root")
    for operation, wanted, unwanted in ((0, "refill 301", "refill 302"),
                                        (1, "refill 302", "refill 301")):
        page = client.get(f"/admincommandlogview/list/?_flt_{operation}_workspace={alpha.id}")
        assert page.status_code == 200
        link = re.search(r'class="btn btn-sm btn-default relaydesk-export-csv" href="([^"]+)"',
                         page.get_data(as_text=True))
        assert link, "no Export CSV button on the master admin's list"
        rows = parse(client.get(unescape(link.group(1))))
        texts = {r[rows[0].index("text")] for r in rows[1:]}
        assert wanted in texts and unwanted not in texts, (operation, texts)


@pytest.mark.parametrize("value", ["x", -1, True, [1, 2]])
def test_bad_workspace_filter_of_the_export_is_400(two, client, auth, factory, value):
    factory.admin("root")
    auth.login("root")
    bad = q(filters=[{"col": "workspace", "opr": "rel_o_m", "value": value}])
    assert client.get("/api/v1/command_log/export.csv" + bad).status_code == 400
    bad = q(filters=[{"col": "workspace", "opr": "sw", "value": 1}])
    assert client.get("/api/v1/command_log/export.csv" + bad).status_code == 400


def test_member_cannot_widen_the_export_by_workspace(two, client, auth):
    alpha, bravo = two
    auth.login("alpha-manager")
    text = client.get("/api/v1/command_log/export.csv" + q(filters=[
        {"col": "workspace", "opr": "rel_o_m", "value": bravo.id}])).get_data(as_text=True)
    assert text.count("\n") == 1 and "bravo" not in text  # the header only
