"""A translator fixes texts in Master admin › Translations and sees them live: in the screens of
the running server (no restart) and in the customer reply a worker that was already running
sends; a placeholder mistake is refused beside the field, what was typed kept. Server and
worker read a private copy of the catalogues (the repository's translations/ never changes).
No JavaScript error, failed request or error answer on any page. Screenshots: test-artifacts/."""
from __future__ import annotations

import time

import pytest
from babel.messages.pofile import read_po

from tests.browser.conftest import page_opener, serve_app
from tests.browser.support import sign_in
from tests.browser.test_channel_setup import watch_console
from tests.integration.catalogue_support import (REPLY_MSGID, copy_catalogues, run_reply_job,
                                                 worker_process)

pytestmark = pytest.mark.browser

UI_MSGID = "Default replies"
UI_EDITED = "Respostas da plataforma"
REPLY_EDITED = "Nosso painel está em manutenção agora. Volte em alguns minutos, por favor."
PERCENT_MSGID = "%(minutes)d min %(seconds)d s"
PERCENT_WRONG = "%(minutos)d min %(seconds)d s"


def _po(catalogues):
    with (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def _entry(page, msgid: str):
    page.fill("#search", msgid)
    page.click("#catalogue-filter button[type=submit]")
    page.wait_for_load_state()
    entry = page.locator(".catalogue-entry").filter(
        has=page.locator(".msgid strong", has_text=msgid))
    assert entry.count() >= 1, f"{msgid!r} not listed"
    exact = [i for i in range(entry.count())
             if entry.nth(i).locator(".msgid strong").inner_text().strip() == msgid]
    assert exact, f"{msgid!r} not listed exactly"
    return entry.nth(exact[0])


@pytest.mark.timeout(600)
def test_a_translator_fixes_texts_and_sees_them_live(app, factory, redis_conn, browser,
                                                      artifacts_dir, tmp_path):
    catalogues = copy_catalogues(tmp_path / "translations")
    repo_before = _repository_catalogue()
    factory.translator("linguist")
    worker_log = artifacts_dir / "translations-worker.log"
    with serve_app(artifacts_dir, tmp_path / "server-instance", log_name="translations-server",
                   extra_env={"RELAYDESK_TRANSLATIONS_DIR": str(catalogues)}) as base_url, \
            worker_process(catalogues, tmp_path / "worker-instance", worker_log) as worker:
        open_page, close_all = page_opener(browser, base_url)
        try:
            page = open_page()
            errors = watch_console(page)
            sign_in(page, "linguist")
            page.goto("/lang/pt_BR", wait_until="domcontentloaded")
            original_reply = run_reply_job(redis_conn, "pt_BR", worker, worker_log)
            assert original_reply.startswith("Nosso painel não está respondendo agora")

            # the menu as the translator sees it before
            page.goto("/translations/")
            assert UI_EDITED not in page.locator(".navbar").first.text_content()
            page.click("tr[data-language=pt_BR] a")
            page.wait_for_load_state()
            assert "language=pt_BR" in page.url
            progress_before = page.inner_text("#catalogue-progress")

            # a UI text
            entry = _entry(page, UI_MSGID)
            entry.locator("textarea").fill(UI_EDITED)
            entry.locator(".save-entry").click()
            page.wait_for_load_state()
            assert page.locator(".alert-success").count() == 1
            page.screenshot(path=str(artifacts_dir / "translations-saved.png"), full_page=True)
            deadline = time.monotonic() + 10
            while UI_EDITED not in page.locator(".navbar").first.text_content():
                assert time.monotonic() < deadline, "the menu never showed the new text"
                page.reload()
            assert page.inner_text("#catalogue-progress") == progress_before

            # a placeholder mistake: refused beside the field, what was typed kept
            entry = _entry(page, PERCENT_MSGID)
            kept = entry.locator("textarea").input_value()
            entry.locator("textarea").fill(PERCENT_WRONG)
            entry.locator(".save-entry").click()
            page.wait_for_load_state()
            entry = page.locator(".catalogue-entry.has-error, .catalogue-entry").filter(
                has=page.locator(".catalogue-error"))
            assert entry.count() == 1
            assert "%(minutes)" in entry.locator(".catalogue-error").inner_text()
            assert entry.locator("textarea").input_value() == PERCENT_WRONG
            assert entry.locator(".msgid strong").inner_text() == PERCENT_MSGID
            page.screenshot(path=str(artifacts_dir / "translations-refused.png"), full_page=True)
            assert _po(catalogues)[PERCENT_MSGID].string == kept

            # a customer reply: the worker that was already running sends the new text
            entry = _entry(page, REPLY_MSGID)
            entry.locator("textarea").fill(REPLY_EDITED)
            entry.locator(".save-entry").click()
            page.wait_for_load_state()
            assert page.locator(".alert-success").count() == 1
            started = time.monotonic()
            while (reply := run_reply_job(redis_conn, "pt_BR", worker, worker_log)) \
                    != REPLY_EDITED:
                assert time.monotonic() - started < 10, f"the worker still sends {reply!r}"
                time.sleep(0.2)
            assert worker.poll() is None  # the same process: no restart

            assert _po(catalogues)[UI_MSGID].string == UI_EDITED
            assert _po(catalogues)[REPLY_MSGID].string == REPLY_EDITED
            assert errors == [], errors
        finally:
            close_all()
    assert _repository_catalogue() == repo_before


def _repository_catalogue() -> bytes:
    from tests.integration.catalogue_support import ROOT

    return (ROOT / "translations" / "pt_BR" / "LC_MESSAGES" / "messages.po").read_bytes()
