"""Languages at run time: FAB's language switch (LocaleView, GET /lang/<code>), our catalogues
merged over FAB's own, and the customer replies looked up in the customer's language.

Expected texts are read from the catalogues themselves, so rewording a translation does not
break these tests; tests/unit/test_translations.py checks the catalogues' content.
"""
from __future__ import annotations

import gettext
import os
import tempfile
from pathlib import Path

import flask_appbuilder
import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask_babel import force_locale, ngettext

from app.config import LANGUAGES
from app.domain.replies import DEFAULT_REPLIES, STATUS_NAMES
from app.jobs.replies import ReplyBook

TRANSLATIONS = Path(__file__).resolve().parents[2] / "translations"
FAB_TRANSLATIONS = Path(flask_appbuilder.__file__).parent / "translations"
SHIPPED = sorted(code for code in LANGUAGES if code != "en")


def _catalogue(code: str):
    path = TRANSLATIONS / code / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        return read_po(handle)


def _translation(code: str, msgid: str) -> str | None:
    catalogue = _catalogue(code)
    message = catalogue.get(msgid) if catalogue else None
    return message.string if message and message.string else None


def _fab_translation(code: str, msgid: str) -> str | None:
    """FAB's own compiled catalogue (its .po and .mo disagree in places; the .mo is served)."""
    path = FAB_TRANSLATIONS / code / "LC_MESSAGES" / "messages.mo"
    if not path.is_file():
        return None
    with path.open("rb") as handle:
        text = gettext.GNUTranslations(handle).gettext(msgid)
    return text if text != msgid else None


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogues():
    """What `make compile-catalogues` does (the .mo files are git-ignored build output): compile
    every catalogue whose .mo is missing or older, before any request loads it (flask-babel
    caches loaded catalogues for the life of the process)."""
    for po in TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as handle:
            catalogue = read_po(handle)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, suffix=".mo.tmp")
        with os.fdopen(fd, "wb") as handle:
            write_mo(handle, catalogue, use_fuzzy=True)
        os.replace(tmp, mo)


def test_language_switch_translates_menus_and_fab_texts(factory, auth, client):
    ws, manager = factory.populated_workspace("acme")
    auth.login(manager.username)
    page = client.get("/").get_data(as_text=True)
    for code in SHIPPED:  # FAB's navbar language menu offers every other language
        assert f'href="/lang/{code}"' in page, code

    response = client.get("/lang/es")
    assert response.status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Canales" in page  # the "Channels" menu label and home card, in Spanish
    assert ">Channels<" not in page

    for code in SHIPPED + ["en"]:
        assert client.get(f"/lang/{code}").status_code == 302, code
        page = client.get("/").get_data(as_text=True)
        for msgid in ("Channels", "Setup", "Provider routes"):  # menu labels (lazy_gettext)
            expected = _translation(code, msgid) or msgid
            assert expected in page, (code, msgid, expected)
        # FAB's own catalogue still applies where FAB ships one (navbar "Logout")
        fab_logout = _fab_translation(code, "Logout")
        if fab_logout:
            assert fab_logout in page, (code, fab_logout)
        # and a list screen renders too, with our column labels
        screen = client.get("/channelview/list/").get_data(as_text=True)
        assert (_translation(code, "Last webhook") or "Last webhook") in screen, code


def test_unknown_language_is_refused(client):
    assert client.get("/lang/xx").status_code == 404


def test_reply_book_reads_the_catalogues(app, factory):
    ws = factory.workspace("acme")
    with app.app_context():
        russian = ReplyBook(ws.id, "ru")
        # a counted reply: the catalogue's plural form for the number of orders
        forms = _translation("ru", DEFAULT_REPLIES["refill_ok_one"])
        assert len(forms) == 3 and DEFAULT_REPLIES["refill_ok"] not in forms
        assert russian.text("refill_ok", 1) == forms[0] == russian.text("refill_ok", 21)
        assert russian.text("refill_ok", 3) == forms[1]
        assert russian.text("refill_ok", 5) == forms[2]
        assert "{order_ids}" in russian.text("refill_ok", 1)
        assert russian.render("not_owner", 21, order_ids="1") == \
            "21 заказ не числится на вашем аккаунте: 1"
        assert russian.status_name("completed") == _translation("ru", STATUS_NAMES["completed"])

        # a customer's "pt" or "pt-BR" gets the Brazilian catalogue; "ar" the Arabic one
        assert ReplyBook(ws.id, "pt-BR").text("help") == _translation(
            "pt_BR", DEFAULT_REPLIES["help"])
        assert ReplyBook(ws.id, "ar").text("fallback") == _translation(
            "ar", DEFAULT_REPLIES["fallback"])
        # English is the msgid itself; an unknown language falls back to it
        assert ReplyBook(ws.id, "en").text("refill_ok") == DEFAULT_REPLIES["refill_ok"]
        assert ReplyBook(ws.id, "xx").text("refill_ok", 1) == DEFAULT_REPLIES["refill_ok_one"]
        assert ReplyBook(ws.id, "en").render("not_owner", 1, order_ids="2274219") == \
            "This order is not on your account: 2274219"


@pytest.mark.parametrize("code", SHIPPED)
def test_plural_forms_follow_each_language(app, code):
    """ngettext picks the language's plural form even though FAB's catalogue is merged in."""
    catalogue = _catalogue(code)
    singular, plural = "%(num)d event queued again.", "%(num)d events queued again."
    forms = list(catalogue[singular].string)
    plural_of = gettext.c2py(catalogue.plural_expr)
    with app.test_request_context("/"), force_locale(code):
        for n in (0, 1, 2, 3, 5, 11, 21, 100, 101):
            assert ngettext(singular, plural, n) == forms[plural_of(n)] % {"num": n}, (code, n)
