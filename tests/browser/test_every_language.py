"""Every page in every shipped language shows no untranslated title or button.

One sign-in per language, as the master admin (who may open every screen). The pages are found
at run time from the app itself: every menu entry, and for every registered CRUD screen its
list, its add form (when it has one) and the edit and show pages of the first row its list
links to. A screen registered later is covered without editing this test.

On every page the texts a person reads as labels of the page are collected: the page and panel
titles, every button and link-button (their text, and their tooltip: FAB's row buttons are
icons), and the modal dialogs. The same page is read in English first; a text that is the same
in another language as in English is untranslated, unless it is on `SAME_IN` (words a language
writes like English) or is the content of a row (values are data, not interface).

Also here: an Arabic page shows a chat id `79001234567@c.us` as written (left to right), in a
list and in a form field; the screenshot goes to test-artifacts/.
"""
from __future__ import annotations

import os
import re
from urllib.parse import urlparse

import pytest
from flask_appbuilder.baseviews import BaseCRUDView

from app.config import LANGUAGES
from app.plans import ensure_default_plans
from tests.tenancy_helpers import fill_every_owned_table
from tests.browser.support import sign_in

pytestmark = pytest.mark.browser

SHIPPED = sorted(code for code in LANGUAGES if code != "en")
# All of them; a developer may narrow a local run: RELAYDESK_LANGUAGES_CHECKED=ar,es
LANGUAGES_CHECKED = [code for code in os.environ.get("RELAYDESK_LANGUAGES_CHECKED", "").split(",")
                     if code in SHIPPED] or SHIPPED
CHAT_ID = "79001234567@c.us"
# Words a language writes exactly like English; brand and product names in every language.
SAME_EVERYWHERE = {"OK", "API", "Relaydesk", "WhatsApp", "Telegram", "Stripe", "Green API",
                   "Meta", "Swagger"}
SAME_IN = {
    # words these languages write like English ("Refill" and "Provider" are the SMM trade's own)
    "es": {"No", "Roles", "Chat", "Error", "Plan", "Refill", "Ticket"},
    "pt_BR": {"Chat", "Status", "E-mail"},
    "ru": set(),
    "tr": {"Plan"},
    "id": {"Detail", "Email", "Manual", "Label", "Chat", "Error", "Provider", "Refill", "Slug",
           "Status", "Media"},
    "ar": set(),
}
# Pages that are not ours to translate: the REST API documentation is Swagger UI.
NOT_OURS = re.compile(r"^/swagger/")

COLLECT_TEXTS = """() => {
  const seen = [];
  const add = (kind, text) => {
    text = (text || '').replace(/\\s+/g, ' ').trim();
    if (/[A-Za-z]/.test(text)) seen.push([kind, text]);
  };
  const inNavbar = el => !!el.closest('.navbar');
  document.querySelectorAll('.panel-title, h1, h2, h3, .modal-title, legend, .nav-tabs > li > a')
    .forEach(el => { if (!inNavbar(el)) add('title', el.textContent); });
  document.querySelectorAll(
      'button, a.btn, input[type=submit], input[type=button], .dropdown-menu a, .pagination a')
    .forEach(el => {
      if (inNavbar(el)) return;
      add('button', el.tagName === 'INPUT' ? el.value : el.textContent);
      add('tooltip', el.getAttribute('title') || el.getAttribute('data-original-title'));
    });
  return seen;
}"""


@pytest.fixture
def every_screen_has_a_row(app, factory):
    with app.app_context():
        workspace, _manager = factory.populated_workspace("acme")
        fill_every_owned_table(workspace.id, "acme")
        factory.admin_identity(workspace, factory.channel(workspace, name="Owner line"),
                               chat_id=CHAT_ID, name="Owner phone")
        ensure_default_plans()  # plans and their prices: the plan page lists them
        admin = factory.admin("root")
        return admin.username


def crud_screens(app) -> list[BaseCRUDView]:
    return [view for view in app.appbuilder.baseviews
            if isinstance(view, BaseCRUDView) and getattr(view, "route_base", None)]


def menu_paths(app) -> list[str]:
    paths = []
    with app.test_request_context("/"):
        for item in app.appbuilder.menu.get_list():
            for entry in [item, *(item.childs or [])]:
                if entry.name == "-" or not getattr(entry, "href", None) and not entry.baseview:
                    continue
                url = urlparse(entry.get_url()).path
                if url and url.startswith("/") and not NOT_OURS.match(url):
                    paths.append(url)
    return list(dict.fromkeys(paths))


def texts_of(page, path: str) -> set[tuple[str, str]]:
    response = page.goto(path, wait_until="domcontentloaded")
    assert response is not None and response.status < 400, (path, response and response.status)
    return {tuple(pair) for pair in page.evaluate(COLLECT_TEXTS)}


