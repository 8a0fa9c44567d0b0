"""Issue 15: a new manager follows the onboarding checklist from an empty workspace to a working
command in the Playground, in a real browser, against a real server and a real RQ worker.

Each step starts from the home page's "Next step" button (the checklist's own link), completes
the screen it opens the way a person does (forms with CSRF on, select2 dropdowns, action
buttons), and comes back to see the item ticked: the Green API channel (the fake phone is
linked), the Perfect Panel connection tested, a provider routed to its group, a customer linked
to their chat, a service rule, then the Playground: first a dry run (nothing leaves), then "Send
for real", handled by a `flask worker` process, whose messages reach the fake Green API: the
command to the provider's group and the reply to the customer. The checklist ends at 6 of 6.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time

import pytest

from app.config import TestConfig
from tests.browser.matrix import PageWatch
from tests.browser.support import sign_in
from tests.browser.test_provider_routes import choose
from tests.integration.catalogue_support import ROOT, process_env
from tests.processes import stop

pytestmark = pytest.mark.browser

CUSTOMER_CHAT = "79001234567@c.us"
PROVIDER_GROUP = "120363555555555555@g.us"
ORDER = 2274209


@contextlib.contextmanager
def worker(tmp_path, log_path):
    """A real `flask worker` on the test session's database and Redis (every queue)."""
    env = process_env(ROOT / "translations", tmp_path / "worker-instance")
    env["OUTBOUND_ALLOW_PRIVATE"] = TestConfig.OUTBOUND_ALLOW_PRIVATE  # the local fakes
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "run", "worker", "--no-scheduler"],
        cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield process
    finally:
        stop(process)
        log_file.close()


def progress(page) -> str:
    page.goto("/")
    return page.locator("#setup-progress").inner_text()


def next_step(page, key: str) -> None:
    """Follow the home page's "Next step" button, which must point at `key`."""
    page.goto("/")
    box = page.locator("#next-step")
    assert box.get_attribute("data-step") == key, page.locator("#setup-checklist").inner_text()
    box.locator("a").click()
    page.wait_for_load_state()


def add_from_list(page) -> None:
    """The list page's "add" button, as a person finds it."""
    page.locator("a[href*='/add']").first.click()
    page.wait_for_load_state()


def save(page) -> None:
    page.locator("#model_form").locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()
    errors = page.locator("#model_form .text-danger, #model_form .has-error").all_inner_texts()
    assert not errors, errors


def run_action(page, name: str) -> None:
    """A one-row action button on the show page (no confirmation for these)."""
    page.locator(f"a[id^='btn-action-'][id$='-{name}']").first.click()
    page.wait_for_load_state()


def pick_channel(page) -> None:
    """The Playground's channel select, by the name the manager gave it."""
    option = page.locator("select[name=channel_id] option", has_text="Support WhatsApp")
    page.locator("select[name=channel_id]").select_option(option.get_attribute("value"))


def ticked(page, key: str) -> bool:
    page.goto("/")
    return page.locator(f'#setup-checklist [data-step="{key}"] .fa-check-square-o').count() == 1


