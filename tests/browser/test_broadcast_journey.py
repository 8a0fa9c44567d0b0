"""Broadcasts in a real browser: a manager writes one from Communication › Broadcasts (a
wrong placeholder is refused beside the field, what was typed kept), picks the audience with
the pickers, starts it, and watches its page count up to done by itself (no reload by hand)
while the runner sends; the recipients' list shows each status. No page may log a JavaScript
error. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs import broadcasts as runner
from app.jobs import workspace_config
from app.models import Broadcast
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console

pytestmark = pytest.mark.browser


@pytest.fixture
def shop(app, factory, redis_conn, fake_greenapi):
    workspace = factory.workspace("castshop", name="Cast Shop")
    factory.member(workspace, "cast-manager", "manager")
    channel = factory.channel(workspace, kind="greenapi", name="WhatsApp",
                              api_url=fake_greenapi.url, id_instance=fake_greenapi.id_instance,
                              api_token=fake_greenapi.api_token)
    for n, (name, language) in enumerate([("ana", "es"), ("bruno", "pt_BR"), ("carl", "en")]):
        user = factory.linked_user(workspace, username=name, language=language)
        factory.identity(user, channel, chat_id=f"7911100000{n}@c.us")
    workspace_config.forget()
    return workspace.id


def _pick(page, select: str, values: list[str]) -> None:
    """Choose options of a Select2 multiple picker as a person would: type, press Enter."""
    for value in values:
        page.locator(f"#s2id_{select} input, #{select} + .select2 input").first.click()
        page.keyboard.type(value)
        page.keyboard.press("Enter")


def test_manager_writes_starts_and_watches_a_broadcast(new_page, shop, artifacts_dir,
                                                       fake_greenapi):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, "cast-manager")
    page.goto("/")
    page.locator(".navbar a.dropdown-toggle", has_text="Communication").click()
    page.locator(".navbar a", has_text="Broadcasts").click()
    page.wait_for_load_state()
    assert "/broadcastview/list/" in page.url
    page.locator("a[href*='/broadcastview/add']").first.click()
    page.wait_for_load_state()
    page.fill("#name", "Summer prices")
    page.fill("#text", "Hola {user}!")
    page.locator("#model_form button[type=submit], #model_form input[type=submit]"
                 ).first.click()
    page.wait_for_load_state()
    assert "Unknown placeholder" in page.content()
    assert page.input_value("#name") == "Summer prices"
    page.fill("#text", "Hola {username}, new prices!")
    _pick(page, "languages", ["Español", "Português"])
    page.locator("#model_form button[type=submit], #model_form input[type=submit]"
                 ).first.click()
    page.wait_for_load_state()
    db.session.expire_all()
    broadcast = db.session.query(Broadcast).one()
    assert broadcast.languages == "es,pt_BR" and broadcast.status == "draft"

    page.goto(f"/broadcastview/show/{broadcast.id}")
    page.locator("#broadcast-start").click()
    page.wait_for_load_state()
    assert "The broadcast started." in page.locator(".alert-success").inner_text()
    page.screenshot(path=str(artifacts_dir / "broadcast-running.png"), full_page=True)
    runner.run_workspace(shop)  # the worker's part
    # the page refreshes its figures by itself and reloads once the status changed
    page.locator("#broadcast-progress[data-status=done]").wait_for(timeout=30_000)
    assert page.locator("[data-field=sent]").inner_text() == "2"
    assert page.locator("[data-field=remaining]").inner_text() == "0"
    assert sorted(m["message"] for m in fake_greenapi.sent) == [
        "Hola ana, new prices!", "Hola bruno, new prices!"]
    recipients = page.content()
    assert "ana" in recipients and "bruno" in recipients and "carl" not in recipients
    page.screenshot(path=str(artifacts_dir / "broadcast-done.png"), full_page=True)
    assert not errors, errors
