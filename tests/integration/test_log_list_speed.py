"""Log lists on big tables (app/views/big_lists.py, migration 0022): a screen's row count stops
at its cap ("more than …"), the REST twin still counts exactly; a command's linked user is
searched by username (a text box, not a select of every linked user), inside the reader's
workspace only; the "contains" filters have their trigram indexes on PostgreSQL, and the
migration goes on without them where pg_trgm cannot be created."""
from __future__ import annotations

import csv
import importlib.util
import io
import re
from html import unescape
from pathlib import Path
from urllib.parse import quote

import prison
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Channel, CommandLog, InboundEvent
from app.models.base import utcnow
from app.views.logs import CommandLogView
from tests.tenancy_helpers import make_row, tenant_ids_raw

ROOT = Path(__file__).resolve().parents[2]
RECORD_COUNT = re.compile(r"<strong>[^<]*</strong>\s*([^<]+?)\s*</div>")


def command(workspace, tag: str, linked_user=None, order_ids: str = "1") -> CommandLog:
    row = CommandLog(workspace_id=workspace.id,
                     inbound_event_id=make_row(InboundEvent, workspace.id, tag),
                     channel_id=tenant_ids_raw(Channel, workspace.id)[0], chat_id=f"{tag}-chat",
                     linked_user=linked_user, text=f"text {tag}", order_ids=order_ids,
                     created_at=utcnow(), state="done")
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def shops(factory):
    alpha, _ = factory.populated_workspace("alpha")
    bravo, _ = factory.populated_workspace("bravo")
    return alpha, bravo


def listed_texts(page: str) -> list[str]:
    return re.findall(r"text (\w+)", page)


# --- capped count -----------------------------------------------------------------------------

def test_screen_count_stops_at_the_cap_rest_counts_exactly(shops, client, auth, monkeypatch):
    alpha, _ = shops
    for n in range(5):
        command(alpha, f"c{n}")
    auth.login("alpha-manager")
    monkeypatch.setattr(CommandLogView, "list_count_cap", 3)
    page = client.get("/commandlogview/list/?psize_CommandLogView=2").get_data(as_text=True)
    assert "more than 3" in page
    assert "page_CommandLogView=1" in page  # pagination still offered
    page = client.get("/commandlogview/list/?psize_CommandLogView=2&page_CommandLogView=2")
    assert len(listed_texts(page.get_data(as_text=True))) == 1  # the last page, past the cap

    monkeypatch.setattr(CommandLogView, "list_count_cap", 10)
    page = client.get("/commandlogview/list/").get_data(as_text=True)
    assert "more than" not in page
    assert RECORD_COUNT.search(page).group(1) == str(
        db.session.query(CommandLog).filter_by(workspace_id=alpha.id).count())

    monkeypatch.setattr(CommandLogView, "list_count_cap", 3)
    answer = client.get("/api/v1/command_log/").get_json()
    assert answer["count"] == db.session.query(CommandLog).filter_by(
        workspace_id=alpha.id).count() >= 5  # the REST twin counts exactly


# --- the linked user, by username -------------------------------------------------------------

@pytest.fixture
def users(shops, factory):
    alpha, bravo = shops
    anna = factory.linked_user(alpha, "anna-shop")
    annabel = factory.linked_user(alpha, "annabel")
    bob = factory.linked_user(alpha, "bob")
    twin = factory.linked_user(bravo, "anna-shop")  # the same username in another workspace
    command(alpha, "anna1", anna)
    command(alpha, "anna2", anna)
    command(alpha, "annabel1", annabel)
    command(alpha, "bob1", bob)
    command(bravo, "bravoanna", twin)
    return anna, annabel, bob, twin


def test_search_form_has_a_username_box_not_every_user(users, client, auth):
    auth.login("alpha-manager")
    page = client.get("/commandlogview/list/").get_data(as_text=True)
    # FAB writes the search form's fields into a script, JSON-encoded
    page = page.replace("\\u003c", "<").replace("\\u003e", ">").replace('\\"', '"')
    field = re.search(r'<input[^>]*name="linked_user"[^>]*>', page)
    assert field, "no text box for the linked user"
    assert 'placeholder="Panel username"' in field.group(0)
    assert not re.search(r'<select[^>]*name="linked_user"', page)


def test_commands_filtered_by_username(users, client, auth):
    auth.login("alpha-manager")

    def texts(query: str) -> set[str]:
        response = client.get(f"/commandlogview/list/?{query}")
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        return set(listed_texts(response.get_data(as_text=True)))

    assert texts("_flt_0_linked_user=anna-shop") == {"anna1", "anna2"}  # equal to
    assert texts("_flt_1_linked_user=anna") == {"anna1", "anna2", "annabel1"}  # starts with
    assert texts("_flt_2_linked_user=NNAB") == {"annabel1"}  # contains, any case
    assert texts("_flt_0_linked_user=nobody") == set()
    assert texts("_flt_1_linked_user=ann_") == set()  # _ and % are letters, not wildcards
    assert texts("_flt_2_linked_user=%25") == set()


