"""Logs in a real browser: a manager opens Logs › Commands, adds the "Orders" filter and types an
order id, sees only that command, opens it and reads its plain-language trace, then goes back
and exports the filtered list as CSV (only that command's row, in the manager's workspace). No
page may log a JavaScript error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import csv
import io

import pytest

from app.extensions import db
from app.models import CommandLog, InboundEvent
from app.models.base import utcnow
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.tenancy_helpers import make_row, tenant_ids_raw

pytestmark = pytest.mark.browser


def _command(workspace_id: int, channel_id: int, order: str, tag: str) -> None:
    trace = [{"step": "rule", "ms": 3.0, "order": order, "action": "refill",
              "status": "Pending", "service": "TikTok Views", "terms": "none",
              "verdict": "refill_not_covered", "detail": {"refill_kind": "none"}}]
    db.session.add(CommandLog(
        workspace_id=workspace_id, inbound_event_id=make_row(InboundEvent, workspace_id, tag),
        channel_id=channel_id, chat_id=f"{tag}@c.us", text=f"refill {order}", order_ids=order,
        actions="refill", outcome="refused", state="done", trace=trace, created_at=utcnow()))
    db.session.commit()


@pytest.fixture
def logs(factory):
    shop = factory.workspace("logshop", name="Log Shop")
    factory.member(shop, "log-manager", "manager")
    channel = factory.channel(shop, name="WhatsApp")
    other = factory.workspace("othershop", name="Other Shop")
    other_channel = factory.channel(other, name="WhatsApp")
    for n in range(30):
        _command(shop.id, channel.id, f"{5100000 + n}", f"shop{n}")
    _command(other.id, other_channel.id, "5100007", "other")
    assert tenant_ids_raw(CommandLog, shop.id)
    return shop.id


def test_manager_filters_commands_by_order_reads_the_trace_and_exports(new_page, logs,
                                                                        artifacts_dir):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "log-manager")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Logs").click()
    page.locator(".navbar a[href='/commandlogview/list/']").click()
    page.wait_for_load_state()
    assert "/commandlogview/list/" in page.url
    page.get_by_text("Search", exact=True).first.click()
    page.locator("#filter_form button.dropdown-toggle").click()
    page.locator("#filter_form a.filter[name=order_ids]").click()
    # the first operation offered, "Starts with": the order ids are all 7 digits long
    page.locator("#filter_form .filter_val[name$=_order_ids]").fill("5100007")
    page.locator("#filter_form button[type=submit]").click()
    page.wait_for_load_state()
    assert "_order_ids=5100007" in page.url
    rows = page.locator("table.table-hover tr", has_text="refill 51")
    assert rows.count() == 1
    assert "refill 5100007" in rows.first.inner_text()
    page.screenshot(path=str(artifacts_dir / "logs-filtered.png"), full_page=True)

    with page.expect_download() as download_info:
        page.locator("a.relaydesk-export-csv").click()
    download = download_info.value
    assert download.suggested_filename == "command_log.csv"
    table = list(csv.reader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    header, body = table[0], table[1:]
    assert "text" in header and len(body) == 1
    assert body[0][header.index("text")] == "refill 5100007"

    rows.first.locator("a[href*='/commandlogview/show/']").first.click()
    page.wait_for_load_state()
    trace = page.locator("ol.rd-trace").inner_text()
    assert "Order 5100007 (refill)" in trace and "Decision: refused" in trace
    page.screenshot(path=str(artifacts_dir / "logs-trace.png"), full_page=True)
    assert errors == []