def test_from_an_empty_workspace_to_a_working_command(
        browser, live_server, factory, fake_greenapi, fake_perfectpanel, artifacts_dir,
        tmp_path):
    workspace = factory.workspace("newcomer", "Newcomer Panel")
    manager = factory.member(workspace, "newcomer-manager", "manager")
    fake_perfectpanel.add_order(ORDER, user="alice", provider="smmrush.com",
                                external_id="EXT-88231")
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    watch = PageWatch(context)
    page = context.new_page()
    try:
        sign_in(page, manager.username)
        assert progress(page) == "0 of 6 done"

        # 1. A Green API channel; its connection test passes once the phone is linked.
        next_step(page, "channel")
        assert "/channelview/list/" in page.url
        add_from_list(page)
        page.locator("a.channel-platform[data-kind=greenapi]").click()
        page.wait_for_load_state()
        page.fill("#name", "Support WhatsApp")
        page.fill("#api_url", fake_greenapi.url)
        page.fill("#id_instance", fake_greenapi.id_instance)
        page.fill("#api_token", fake_greenapi.api_token)
        save(page)
        page.goto("/channelview/list/")
        page.locator("table tbody tr", has_text="Support WhatsApp").locator(
            "a[href*='/channelview/show/']").first.click()
        page.wait_for_load_state()
        run_action(page, "test_connection")
        assert ticked(page, "channel")

        # 2. The panel: its address and admin key, then Test connection.
        next_step(page, "panel")
        assert "/panelconnectionview/list/" in page.url
        add_from_list(page)
        choose(page, "panel_type", "Perfect Panel")
        page.fill("#url", fake_perfectpanel.url)
        page.fill("#api_key", fake_perfectpanel.api_key)
        save(page)
        page.locator("a[href*='/panelconnectionview/show/']").first.click()
        page.wait_for_load_state()
        run_action(page, "test_panel")
        assert page.locator(".alert-success").count() >= 1, page.locator(".alert").all_inner_texts()
        assert progress(page) == "2 of 6 done"

        # 3. A provider, then its route to the provider's WhatsApp group.
        next_step(page, "routes")
        assert "/providerrouteview/list/" in page.url
        page.goto("/providerview/add")
        page.fill("#name", "SMM Rush")
        page.fill("#domains", "smmrush.com")
        save(page)
        page.goto("/providerrouteview/add")
        choose(page, "provider", "SMM Rush")
        choose(page, "channel", "Support WhatsApp")
        page.fill("#chat_id", PROVIDER_GROUP)
        save(page)
        assert ticked(page, "routes")

        # 4. The customer: a linked user and the chat that speaks for them.
        next_step(page, "linked_user")
        assert "/linkeduserview/list/" in page.url
        add_from_list(page)
        page.fill("#username", "alice")
        save(page)
        page.goto("/chatidentityview/add")
        choose(page, "linked_user", "alice")
        choose(page, "channel", "Support WhatsApp")
        page.fill("#chat_id", CUSTOMER_CHAT)
        save(page)
        assert ticked(page, "linked_user")

        # 5. The Playground: a dry run first (nothing leaves, nothing is ticked) ...
        next_step(page, "test_command")
        assert "/playground/" in page.url
        pick_channel(page)
        page.fill("input[name=chat_id]", CUSTOMER_CHAT)
        page.fill("textarea[name=text]", f"{ORDER} refill")
        page.locator("#playground-submit").click()
        page.wait_for_selector("#playground-dry-run")
        assert "EXT-88231 refill" in page.locator(".playground-dispatch").inner_text()
        assert f"{ORDER}" in page.locator("#playground-reply").inner_text()
        assert fake_greenapi.sent == []
        assert not ticked(page, "test_command")

        # ... then for real, handled by a worker process: the provider's group gets the command
        # and the customer the reply.
        with worker(tmp_path, artifacts_dir / "onboarding-worker.log") as process:
            page.goto("/playground/")
            pick_channel(page)
            page.fill("input[name=chat_id]", CUSTOMER_CHAT)
            page.fill("textarea[name=text]", f"{ORDER} refill")
            page.locator("#for-real").check()
            page.locator("#playground-submit").click()
            page.wait_for_selector("#playground-real")
            page.wait_for_selector("#playground-outcome", timeout=60_000)  # refreshes itself
            assert "EXT-88231 refill" in page.locator(".playground-dispatch").inner_text()
            deadline = time.monotonic() + 30
            while len(fake_greenapi.sent) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert process.poll() is None
        sent = {m["chatId"]: m["message"] for m in fake_greenapi.sent}
        assert sent[PROVIDER_GROUP] == "EXT-88231 refill"
        assert str(ORDER) in sent[CUSTOMER_CHAT]
        assert ticked(page, "test_command")

        # 6. Advanced service rules: one rule of the panel's service.
        next_step(page, "service_rules")
        assert "/serviceruleview/list/" in page.url
        add_from_list(page)
        page.fill("#service_id", "1")
        choose(page, "refill_kind", "Refill for a number of days")
        page.fill("#refill_days", "30")
        save(page)
        assert progress(page) == "6 of 6 done"
        assert page.locator("#next-step").get_attribute("data-step") == "playground"
        assert not watch.take()
    finally:
        context.close()
