"""The Content-Security-Policy holds in a real browser (app/security_headers.py).

The master admin and a workspace manager open every page of the menu as Chromium renders it for
them (read from the navigation bar at run time, so a new screen is covered the day it is added),
and the add form each list links to; Chromium reports no `securitypolicyviolation`, no console
error and no uncaught JavaScript error on any of them, Swagger UI renders the API
documentation, and on every page the policy is in force (a script injected without the nonce does
not run). A page of another site cannot frame the app; an action's confirmation dialog shows its
text as written.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from babel.support import Translations

from tests.browser.test_provider_routes import sign_in
from tests.factories import password_for

pytestmark = pytest.mark.browser

# Runs before any script of every page (Playwright injects it through the DevTools protocol,
# which the page's policy does not govern) and records what the policy refused.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.effectiveDirective} refused ${e.blockedURI || 'inline'}`
                              + ` at ${e.sourceFile || location.pathname}:${e.lineNumber}`);
});
"""
MENU_LINKS = """
els => els.map(e => e.getAttribute('href'))
"""
# An inline script without the nonce, as an injected one would be: the policy must refuse it.
INJECT_INLINE_SCRIPT = """
() => {
  window.__injectedRan = false;
  const script = document.createElement('script');
  script.textContent = 'window.__injectedRan = true';
  document.body.appendChild(script);
  return window.__injectedRan;
}
"""


class Watcher:
    """Console errors, uncaught exceptions and failed same-site requests of one page."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.problems.append(f"uncaught error: {exc}"))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)

    def _failed(self, request) -> None:
        # a live page's event stream (app/static/js/live.js) never ends by itself: leaving the
        # page aborts it, which is no failure
        if urlsplit(request.url).path == "/inbox/stream" and "ERR_ABORTED" in str(
                request.failure):
            return
        self.problems.append(f"request failed: {request.url} {request.failure}")

    def _console(self, message) -> None:
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(f"console {message.type}: {message.text}")

    def _response(self, response) -> None:
        if response.url.startswith(self.base_url) and response.status >= 400:
            self.problems.append(f"{response.status} for {response.url}")

    def visit(self, path: str, ready: str | None = None) -> list[str]:
        """Open `path`, let its scripts run (until `ready` shows, if given), and return what
        went wrong there."""
        self.problems = []
        response = self.page.goto(path)
        self.page.wait_for_load_state("networkidle")
        if ready:
            self.page.wait_for_selector(ready)
        if response is None or response.status != 200:
            self.problems.append(f"answered {response.status if response else 'nothing'}")
        violations = self.page.evaluate("window.__cspViolations || []")
        problems = [f"{path}: {p}" for p in self.problems + violations]
        if self.page.evaluate(INJECT_INLINE_SCRIPT):
            problems.append(f"{path}: an inline script without the nonce ran (no policy?)")
        self.problems = []  # the refused probe logs a console error of its own
        return problems


def menu_paths(page) -> list[str]:
    """Same-site links of the navigation bar, minus signing out and switching language."""
    hrefs = page.eval_on_selector_all(".navbar a[href]", MENU_LINKS)
    paths = []
    for href in hrefs:
        if href and href.startswith("/") and not href.startswith(("/logout", "/lang/")) \
                and href not in paths:
            paths.append(href)
    return paths


@pytest.fixture
def people(factory):
    _workspace, manager = factory.populated_workspace("alpha")
    admin = factory.admin("root")
    return {"admin": admin.username, "manager": manager.username}


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_every_menu_page_runs_without_policy_violations_or_script_errors(
        browser, live_server, people, who):
    context = browser.new_context(base_url=live_server)
    context.set_default_timeout(15_000)
    context.add_init_script(RECORD_VIOLATIONS)
    try:
        page = context.new_page()
        watcher = Watcher(page, live_server)
        sign_in(page, people[who], password_for(people[who]))
        problems = watcher.visit("/")
        paths = menu_paths(page)
        assert len(paths) >= (20 if who == "admin" else 10), paths
        assert "/swagger/v1" in paths
        add_forms = []
        for path in paths:
            # Swagger UI builds its page from the OpenAPI document with scripts.
            swagger = path == "/swagger/v1"
            problems += watcher.visit(path, ready=".swagger-ui .opblock" if swagger else None)
            if swagger:
                assert page.locator(".swagger-ui .opblock").count() > 10
            add = page.locator("a[href*='/add']").first
            if add.count():
                add_forms.append(add.get_attribute("href"))
        for path in dict.fromkeys(add_forms):
            problems += watcher.visit(path)
        assert add_forms, "no add form was reached through the menu"
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_the_login_page_runs_without_policy_violations(browser, live_server):
    context = browser.new_context(base_url=live_server)
    context.add_init_script(RECORD_VIOLATIONS)
    try:
        page = context.new_page()
        problems = Watcher(page, live_server).visit("/login/")
        assert page.locator("#username").count() == 1
        assert not problems, "\n".join(problems)
    finally:
        context.close()


def test_another_site_cannot_frame_the_app(page, live_server):
    control = f"{live_server}/framing-control"
    page.route(control, lambda route: route.fulfill(
        content_type="text/html", body="<input id='username'>"))  # no frame protection
    page.set_content(f"<iframe id='app' src='{live_server}/login/'></iframe>"
                     f"<iframe id='control' src='{control}'></iframe>")
    page.wait_for_load_state("load")
    assert page.frame_locator("#control").locator("#username").count() == 1  # frames do load
    framed = page.frame_locator("#app").locator("#username")
    assert framed.count() == 0, "the login page was rendered inside another site's frame"


def test_an_action_confirmation_with_an_apostrophe_opens_its_dialog(page, people):
    """FAB prints the confirmation inside an inline script: an apostrophe in it used to end the
    JavaScript string, so the page's actions did nothing."""
    sign_in(page, people["manager"], password_for(people["manager"]))
    page.goto("/panelconnectionview/list/")
    page.locator("input.action_check").first.check()
    page.locator("button.dropdown-toggle", has_text="Actions").click()
    page.locator("a.refresh_services_menu_item").click()
    dialog = page.locator("#modal-confirm .modal-text")
    dialog.wait_for()
    assert dialog.inner_text() == "Fetch the panel's services into the service rules now?"


