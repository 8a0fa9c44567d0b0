"""The panel ticket workflow in a real browser: a manager adds a subject rule (words that are
too short are refused beside the field, what was typed is kept), turns the workflow on in
Settings (a poll interval under 5 seconds is refused), a poll answers a customer's ticket on the
fake Perfect Panel, and Logs › Panel tickets lists it, filters it and shows its reply and
trace. No page may log a JavaScript error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs import tickets
from app.jobs.workspace_config import forget
from app.models import TicketRule, WorkspaceSettings
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.integration.pipeline_support import build_desk, seed_refill_order

pytestmark = pytest.mark.browser

SUBMIT = "#model_form button[type=submit], #model_form input[type=submit]"


def _menu(page, category: str, entry: str) -> None:
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text=category).click()
    page.locator(".navbar a", has_text=entry).first.click()
    page.wait_for_load_state()


def test_manager_sets_up_ticket_rules_and_reads_the_activity(new_page, app, factory,
                                                             redis_conn, fake_perfectpanel,
                                                             artifacts_dir):
    desk = build_desk(factory, fake_perfectpanel.url)
    factory.member(desk.workspace, "tickets-manager", "manager")
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "tickets-manager")

    _menu(page, "Routing", "Ticket rules")
    assert "/ticketruleview/list/" in page.url
    page.locator("a[href*='/ticketruleview/add']").first.click()
    page.wait_for_load_state()
    page.fill("#name", "Where is my order")
    page.fill("#position", "10")
    page.fill("#message_words", "ok, a")
    page.select_option("#action", "details")
    page.locator(SUBMIT).first.click()
    page.wait_for_load_state()
    assert "/ticketruleview/add" in page.url
    assert "too short" in page.content()
    assert page.input_value("#name") == "Where is my order"
    page.fill("#message_words", "where is my order, где мой заказ")
    page.locator(SUBMIT).first.click()
    page.wait_for_load_state()
    db.session.expire_all()
    (rule,) = db.session.query(TicketRule).all()
    assert rule.workspace_id == desk.workspace.id and rule.action == "details"
    assert "где мой заказ" in page.content()
    page.screenshot(path=str(artifacts_dir / "ticket-rules.png"), full_page=True)

    settings = db.session.query(WorkspaceSettings).one()
    page.goto(f"/workspacesettingsview/edit/{settings.id}")
    page.check("#tickets_enabled")
    page.fill("#ticket_poll_seconds", "2")
    page.locator(SUBMIT).first.click()
    page.wait_for_load_state()
    assert "/workspacesettingsview/edit" in page.url and "from 5 to 86400" in page.content()
    page.check("#tickets_enabled")
    page.fill("#ticket_poll_seconds", "30")
    page.locator(SUBMIT).first.click()
    page.wait_for_load_state()
    db.session.expire_all()
    settings = db.session.query(WorkspaceSettings).one()
    assert settings.tickets_enabled and settings.ticket_poll_seconds == 30

    seed_refill_order(fake_perfectpanel, "2274209", "EXT-88231")
    fake_perfectpanel.add_ticket(user="alice", subject="Order - Refill",
                                 messages=[("alice", "2274209 please refill")])
    fake_perfectpanel.add_ticket(user="bob", subject="Question",
                                 messages=[("bob", "Where is my order 5550001?")])
    forget()
    summary = tickets.poll_workspace(desk.workspace.id)
    assert summary["answered"] == 2, summary

    _menu(page, "Logs", "Panel tickets")
    assert "/ticketactivityview/list/" in page.url
    content = page.content()
    assert "alice" in content and "bob" in content and "Answered" in content
    page.goto("/ticketactivityview/list/?_flt_0_username=alice")
    rows = page.locator("table tbody tr")
    assert rows.filter(has_text="alice").count() == 1
    assert rows.filter(has_text="bob").count() == 0
    page.locator("a[href*='/ticketactivityview/show/']").first.click()
    page.wait_for_load_state()
    shown = page.content()
    assert "2274209 please refill" in shown and "default: refill" in shown
    page.screenshot(path=str(artifacts_dir / "panel-ticket-activity.png"), full_page=True)
    assert not errors, errors