def test_username_filter_stays_in_the_workspace(users, client, auth):
    _anna, _annabel, _bob, twin = users
    auth.login("alpha-manager")
    page = client.get("/commandlogview/list/?_flt_2_linked_user=anna").get_data(as_text=True)
    assert "bravoanna" not in page
    auth.logout()
    auth.login("bravo-manager")
    page = client.get("/commandlogview/list/?_flt_0_linked_user=anna-shop").get_data(
        as_text=True)
    assert set(listed_texts(page)) == {"bravoanna"}


def test_rest_twin_keeps_the_id_filter_and_gains_the_username(users, client, auth):
    anna, *_ = users
    auth.login("alpha-manager")

    def count(filters) -> int:
        q = quote(prison.dumps({"filters": filters}), safe="")
        response = client.get(f"/api/v1/command_log/?q={q}")
        assert response.status_code == 200, response.get_json()
        return response.get_json()["count"]

    assert count([{"col": "linked_user", "opr": "rel_o_m", "value": anna.id}]) == 2
    assert count([{"col": "linked_user", "opr": "username_eq", "value": "anna-shop"}]) == 2
    assert count([{"col": "linked_user", "opr": "username_sw", "value": "anna"}]) == 3
    assert count([{"col": "linked_user", "opr": "username_ct", "value": "bel"}]) == 1


def test_export_link_carries_the_username_filter(users, client, auth):
    auth.login("alpha-manager")
    page = client.get("/commandlogview/list/?_flt_1_linked_user=anna").get_data(as_text=True)
    link = re.search(r'class="btn btn-sm btn-default relaydesk-export-csv" href="([^"]+)"', page)
    assert link
    rows = list(csv.reader(io.StringIO(client.get(unescape(link.group(1))).get_data(
        as_text=True))))
    assert sorted(r[rows[0].index("text")] for r in rows[1:]) == [
        "text anna1", "text anna2", "text annabel1"]


@pytest.mark.parametrize("query", ["_flt_0_linked_user=bad%00name", "_flt_3_linked_user=anna"])
def test_bad_username_filter_is_400(users, client, auth, query):
    auth.login("alpha-manager")
    assert client.get(f"/commandlogview/list/?{query}").status_code == 400


def test_chat_identities_search_the_linked_user_by_username(users, client, auth, factory):
    anna, _annabel, bob, _twin = users
    alpha_channel = db.session.get(Channel, tenant_ids_raw(Channel, anna.workspace_id)[0])
    factory.identity(anna, alpha_channel, "7911111@c.us")
    factory.identity(bob, alpha_channel, "7922222@c.us")
    auth.login("alpha-manager")
    page = client.get("/chatidentityview/list/?_flt_0_linked_user=bob").get_data(as_text=True)
    assert "7922222@c.us" in page and "7911111@c.us" not in page


# --- the trigram indexes (migration 0022) -----------------------------------------------------

def _migration():
    path = ROOT / "migrations" / "versions" / "0022_trigram_search_indexes.py"
    spec = importlib.util.spec_from_file_location("migration_0022", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app_context(app):
    with app.app_context():
        yield


def _postgresql() -> bool:
    return db.engine.dialect.name == "postgresql"


def test_contains_filters_have_trigram_indexes(app_context):
    if not _postgresql():  # the embedded backend: migration 0022 creates none on SQLite
        pytest.skip("trigram indexes are PostgreSQL's")
    names = {row[0] for row in db.session.execute(sa.text(
        "SELECT indexname FROM pg_indexes WHERE indexname LIKE '%\\_trgm'"))}
    wanted = {f"ix_{table}_{column}_trgm" for table, columns
              in _migration().TRIGRAM_COLUMNS.items() for column in columns}
    assert wanted and wanted <= names, wanted - names
    # a test table is tiny, so the planner would scan it: forbid that to see the index serve
    db.session.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(row[0] for row in db.session.execute(sa.text(
        "EXPLAIN SELECT id FROM command_log WHERE text ILIKE '%refill 4242%'")))
    db.session.rollback()
    assert "ix_command_log_text_trgm" in plan, plan  # no other index holds the text


def test_migration_goes_on_without_pg_trgm(app_context, caplog):
    if not _postgresql():  # the embedded backend: migration 0022 creates none on SQLite
        pytest.skip("trigram indexes are PostgreSQL's")
    from alembic.migration import MigrationContext
    from alembic.operations import Operations

    migration = _migration()
    migration.EXTENSION = "relaydesk_no_such_extension"
    created = []
    with db.engine.connect() as connection:
        transaction = connection.begin()
        try:
            context = MigrationContext.configure(connection)
            with Operations.context(context):
                real_execute = migration.op.execute
                migration.op.execute = lambda sql, *a, **k: created.append(sql)
                try:
                    with caplog.at_level("WARNING"):
                        migration.upgrade()
                finally:
                    migration.op.execute = real_execute
            # the transaction is still usable after the refused CREATE EXTENSION
            assert connection.execute(sa.text("SELECT 1")).scalar() == 1
        finally:
            transaction.rollback()
    assert created == []
    assert "trigram indexes" in caplog.text and "skipped" in caplog.text
