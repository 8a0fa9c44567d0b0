"""Issue 13, point 4 in a real browser: a manager on the Free plan (one channel) tries to add a
second channel and reads, above the form, the sentence naming the plan and the limit; what they
typed is still in the form (a secret excepted: its field asks for it again), nothing is saved,
and no page logs a JavaScript error. A screenshot goes to test-artifacts/.
"""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import Channel, Plan
from app.plans import ensure_default_plans
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console

pytestmark = pytest.mark.browser

SENTENCE = ("The Free plan's limit of channels is 1, and this workspace has 1. Choose a larger "
            "plan to add more.")


@pytest.fixture
def free_manager(factory):
    ensure_default_plans()
    free = db.session.query(Plan).filter_by(code="free").one()
    workspace = factory.workspace("small", "Small Panel", plan=free)
    factory.channel(workspace, name="Main WhatsApp")
    return factory.member(workspace, "small-manager", "manager").username


def test_free_plan_manager_is_told_the_limit_and_keeps_the_form(new_page, free_manager,
                                                                artifacts_dir):
    page = new_page()
    errors = watch_console(page)
    sign_in(page, free_manager)

    page.goto("/channelview/add")
    page.locator("a.channel-platform[data-kind=telegram]").click()
    page.wait_for_load_state()
    form = page.locator("#model_form")
    form.locator("#name").fill("Support bot")
    form.locator("#bot_token").fill("123456789:AAHtypedtoken")
    form.locator("#notes").fill("the shop's bot")
    form.locator("button[type=submit], input[type=submit]").first.click()
    page.wait_for_load_state()

    alert = page.locator(".alert-danger", has_text="Free plan")
    alert.wait_for()
    assert " ".join(alert.inner_text().replace("×", "").split()) == SENTENCE
    assert page.url.endswith("/channelview/add?kind=telegram")
    form = page.locator("#model_form")
    assert form.locator("#name").input_value() == "Support bot"
    assert form.locator("#notes").input_value() == "the shop's bot"
    assert form.locator("#bot_token").input_value() == ""  # a secret is never written back
    assert "enter it again" in form.inner_text()
    page.screenshot(path=str(artifacts_dir / "plan-limit-channel.png"), full_page=True)
    db.session.expire_all()
    assert db.session.query(Channel).filter_by(name="Support bot").count() == 0
    assert not errors, errors
