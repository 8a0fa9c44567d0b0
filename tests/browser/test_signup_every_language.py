"""Every sign-up screen in every shipped language shows no untranslated title, label, help
text, message or button (tests/browser/test_every_language.py's method, for the pages of
app/signup/, which are not FAB screens and so are not found by its discovery).

The journey is walked once in English and once per language, each time as a new visitor: the
form, the form refused, "check your mail", a forged link, the plan page, the payment page, the
payment refused, the status page. A text that reads the same as in English is untranslated
unless it is a word the language writes like English (`SAME_EVERYWHERE`, `SAME_IN`). Values
(plan names and descriptions, the payment method's name and instructions, amounts, addresses)
are data and are not collected, nor are the languages' names, which each language's menu writes
in that language (as the language menu does). The confirmation mail's subject is checked too.
"""
from __future__ import annotations

import re

import pytest

from tests.browser.test_every_language import LANGUAGES_CHECKED, SAME_EVERYWHERE, SAME_IN
from tests.integration.signup_support import (PASSWORD, add_paid_plan_extras, confirm_path,
                                              deliver_signup_mail)

pytestmark = pytest.mark.browser

DATA = ", ".join([".navbar", "#language option", ".plan-card .panel-heading",
                  ".plan-card .panel-body > p:first-child", ".payment-method label",
                  ".payment-instructions", "#status-details td", "#pay-summary"])
INTERFACE = ".panel-title, h1, h2, h3, legend, label, .help-block, .alert, th, p, button, " \
            "a.btn, option"
COLLECT = """([data, wanted]) => {
  const seen = [];
  const add = (kind, text) => {
    text = (text || '').replace(/\\s+/g, ' ').trim();
    if (/[A-Za-z]/.test(text)) seen.push([kind, text]);
  };
  document.querySelectorAll(wanted).forEach(el => {
    if (el.closest(data)) return;
    // the element's own text, without its children's (they are collected on their own)
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3)
      .map(n => n.textContent).join(' ');
    add(el.tagName.toLowerCase(), own);
  });
  return seen;
}"""
# product names of panel engines, kept as they are in some languages; words written like English
KEPT = {"Perfect Panel (API v2)", "Rental Panel (API v1)"}
# the payment method's and plans' names appear inside buttons and labels as values
VALUES = re.compile(r"\b(Starter|Free|Pro|Enterprise|Bank transfer|USD|EUR|INR)\b")


def texts(page) -> set[tuple[str, str]]:
    """The interface texts of the page (a text that is only values is left out)."""
    found = page.evaluate(COLLECT, [DATA, INTERFACE])
    return {(kind, text) for kind, text in found
            if re.search(r"[A-Za-z]{2}", VALUES.sub("", text))}


def submit(page, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).click()
    page.wait_for_load_state("load")


def walk(app, page, code: str, method_id: int) -> tuple[dict, str]:
    """The journey's pages in one language: {page name: texts}, and the mail's subject."""
    seen = {}
    page.goto(f"/lang/{code}")
    page.goto("/signup/")
    seen["form"] = texts(page)
    email = f"visitor.{code.lower().replace('_', '-')}@example.org"
    page.fill("#full_name", "Ana Lima")
    page.fill("#email", "not an address")
    page.fill("#password", "password2024")
    page.fill("#workspace_name", f"Panel {code}")
    submit(page, "#signup-submit")
    seen["form refused"] = texts(page)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    submit(page, "#signup-submit")
    seen["check your mail"] = texts(page)
    page.goto("/signup/confirm/forged-link")
    seen["forged link"] = texts(page)
    # the previous walk's payment may have queued a mail to the master admin: take ours
    [mail] = [sent for sent in deliver_signup_mail(app) if sent.to == email]
    page.goto(confirm_path(mail))
    seen["plan"] = texts(page)
    submit(page, "#choose-starter")
    seen["pay"] = texts(page)
    page.check(f"#method-{method_id}")
    page.fill("#amount", "-5")
    submit(page, "#send-reference")
    seen["pay refused"] = texts(page)
    page.fill("#amount", "19")
    page.fill("#reference", f"REF-{code}")
    submit(page, "#send-reference")
    assert page.url.endswith("/signup/status"), page.url
    seen["status"] = texts(page)
    return seen, mail.subject


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_every_signup_screen_in_every_language(app, new_page, redis_conn):
    offer = add_paid_plan_extras(app)
    english, english_subject = walk(app, new_page(), "en", offer["method"])
    assert sum(len(found) for found in english.values()) > 60, english
    problems = []
    for code in LANGUAGES_CHECKED:
        allowed = SAME_EVERYWHERE | SAME_IN[code] | KEPT
        pages, subject = walk(app, new_page(), code, offer["method"])
        assert subject != english_subject, (code, subject)
        for name, found in pages.items():
            for kind, text in sorted(english[name] & found):
                if text not in allowed:
                    problems.append(f"{code} {name}: {kind} {text!r}")
    assert not problems, f"{len(problems)} untranslated text(s):\n" + "\n".join(problems)