INLINE_SCRIPTS = "els => els.map(e => e.textContent)"


def test_action_texts_reach_the_dialogs_as_text_in_the_users_language(page, people):
    """No script is built from text (app/templates/appbuilder/general/lib.html): the texts of the
    action menu, the delete button and the empty-selection alert travel as data attributes and
    show in the user's language, and no inline script of the page carries them."""
    spanish = Translations.load("translations", ["es"], domain="messages")
    sign_in(page, people["manager"], password_for(people["manager"]))
    page.goto("/lang/es", wait_until="domcontentloaded")
    page.goto("/panelconnectionview/list/")
    rows = page.locator("table tbody tr").count()

    page.locator(".btn-group:has(a.refresh_services_menu_item) button.dropdown-toggle").click()
    page.locator("a.refresh_services_menu_item").click()  # nothing selected yet
    alert = page.locator("#modal-alert .modal-text")
    alert.wait_for()
    assert alert.inner_text() == spanish.gettext("No row selected") != "No row selected"
    page.locator("#modal-alert [data-dismiss=modal]").click()
    page.locator("#modal-alert").wait_for(state="hidden")

    page.locator("[data-delete-url]").first.click()
    dialog = page.locator("#modal-confirm .modal-text")
    dialog.wait_for()
    question = spanish.gettext("Are you sure you want to delete this item?")
    assert dialog.inner_text() == question == "¿Seguro que desea eliminar este elemento?"
    page.locator("#modal-confirm [data-dismiss=modal]").click()  # cancelled: nothing deleted
    page.locator("#modal-confirm").wait_for(state="hidden")
    page.reload()
    assert page.locator("table tbody tr").count() == rows

    page.locator("input.action_check").first.check()
    page.locator(".btn-group:has(a.refresh_services_menu_item) button.dropdown-toggle").click()
    page.locator("a.refresh_services_menu_item").click()
    english = "Fetch the panel's services into the service rules now?"
    confirmation = spanish.gettext(english)
    dialog.wait_for()
    assert dialog.inner_text() == confirmation != english

    scripts = "\n".join(page.eval_on_selector_all("script:not([src])", INLINE_SCRIPTS))
    for text in (confirmation, question, spanish.gettext("No row selected"), "execute_"):
        assert text not in scripts
