"""Issue 11, channel set-up in a real browser: a new manager adds a Green API channel through the
platform chooser, copies the webhook URL, sees the QR code until the (fake) phone links the
instance, then "Authorized"; adds a Telegram bot and sees its name and the privacy-mode hint.
No page logs a JavaScript error. Screenshots go to test-artifacts/ (and SHOTS_DIR when set).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.models import Channel
from tests.browser.test_provider_routes import sign_in
from tests.factories import password_for

pytestmark = pytest.mark.browser


def watch_console(page) -> list[str]:
    """Every JavaScript error the page logs or throws, and every failed request, collected as
    they happen (a failed request is also logged to the console, without its URL)."""
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("response", lambda response: errors.append(
        f"HTTP {response.status}: {response.url}") if response.status >= 400 else None)
    # The browser's own favicon request (not made by these pages, and not reported as a page
    # response) is another screen's business: it is answered here so that every console error
    # left is one of these pages'.
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204, body=""))
    return errors


def shoot(page, artifacts_dir: Path, name: str) -> None:
    page.screenshot(path=str(artifacts_dir / f"channel-setup-{name}.png"), full_page=True)
    extra = os.environ.get("SHOTS_DIR")
    if extra:
        page.screenshot(path=str(Path(extra) / f"{name}.png"), full_page=True)


def channel_id(factory, name: str) -> int:
    from app.extensions import db

    db.session.expire_all()
    return db.session.query(Channel.id).filter_by(name=name).scalar()


@pytest.fixture
def new_manager(factory):
    workspace = factory.workspace("fresh", "Fresh Panel")
    return factory.member(workspace, "fresh-manager", "manager").username


def test_manager_sets_up_green_api_and_telegram(new_page, new_manager, factory, fake_greenapi,
                                                fake_telegram, artifacts_dir, live_server):
    fake_greenapi.state = "notAuthorized"
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    errors = watch_console(page)
    sign_in(page, new_manager, password_for(new_manager))

    # The chooser: one card per platform, then only Green API's fields.
    page.goto("/channelview/add")
    cards = page.locator("#channel-platforms a.channel-platform")
    assert cards.count() == 4
    shoot(page, artifacts_dir, "1-chooser")
    page.locator("a.channel-platform[data-kind=greenapi]").click()
    page.wait_for_load_state()
    assert page.url.endswith("/channelview/add?kind=greenapi")
    form = page.locator("#model_form")
    for absent in ("bot_token", "phone_number_id", "access_token", "api_base"):
        assert form.locator(f"[name={absent}]").count() == 0, absent
    assert "apiTokenInstance" in form.inner_text()
    assert "Leave blank to keep the current value" not in form.inner_text()
    form.locator("#name").fill("Main WhatsApp")
    form.locator("#api_url").fill(fake_greenapi.url)
    form.locator("#id_instance").fill(fake_greenapi.id_instance)
    form.locator("#api_token").fill(fake_greenapi.api_token)
    shoot(page, artifacts_dir, "2-green-form")
    form.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()
    green_id = channel_id(factory, "Main WhatsApp")
    assert green_id, page.content()[:3000]

    # The show page: the webhook URL with a working copy button, and the QR code.
    page.goto(f"/channelview/show/{green_id}")
    url_box = page.locator("#webhook-url")
    assert url_box.input_value() == f"{live_server}/webhooks/greenapi"
    page.locator("#copy-webhook-url").click()
    page.locator("#copy-webhook-url", has_text="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == f"{live_server}/webhooks/greenapi"
    state = page.locator("#channel-state")
    state.locator("[data-field=state_label]", has_text="Not authorized").wait_for()
    qr = page.locator("#channel-qr")
    qr.wait_for(state="visible")
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    assert page.evaluate("document.getElementById('channel-qr').naturalWidth") > 0
    shoot(page, artifacts_dir, "3-green-qr")

    # The phone scans the code: the next check says authorized and the QR goes away.
    fake_greenapi.authorize()
    page.locator("#channel-state-refresh").click()
    state.locator("[data-field=state_label]", has_text="Authorized").wait_for()
    qr.wait_for(state="hidden")
    page.reload()
    state.locator("[data-field=state_label]", has_text="Authorized").wait_for()
    assert not qr.is_visible()
    shoot(page, artifacts_dir, "4-green-authorized")

    # A Telegram bot through the chooser: its name and the privacy-mode hint.
    page.goto("/channelview/add")
    page.locator("a.channel-platform[data-kind=telegram]").click()
    page.wait_for_load_state()
    form = page.locator("#model_form")
    assert form.locator("[name=api_url]").count() == 0
    assert "@BotFather" in form.inner_text()
    form.locator("#name").fill("Support bot")
    form.locator("#bot_token").fill(fake_telegram.token)
    form.locator("#api_base").fill(fake_telegram.url)
    form.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()
    bot_id = channel_id(factory, "Support bot")
    assert bot_id, page.content()[:3000]
    page.goto(f"/channelview/show/{bot_id}")
    assert page.locator("#webhook-url").input_value() == \
        f"{live_server}/webhooks/telegram/{fake_telegram.bot_id}"
    state = page.locator("#channel-state")
    state.locator("[data-field=bot_name]", has_text="Relaydesk").wait_for()
    assert state.locator("[data-field=username]").inner_text() == "@relaydesk_test_bot"
    hint = page.locator("#privacy-hint")
    hint.wait_for(state="visible")
    assert "/setprivacy" in hint.inner_text() and "alert-warning" in hint.get_attribute("class")
    shoot(page, artifacts_dir, "5-telegram")

    # The edit page names the platform and shows only its fields.
    page.goto(f"/channelview/edit/{bot_id}")
    form = page.locator("#model_form")
    assert form.locator("[name=bot_token]").count() == 1
    assert form.locator("[name=api_token], [name=kind]:not([type=hidden])").count() == 0
    assert "Telegram bot" in page.locator("#channel-platform").inner_text()
    shoot(page, artifacts_dir, "6-telegram-edit")

    assert errors == [], errors


def test_chooser_and_live_state_in_arabic(new_page, new_manager, factory, fake_telegram,
                                          artifacts_dir):
    """Right to left and translated: the chooser's cards, the state panel's words (which come
    from the server in the member's language), the webhook URL kept left to right."""
    workspace = factory.workspace("rtl", "RTL Panel")
    manager = factory.member(workspace, "rtl-manager", "manager").username
    bot = factory.channel(workspace, kind="telegram", name="Bot", bot_token=fake_telegram.token,
                          api_base=fake_telegram.url)
    page = new_page()
    errors = watch_console(page)
    sign_in(page, manager, password_for(manager))
    page.goto("/lang/ar")
    page.goto("/channelview/add")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert "اختر المنصة" in page.locator(".panel-title").first.inner_text()
    assert "بوت تيليجرام" in page.locator("a.channel-platform[data-kind=telegram]").inner_text()
    shoot(page, artifacts_dir, "7-chooser-ar")
    page.goto(f"/channelview/show/{bot.id}")
    page.locator("#privacy-hint", has_text="وضع الخصوصية مفعّل").wait_for()
    assert page.locator("#webhook-url").get_attribute("dir") == "ltr"
    shoot(page, artifacts_dir, "8-telegram-ar")
    assert errors == [], errors
