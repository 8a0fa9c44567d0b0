"""The platform support queue in a real browser: a workspace's manager opens a ticket from
Support tools › Platform support, the master admin finds it in Master admin › Support queue,
writes an internal note and answers, and the manager reads the answer (not the note) and
closes the ticket. No page may log a JavaScript error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import SupportTicket
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console

pytestmark = pytest.mark.browser


@pytest.fixture
def people(app, factory, redis_conn):
    workspace = factory.workspace("helpme", name="Helpme Panel")
    factory.member(workspace, "help-manager", "manager")
    factory.admin("help-root")
    return workspace.id


def _menu(page, category: str, entry: str) -> None:
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text=category).click()
    page.locator(".navbar a", has_text=entry).click()
    page.wait_for_load_state()


def test_manager_opens_a_ticket_and_reads_the_platforms_answer(new_page, people,
                                                                artifacts_dir):
    manager = new_page()
    manager_errors = watch_console(manager)
    sign_in(manager, "help-manager")
    _menu(manager, "Support tools", "Platform support")
    assert "/supportticketview/list/" in manager.url
    manager.locator("a[href*='/supportticketview/add']").first.click()
    manager.wait_for_load_state()
    # a message left empty is refused beside its field, the subject typed is kept
    manager.fill("#subject", "Replies stopped on WhatsApp")
    manager.locator("#model_form button[type=submit], #model_form input[type=submit]"
                    ).first.click()
    manager.wait_for_load_state()
    if "/supportticketview/add" in manager.url:  # the browser's own check, or the server's
        assert manager.input_value("#subject") == "Replies stopped on WhatsApp"
    manager.fill("#message", "Since 9:00 customers get no answer.\nChannel: Main line.")
    manager.locator("#model_form button[type=submit], #model_form input[type=submit]"
                    ).first.click()
    manager.wait_for_load_state()
    assert "/supportticketview/show/" in manager.url
    assert "the platform team answers here" in manager.locator(".alert-success").inner_text()
    db.session.expire_all()
    ticket = db.session.query(SupportTicket).one()
    assert ticket.workspace_id == people and ticket.status == "open"
    manager.screenshot(path=str(artifacts_dir / "support-ticket-opened.png"), full_page=True)
    assert not manager_errors, manager_errors

    admin = new_page()
    admin_errors = watch_console(admin)
    sign_in(admin, "help-root")
    _menu(admin, "Master admin", "Support queue")
    assert "Replies stopped on WhatsApp" in admin.content() and "Helpme Panel" in admin.content()
    admin.locator(f"a[href*='/supportqueueview/show/{ticket.id}']").first.click()
    admin.wait_for_load_state()
    admin.fill("#body", "Customer on the old plan: check the webhook.")
    admin.check("#internal")
    admin.locator("#support-reply button[type=submit]").click()
    admin.wait_for_load_state()
    assert "Internal note added." in admin.locator(".alert-success").inner_text()
    admin.fill("#body", "Your Green API instance was logged out: scan the QR code again.")
    admin.locator("#support-reply button[type=submit]").click()
    admin.wait_for_load_state()
    assert "Reply sent." in admin.locator(".alert-success").inner_text()
    thread = admin.locator("#support-thread").inner_text()
    assert "check the webhook" in thread and "scan the QR code again" in thread
    admin.screenshot(path=str(artifacts_dir / "support-queue-ticket.png"), full_page=True)
    assert not admin_errors, admin_errors

    manager.reload()
    manager.wait_for_load_state()
    thread = manager.locator("#support-thread").inner_text()
    assert "scan the QR code again" in thread and "Since 9:00 customers get no answer" in thread
    assert "check the webhook" not in manager.content()
    assert "Answered" in manager.content()
    manager.locator("#support-status button[value=closed]").click()
    manager.wait_for_load_state()
    assert "Ticket closed." in manager.locator(".alert-success").inner_text()
    assert manager.locator("#support-reply").count() == 0
    assert manager.locator("#support-status button[value=open]").count() == 1
    db.session.expire_all()
    assert db.session.query(SupportTicket).one().status == "closed"
    manager.screenshot(path=str(artifacts_dir / "support-ticket-answered.png"), full_page=True)
    assert not manager_errors, manager_errors
