"""Issue 15: log screens render and filter correctly with many rows, in a real browser.

Workspace A holds 2,600 handled commands over two channels and 40 linked users (outcomes in
turn, a second apart), plus 1,300 outbound messages; workspace B 300 commands of its own. A
manager of A opens Logs › Commands and Logs › Outbound messages and, the way a person does
(the Search panel's "Add filter" menu, typed values, the pager), checks that every page and
every filter shows exactly the rows the database holds for it: the record count, the rows of
the page, the last page, and never one of B's rows. No page logs a JavaScript error.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import insert

from app.extensions import db
from app.models import CommandLog, InboundEvent, LinkedUser, OutboundMessage
from app.models.base import utcnow
from tests.browser.matrix import PageWatch
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

COMMANDS, B_COMMANDS, MESSAGES, USERS = 2600, 300, 1300, 40
OUTCOMES = ("dispatched", "refused", "not_linked", "ignored")
PAGE = 25


def _seed(workspace, channels, n: int, tag: str, users: list[int]):
    """`n` handled commands, a second apart, the newest a minute ago; their first moment."""
    start = utcnow().replace(microsecond=0) - timedelta(seconds=n + 60)
    events = db.session.execute(insert(InboundEvent).returning(InboundEvent.id), [
        {"workspace_id": workspace.id, "channel_id": channels[i % len(channels)].id,
         "platform": "greenapi", "kind": "message", "type": "incomingMessageReceived",
         "dedupe_key": f"{tag}-{i}", "chat_id": f"7900{i % 500}@c.us", "is_group": False,
         "from_me": False, "from_bot": False, "text": f"refill {6000000 + i}",
         "received_at": start + timedelta(seconds=i), "payload": {}, "state": "done",
         "attempts": 1} for i in range(n)]).scalars().all()
    db.session.execute(insert(CommandLog), [
        {"workspace_id": workspace.id, "inbound_event_id": event_id,
         "channel_id": channels[i % len(channels)].id, "chat_id": f"7900{i % 500}@c.us",
         "linked_user_id": users[i % len(users)] if users else None,
         "text": f"refill {6000000 + i}", "actions": "refill", "order_ids": str(6000000 + i),
         "state": "done", "outcome": OUTCOMES[i % 4], "trace": [],
         "created_at": start + timedelta(seconds=i)} for i, event_id in enumerate(events)])
    db.session.commit()
    return start


@pytest.fixture
def busy(factory):
    a = factory.workspace("busy", name="Busy Shop")
    factory.member(a, "busy-manager", "manager")
    channels = [factory.channel(a, name="Main WhatsApp"), factory.channel(a, name="Second bot",
                                                                          kind="telegram")]
    users = db.session.execute(insert(LinkedUser).returning(LinkedUser.id), [
        {"workspace_id": a.id, "username": f"customer{n:02d}", "language": "en",
         "opted_out": False} for n in range(USERS)]).scalars().all()
    first = _seed(a, channels, COMMANDS, "a", users)
    start = utcnow() - timedelta(hours=1)
    db.session.execute(insert(OutboundMessage), [
        {"workspace_id": a.id, "channel_id": channels[0].id, "idempotency_key": f"m-{i}",
         "purpose": "reply", "chat_id": f"7900{i % 500}@c.us", "text": f"answer {i}",
         "parts_total": 1, "parts_sent": 1, "platform_message_ids": [],
         "state": ("sent", "sent", "failed")[i % 3], "attempts": 1,
         "created_at": start + timedelta(seconds=i)} for i in range(MESSAGES)])
    b = factory.workspace("quiet", name="Quiet Shop")
    _seed(b, [factory.channel(b, name="Main WhatsApp")], B_COMMANDS, "b", [])
    return a, channels, users, first


def record_count(page) -> int:
    """The count the list shows beside its pager."""
    text = page.locator(".pagination-container, .well, body").first.inner_text()
    found = re.search(r"Record Count:\s*([\d,]+)", text)
    assert found, text[-500:]
    return int(found.group(1).replace(",", ""))


def shown_orders(page) -> list[str]:
    rows = page.locator("table.table-hover tbody tr").all_inner_texts()
    return re.findall(r"refill (\d{7})", "\n".join(rows))


def add_filter(page, column: str) -> None:
    """Search › Add filter › `column`, as a person opens it."""
    if not page.locator("#filter_form").is_visible():
        page.get_by_text("Search", exact=True).first.click()
    page.locator("#filter_form button.dropdown-toggle").click()
    page.locator(f"#filter_form a.filter[name={column}]").click()


def apply(page) -> None:
    page.locator("#filter_form button[type=submit]").click()
    page.wait_for_load_state()


def test_command_and_outbound_lists_page_and_filter_exactly(browser, live_server, busy):
    a, channels, users, first_moment = busy
    context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    watch = PageWatch(context)
    page = context.new_page()
    try:
        sign_in(page, "busy-manager")
        page.goto("/commandlogview/list/")
        assert record_count(page) == COMMANDS
        newest = COMMANDS - 1
        assert shown_orders(page) == [str(6000000 + i) for i in range(newest, newest - PAGE, -1)]

        # the pager's last page: the oldest rows, none of B's
        page.locator(".pagination a", has_text="»").last.click()
        page.wait_for_load_state()
        assert shown_orders(page) == [str(6000000 + i) for i in range(PAGE - 1, -1, -1)]

        # Outcome, through the filter menu: exactly the refused quarter
        page.goto("/commandlogview/list/")
        add_filter(page, "outcome")
        page.locator("#filter_form .filter_val[name$=_outcome]").fill("refused")
        apply(page)
        assert record_count(page) == COMMANDS // 4
        assert all(int(o) % 4 == 1 for o in shown_orders(page))

        # Channel, username, order id and time range, as the filter menu writes them
        expectations = {
            f"_flt_0_channel={channels[1].id}": COMMANDS // 2,
            "_flt_0_linked_user=customer07": COMMANDS // USERS,  # the username, typed
            "_flt_0_order_ids=6001234": 1,
        }
        for query, count in expectations.items():
            page.goto(f"/commandlogview/list/?{query}")
            assert record_count(page) == count, query
        # "Received greater than": the last 100 commands (the one at the moment itself not)
        since = (first_moment + timedelta(seconds=COMMANDS - 101)).strftime("%Y-%m-%d %H:%M:%S")
        page.goto(f"/commandlogview/list/?_flt_1_created_at={since}")
        assert record_count(page) == 100

        # Outbound messages: the failed third, then a chat
        page.goto("/outboundmessageview/list/")
        assert record_count(page) == MESSAGES
        page.goto("/outboundmessageview/list/?_flt_0_state=failed")
        assert record_count(page) == len([i for i in range(MESSAGES) if i % 3 == 2])
        page.goto("/outboundmessageview/list/?_flt_0_chat_id=790042@c.us")
        assert record_count(page) == len([i for i in range(MESSAGES) if i % 500 == 42])
        assert not watch.take()
    finally:
        context.close()
