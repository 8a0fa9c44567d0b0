"""Issue 11: every action button and action-menu entry is clicked in the browser and does its work.

For each registered ModelView of Relaydesk's with FAB `@action`s (found at run time, see
matrix.py), as the role that uses it: every action offered on many rows is run from the list
page's "Actions" menu on every row of the page, every action offered on one row from its button
on the show page; a confirmation dialog is answered OK. Each click must send the action's request
(the answer not a server error), land on a page that works and tell the person what happened (a
flash message; or, for an action that opens a screen of its own, that screen's form). No page
may log a JavaScript error, a failed request or an error answer.

Channels and the panel connection point at the local fakes of Green API, Telegram and Perfect
Panel (tests/fakes/); every other workspace table gets a generic row (tests/tenancy_helpers.py).
"""
from __future__ import annotations

import pytest
from sqlalchemy import inspect

from app.extensions import db
from app.models import Channel
from app.security import ROLE_MANAGER
from tests.browser.matrix import (PageWatch, alerts, registered_views, role_for,
                                  view_named)
from tests.browser.support import sign_in
from tests.tenancy_helpers import fill_every_owned_table, make_row

pytestmark = pytest.mark.browser


def pytest_generate_tests(metafunc):
    if "action_view" in metafunc.fixturenames:
        metafunc.parametrize("action_view", registered_views("actions"))


@pytest.fixture
def world(app, factory, fake_greenapi, fake_telegram, fake_perfectpanel):
    workspace = factory.workspace("acts")
    manager = factory.member(workspace, "acts-manager", "manager")
    admin = factory.admin("acts-root")
    green = factory.channel(workspace, kind="greenapi", name="Fake WhatsApp",
                            api_url=fake_greenapi.url, id_instance=fake_greenapi.id_instance,
                            api_token=fake_greenapi.api_token)
    factory.channel(workspace, kind="telegram", name="Fake bot", bot_token=fake_telegram.token,
                    api_base=fake_telegram.url)
    factory.panel(workspace, panel_type="perfectpanel_v2", url=fake_perfectpanel.url,
                  api_key=fake_perfectpanel.api_key, service_rules_mode="cached")
    fill_every_owned_table(workspace.id, "acts")
    return {"workspace": workspace.id, ROLE_MANAGER: manager, "admin": admin,
            Channel: green.id, app.appbuilder.sm.user_model: manager.id}


def _target(model, world) -> int:
    """The row a one-row action runs on: the named one, else the workspace's first."""
    if model in world:
        return world[model]
    db.session.remove()
    key = inspect(model).primary_key[0]
    query = db.session.query(key).order_by(key)
    if hasattr(model, "workspace_id"):
        query = query.filter(model.workspace_id == world["workspace"])
    row = query.first()
    assert row is not None, f"no {model.__name__} row to run an action on"
    return row[0]


def _exists(model, pk) -> bool:
    db.session.remove()
    return db.session.get(model, pk) is not None


def run_and_check(page, click, confirm: bool, what: str) -> None:
    """Click, answer the confirmation, wait for the action's request and the page it leads to,
    and check what the person sees."""
    origin = page.url

    def document(response) -> bool:
        return response.request.is_navigation_request() and response.frame == page.main_frame

    with page.expect_response(lambda r: document(r) and "/action" in r.url) as action_answer, \
            page.expect_response(lambda r: document(r) and "/action" not in r.url
                                 and not 300 <= r.status < 400) as landing:
        click()
        if confirm:
            dialog = page.locator("#modal-confirm:visible")
            dialog.wait_for()
            text = " ".join(dialog.locator(".modal-text").inner_text().split())
            assert text and "&#" not in text and "{{" not in text, \
                f"{what}: the confirmation reads {text!r}"
            dialog.locator("#modal-confirm-ok").click()
    answer = action_answer.value
    assert answer.status < 500, f"{what}: the action answered {answer.status}"
    landed = landing.value
    assert landed.status < 400, f"{what}: landed on {landed.status} {landed.url}"
    page.wait_for_url(landed.url)
    page.wait_for_load_state()
    flashes = [t for t in alerts(page, "") if t]
    opened_screen = page.url.split("?")[0] != origin.split("?")[0] and page.locator(
        "form button[type=submit], form input[type=submit]").count() > 0
    assert flashes or opened_screen, f"{what}: nothing told the person what happened ({page.url})"


def single_action_pages(view, pk) -> list[str]:
    """Where a view shows its one-row action buttons: the show page, and FAB's user screen's
    own-profile page."""
    pages = [f"{view.route_base}/show/{pk}"]
    if hasattr(view, "userinfo"):
        pages.append(f"{view.route_base}/userinfo/")
    return pages


def test_actions(action_view, app, world, browser, live_server):
    view = view_named(app, action_view)
    model = view.datamodel.obj
    role = role_for(view)
    user = world[ROLE_MANAGER] if role == ROLE_MANAGER else world["admin"]
    context = browser.new_context(base_url=live_server, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    watch = PageWatch(context)
    ran = 0
    try:
        page = context.new_page()
        sign_in(page, user.username)
        route = view.route_base
        pk = _target(model, world)
        for action in view.actions.values():
            confirm = bool(action.confirmation)
            if action.multiple:
                what = f"{action_view} list menu {action.name!r}"
                page.goto(f"{route}/list/")
                page.locator("input.action_check_all").first.click()
                assert page.locator("input.action_check:checked").count() >= 1, \
                    f"{what}: no row to select"

                def from_menu(name=action.name):
                    item = page.locator(f".{name}_menu_item").first
                    page.locator(".btn-group", has=item).locator(
                        "button.dropdown-toggle").first.click()
                    item.click()

                run_and_check(page, from_menu, confirm, what)
                ran += 1
            if action.single:
                what = f"{action_view} button {action.name!r}"
                if not _exists(model, pk):  # the list run removed the rows (Clear cooldown)
                    pk = make_row(model, world["workspace"], f"acts-{action.name}")
                    db.session.commit()
                selector = f"a[id^='btn-action-'][id$='-{action.name}']"
                for url in single_action_pages(view, pk):
                    page.goto(url)
                    if page.locator(selector).count():
                        break
                else:
                    pytest.fail(f"{what}: on none of {single_action_pages(view, pk)}")
                run_and_check(page, page.locator(selector).first.click, confirm, what)
                ran += 1
        problems = watch.take()
        assert not problems, f"{action_view}: " + "\n".join(problems)
    finally:
        context.close()
    assert ran, f"{action_view}: no action offered"