def discover_pages(page, app) -> list[str]:
    """Menu pages; every CRUD screen's list; the add page and the first row's edit and show
    pages of one screen per model (the master admin's "All ..." copy of a workspace screen
    renders the same forms: its list page, with its own title, is enough)."""
    paths = menu_paths(app)
    models_seen = set()
    for view in crud_screens(app):
        permissions = set(view.base_permissions or [])
        base = view.route_base
        if "can_list" in permissions:
            paths.append(f"{base}/list/")
        model = getattr(view.datamodel, "obj", None)
        if model in models_seen:
            continue
        models_seen.add(model)
        if "can_list" in permissions:
            page.goto(f"{base}/list/", wait_until="domcontentloaded")
            for kind in ("show", "edit"):
                if f"can_{kind}" not in permissions:
                    continue
                link = page.locator(f"a[href*='{base}/{kind}/']").first
                if link.count():
                    paths.append(urlparse(link.get_attribute("href")).path)
        if "can_add" in permissions:
            paths.append(f"{base}/add")
    return [p for p in dict.fromkeys(paths) if not NOT_OURS.match(p)]


def lean(page):
    """Only the pages themselves: their texts are read from the HTML the server rendered, so
    styles, scripts, fonts and pictures are not fetched (about 15 requests fewer per page)."""
    page.route(re.compile(r"/static/|\.(ico|png|svg)$"), lambda route: route.abort())
    return page


def switch_language(page, code: str) -> None:
    page.goto(f"/lang/{code}", wait_until="domcontentloaded")


@pytest.mark.slow
@pytest.mark.timeout(1800)  # ~110 pages in 7 languages: minutes on a loaded machine
def test_every_page_in_every_language_has_translated_titles_and_buttons(
        app, new_page, every_screen_has_a_row, artifacts_dir):
    admin = every_screen_has_a_row

    english = lean(new_page())
    switch_language(english, "en")
    login_english = texts_of(english, "/login/")
    sign_in(english, admin)
    paths = discover_pages(english, app)
    assert len(paths) >= 30, paths  # the discovery found the screens
    assert any(p.endswith("/add") for p in paths) and any("/edit/" in p for p in paths)
    assert any("/show/" in p for p in paths)
    baseline = {path: texts_of(english, path) for path in paths}
    assert sum(len(texts) for texts in baseline.values()) > 200

    problems: dict[tuple[str, str, str], list[str]] = {}  # (language, kind, text) → pages
    for code in LANGUAGES_CHECKED:
        allowed = SAME_EVERYWHERE | SAME_IN[code]
        page = lean(new_page())
        switch_language(page, code)
        pages = {"/login/": (login_english, texts_of(page, "/login/"))}
        sign_in(page, admin)
        if code == "ar":
            assert page.locator("html").get_attribute("dir") == "rtl"
        for path in paths:
            pages[path] = (baseline[path], texts_of(page, path))
        for path, (in_english, translated) in pages.items():
            for kind, text in sorted(in_english & translated):
                if text not in allowed:
                    problems.setdefault((code, kind, text), []).append(path)
        print(f"{code}: {len(pages)} pages read, {len(problems)} problem(s) so far", flush=True)
        page.context.close()
    report = [f"{code} {kind} {text!r} on {len(where)} page(s), e.g. {where[0]}"
              for (code, kind, text), where in sorted(problems.items())]
    assert not problems, f"{len(report)} untranslated text(s):\n" + "\n".join(report)


def test_arabic_page_shows_a_chat_id_left_to_right(new_page, every_screen_has_a_row,
                                                    artifacts_dir):
    page = new_page()
    switch_language(page, "ar")
    sign_in(page, every_screen_has_a_row)
    page.goto("/adminidentityview/list/")
    cell = page.locator("td bdi", has_text=CHAT_ID).first
    assert cell.get_attribute("dir") == "ltr"
    # the way it is laid out: the digits come first, left of "@c.us", on a right-to-left page
    digits, domain = cell.evaluate("""el => {
      const range = document.createRange();
      const text = el.firstChild;
      range.setStart(text, 0); range.setEnd(text, 11);
      const first = range.getBoundingClientRect();
      range.setStart(text, 12); range.setEnd(text, text.length);
      const last = range.getBoundingClientRect();
      return [first.left, last.left];
    }""")
    assert digits < domain, "the chat id is laid out right to left"
    page.screenshot(path=str(artifacts_dir / "arabic-chat-id-list.png"), full_page=True)

    # typed into a form field, it keeps its order too (the field follows its first letter)
    page.locator("tr", has_text=CHAT_ID).locator("a[href*='/adminidentityview/edit/']").click()
    field = page.locator("#model_form #chat_id")
    assert field.input_value() == CHAT_ID
    assert field.evaluate("el => getComputedStyle(el).unicodeBidi") == "plaintext"
    page.screenshot(path=str(artifacts_dir / "arabic-chat-id-form.png"), full_page=True)
