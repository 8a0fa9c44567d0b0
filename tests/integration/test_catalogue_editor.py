"""The translators' workspace: `/api/v1/catalogue` (roles, shapes, placeholders, plural forms,
new languages, refused input), the Translations screen, and a change seen live by a worker
process that was already running. Every test works on a private copy of the catalogues."""
from __future__ import annotations

import threading
import time

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, gettext

from app import catalogue_editor as editor
from tests.integration.catalogue_support import (REPLY_MSGID, copy_catalogues, run_reply_job,
                                                 worker_process)

API = "/api/v1/catalogue"
UI_MSGID = "Default replies"
PLURAL_MSGID = "%(num)d job was queued again."
PERCENT_MSGID = "%(minutes)d min %(seconds)d s"
BRACE_MSGID = "{order_id}: {status} · start count {start_count} · remains {remains}"


@pytest.fixture
def catalogues(app, tmp_path, monkeypatch):
    """The app reads and edits a copy of translations/ for the test."""
    directory = copy_catalogues(tmp_path / "translations")
    babel = app.extensions["babel"]
    old = app.config["TRANSLATIONS_DIR"]
    monkeypatch.setitem(app.config, "TRANSLATIONS_DIR", str(directory))
    monkeypatch.setattr(babel, "translation_directories",
                        [str(directory) if d == old else d for d in babel.translation_directories])
    editor.forget_texts(app)
    yield directory
    monkeypatch.undo()
    editor.forget_texts(app)


@pytest.fixture
def translator(factory, auth, catalogues, redis_conn):
    factory.translator("translator")
    auth.login("translator")


def _po(directory, language):
    with (directory / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle)


def _entry(client, language, msgid):
    answer = client.get(f"{API}/{language}", query_string={"search": msgid})
    assert answer.status_code == 200
    return next(e for e in answer.json["entries"] if e["id"] == msgid)


# --- who -----------------------------------------------------------------------------------

def test_without_credentials_the_catalogue_is_401(client, catalogues):
    assert client.get(f"{API}/pt_BR").status_code == 401
    assert client.put(f"{API}/pt_BR", json={"id": UI_MSGID, "translation": "x"}).status_code == 401
    assert client.post(API, json={"language": "fr"}).status_code == 401


@pytest.mark.parametrize("role, expected", [("manager", 403), ("agent", 403),
                                            ("translator", 200), ("admin", 200)])
def test_only_translators_and_the_master_admin_reach_the_catalogue(app, client, auth, factory,
                                                                    catalogues, redis_conn,
                                                                    role, expected):
    if role == "translator":
        factory.translator("person")
    elif role == "admin":
        factory.admin("person")
    else:
        factory.member(factory.workspace("acme"), "person", role=role)
    auth.login("person")
    assert client.get(f"{API}/pt_BR").status_code == expected
    put = client.put(f"{API}/pt_BR", json={"id": UI_MSGID, "translation": "Respostas"})
    assert put.status_code == expected
    post = client.post(API, json={"language": "fr"})
    assert post.status_code == (403 if expected == 403 else 201)
    assert ("fr" in editor.languages(app)) is (expected == 200)
    if role == "admin":  # the change is in the master admin's audit trail, in words
        from app.extensions import db
        from app.models import AuditEntry

        row = db.session.query(AuditEntry).filter_by(model="Catalogue", action="update").one()
        listing = client.get("/adminauditentryview/list/")
        assert listing.status_code == 200 and f"pt_BR: {UI_MSGID}" in listing.text
        shown = client.get(f"/adminauditentryview/show/{row.id}")
        assert shown.status_code == 200 and "Respostas" in shown.text
    assert client.get("/translations/").status_code == expected
    assert client.get("/translations/?language=pt_BR").status_code == expected


def test_an_api_key_of_a_translator_works(app, factory, client, catalogues, redis_conn):
    key = factory.api_key(factory.translator("keyed"))
    answer = client.get(f"{API}/ru", headers={"X-API-Key": key})
    assert answer.status_code == 200
    assert answer.json["language"] == "ru"


# --- reading -------------------------------------------------------------------------------

def test_the_catalogue_answers_every_entry_with_its_shape(client, translator):
    answer = client.get(f"{API}/ru")
    assert answer.status_code == 200
    body = answer.json
    assert body["language"] == "ru"
    assert len(body["entries"]) > 1000
    for item in body["entries"]:
        assert set(item) == {"id", "context", "plural", "translation", "fuzzy", "locations"}
    plain = next(e for e in body["entries"] if e["id"] == UI_MSGID)
    assert plain["plural"] is None and isinstance(plain["translation"], str)
    assert plain["translation"] and plain["fuzzy"] is False
    assert any(location.startswith("app/") for location in plain["locations"])
    plural = next(e for e in body["entries"] if e["id"] == PLURAL_MSGID)
    assert plural["plural"] == "%(num)d jobs were queued again."
    assert isinstance(plural["translation"], list) and len(plural["translation"]) == 3


def test_filters_untranslated_fuzzy_and_search(client, translator, catalogues):
    path = catalogues / "es" / "LC_MESSAGES" / "messages.po"
    catalog = _po(catalogues, "es")
    catalog[UI_MSGID].string = ""
    catalog[PERCENT_MSGID].flags.add("fuzzy")
    from babel.messages.pofile import write_po

    with path.open("wb") as handle:
        write_po(handle, catalog, width=76)
    untranslated = client.get(f"{API}/es?untranslated=1").json["entries"]
    assert [e["id"] for e in untranslated] == [UI_MSGID]
    fuzzy = client.get(f"{API}/es?fuzzy=1").json["entries"]
    assert [e["id"] for e in fuzzy] == [PERCENT_MSGID] and fuzzy[0]["fuzzy"] is True
    found = client.get(f"{API}/es", query_string={"search": "QUEUED AGAIN"}).json["entries"]
    assert PLURAL_MSGID in [e["id"] for e in found] and len(found) < 10
    assert client.get(f"{API}/es?search=zzzz-nothing").json["entries"] == []


# --- saving --------------------------------------------------------------------------------

def test_a_saved_translation_is_written_compiled_and_used_at_once(app, client, translator,
                                                                  catalogues):
    before = (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po").read_bytes()
    answer = client.put(f"{API}/pt_BR", json={"id": UI_MSGID, "translation": "Respostas padrão 2"})
    assert answer.status_code == 200, answer.json
    assert answer.json["entry"]["translation"] == "Respostas padrão 2"
    assert _po(catalogues, "pt_BR")[UI_MSGID].string == "Respostas padrão 2"
    backup = catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po.bak"
    assert backup.read_bytes() == before
    assert (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.mo").stat().st_mtime >= \
        (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po").stat().st_mtime - 1
    assert _entry(client, "pt_BR", UI_MSGID)["translation"] == "Respostas padrão 2"
    with app.test_request_context(), force_locale("pt_BR"):
        assert gettext(UI_MSGID) == "Respostas padrão 2"
    from app.extensions import db
    from app.models import AuditEntry

    row = db.session.query(AuditEntry).filter_by(model="Catalogue").one()
    assert (row.action, row.workspace_id, row.via) == ("update", None, "api")
    assert "translator" in row.actor_label
    assert row.row_label == f"pt_BR: {UI_MSGID}"
    assert row.changes["translation"][1] == "Respostas padrão 2"
    assert row.changes["translation"][0] != "Respostas padrão 2"
    # the rest of the catalogue is as it was (only that entry changed)
    others = [m for m in _po(catalogues, "pt_BR") if m.id and m.id != UI_MSGID]
    assert all(m.string for m in others if m.id)


def test_a_fuzzy_entry_is_no_longer_fuzzy_once_saved(client, translator, catalogues):
    path = catalogues / "tr" / "LC_MESSAGES" / "messages.po"
    catalog = _po(catalogues, "tr")
    catalog[UI_MSGID].flags.add("fuzzy")
    from babel.messages.pofile import write_po

    with path.open("wb") as handle:
        write_po(handle, catalog, width=76)
    assert _entry(client, "tr", UI_MSGID)["fuzzy"] is True
    assert client.put(f"{API}/tr", json={"id": UI_MSGID,
                                         "translation": "Varsayılan yanıtlar"}).status_code == 200
    assert _entry(client, "tr", UI_MSGID)["fuzzy"] is False


@pytest.mark.parametrize("msgid, wrong", [
    (PERCENT_MSGID, "%(minutes)d dk"),                       # one left out
    (PERCENT_MSGID, "%(minutos)d min %(seconds)d s"),        # a name translated
    (BRACE_MSGID, "{order_id}: {status} · início {start_count}"),
    (BRACE_MSGID, "{order_id}: {estado} · início {start_count} · resta {remains}"),
    (UI_MSGID, "Respostas {username}"),                      # one added
    (PERCENT_MSGID, "%(minutes)d min %(seconds)d s (100% certo)"),  # a lone % breaks the text
])
def test_a_placeholder_mistake_is_refused_and_nothing_changes(client, translator, catalogues,
                                                              msgid, wrong):
    before = (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po").read_bytes()
    answer = client.put(f"{API}/pt_BR", json={"id": msgid, "translation": wrong})
    assert answer.status_code == 400
    assert "placeholders" in answer.json["message"] or "%%" in answer.json["message"]
    assert (catalogues / "pt_BR" / "LC_MESSAGES" / "messages.po").read_bytes() == before


def test_plural_forms_are_saved_as_a_list_of_the_languages_forms(client, translator,
                                                                 catalogues):
    forms = ["%(num)d задание снова в очереди.", "%(num)d задания снова в очереди.",
             "%(num)d заданий снова в очереди."]
    answer = client.put(f"{API}/ru", json={"id": PLURAL_MSGID, "translation": forms})
    assert answer.status_code == 200, answer.json
    assert _entry(client, "ru", PLURAL_MSGID)["translation"] == forms
    assert list(_po(catalogues, "ru")[PLURAL_MSGID].string) == forms
    # a form without the number is allowed ("one job"), a wrong name is not
    assert client.put(f"{API}/ru", json={"id": PLURAL_MSGID, "translation": [
        "Одно задание снова в очереди.", *forms[1:]]}).status_code == 200
    refused = client.put(f"{API}/ru", json={"id": PLURAL_MSGID, "translation": [
        forms[0], forms[1], "%(count)d заданий снова в очереди."]})
    assert refused.status_code == 400 and "placeholders" in refused.json["message"]
    # the number of forms is the language's
    assert client.put(f"{API}/ru", json={"id": PLURAL_MSGID,
                                         "translation": forms[:2]}).status_code == 400
    assert client.put(f"{API}/ru", json={"id": PLURAL_MSGID,
                                         "translation": forms[0]}).status_code == 400


@pytest.mark.parametrize("body", [
    None, [], "text", {"translation": "x"}, {"id": 5, "translation": "x"},
    {"id": UI_MSGID}, {"id": UI_MSGID, "translation": 3},
    {"id": UI_MSGID, "translation": ["a"]}, {"id": UI_MSGID, "context": 4, "translation": "x"},
    {"id": UI_MSGID, "translation": "x" * 10_001}, {"id": UI_MSGID, "translation": "a\x00b"},
])
def test_a_bad_body_is_400(client, translator, body):
    if body is None:
        answer = client.put(f"{API}/es", data="not json", content_type="application/json")
    else:
        answer = client.put(f"{API}/es", json=body)
    assert answer.status_code == 400
    assert answer.json["message"]


def test_unknown_language_and_unknown_text_are_404(client, translator):
    assert client.get(f"{API}/xx").status_code == 404
    assert client.get(f"{API}/en").status_code == 404
    assert client.put(f"{API}/xx", json={"id": UI_MSGID, "translation": "x"}).status_code == 404
    missing = client.put(f"{API}/es", json={"id": "No such text anywhere", "translation": "x"})
    assert missing.status_code == 404 and missing.json["message"]
    wrong_context = client.put(f"{API}/es", json={"id": UI_MSGID, "context": "nope",
                                                  "translation": "x"})
    assert wrong_context.status_code == 404
    for path in ("..", "..%2F..%2Fetc", "%2E%2E", "es%2F..%2Fru"):
        assert client.get(f"{API}/{path}").status_code == 404, path


def test_saves_at_the_same_moment_keep_each_others_edits(app, catalogues, redis_conn):
    catalog = _po(catalogues, "id")
    msgids = [m.id for m in catalog if m.id and isinstance(m.id, str)
              and not editor.placeholders(m.id)][:12]
    errors = []

    def save(msgid):
        try:
            with app.app_context():
                editor.save_translation("id", msgid, None, f"edited: {msgid}")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(msgid,)) for msgid in msgids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    saved = _po(catalogues, "id")
    assert [saved[msgid].string for msgid in msgids] == [f"edited: {m}" for m in msgids]


# --- new languages -------------------------------------------------------------------------

def test_a_new_language_is_added_from_the_template(client, translator, catalogues):
    answer = client.post(API, json={"language": "fr"})
    assert answer.status_code == 201 and answer.json == {"language": "fr"}
    entries = client.get(f"{API}/fr").json["entries"]
    assert len(entries) > 1000
    assert all(not e["translation"] or e["translation"] == [""] * len(e["translation"])
               for e in entries)
    plural = next(e for e in entries if e["id"] == PLURAL_MSGID)
    assert plural["translation"] == ["", ""]
    saved = client.put(f"{API}/fr", json={"id": UI_MSGID, "translation": "Réponses par défaut"})
    assert saved.status_code == 200
    assert client.get(f"{API}/fr?untranslated=1").json["entries"][0]["id"] != UI_MSGID
    assert client.post(API, json={"language": "pt-pt"}).json == {"language": "pt_PT"}
    assert (catalogues / "pt_PT" / "LC_MESSAGES" / "messages.po").exists()


@pytest.mark.parametrize("language", [
    "../x", "../../etc", "fr/../../x", "/tmp/x", "xx", "english", "", None, 7, ["fr"],
    "fr\x00", "en",
])
def test_a_language_that_is_not_one_is_refused(client, translator, catalogues, language):
    before = sorted(p.name for p in catalogues.iterdir())
    answer = client.post(API, json={"language": language})
    assert answer.status_code == 400, language
    assert answer.json["message"]
    assert sorted(p.name for p in catalogues.iterdir()) == before
    assert not (catalogues.parent / "x").exists()


def test_a_language_added_twice_is_409(client, translator):
    assert client.post(API, json={"language": "es"}).status_code == 409
    assert client.post(API, data="x", content_type="application/json").status_code == 400


# --- live in other processes ---------------------------------------------------------------

def test_a_running_worker_uses_the_new_text_within_ten_seconds(app, client, translator,
                                                               catalogues, redis_conn,
                                                               tmp_path):
    log_path = tmp_path / "worker.log"
    with worker_process(catalogues, tmp_path / "instance", log_path) as worker:
        first = run_reply_job(redis_conn, "pt_BR", worker, log_path)
        assert first.startswith("Nosso painel não está respondendo agora")
        edited = "Nosso painel está em manutenção. Volte em alguns minutos."
        saved = client.put(f"{API}/pt_BR", json={"id": REPLY_MSGID, "translation": edited})
        assert saved.status_code == 200
        started = time.monotonic()
        while True:
            reply = run_reply_job(redis_conn, "pt_BR", worker, log_path)
            if reply == edited:
                print(f"worker saw the edit after {time.monotonic() - started:.2f} s")
                break
            assert time.monotonic() - started < 10, f"still {reply!r} after 10 s"
            time.sleep(0.2)
        assert worker.poll() is None  # the same process, no restart


def test_a_process_forgets_its_texts_only_when_the_version_changed(app, redis_conn):
    state_key = "relaydesk_catalogue_watch"
    app.extensions.pop(state_key, None)
    with app.test_request_context(), force_locale("es"):
        gettext(UI_MSGID)
        domain = app.extensions["babel"].instance.domain_instance
        assert editor.refresh_if_changed(app, now=1000.0) is True  # first look
        gettext(UI_MSGID)
        assert domain.cache
        assert editor.refresh_if_changed(app, now=1010.0) is False  # nothing changed
        assert domain.cache
        redis_conn.incr(editor.CATALOGUE_VERSION_KEY)
        assert editor.refresh_if_changed(app, now=1011.0) is False  # looked 1 s ago
        assert editor.refresh_if_changed(app, now=1013.0) is True
        assert not domain.cache
    app.extensions.pop(state_key, None)


# --- the screen ----------------------------------------------------------------------------

def test_the_screen_lists_pages_of_entries_and_refuses_a_mistake_beside_the_field(
        client, translator, catalogues):
    overview = client.get("/translations/")
    assert overview.status_code == 200
    for code in ("es", "pt_BR", "ru", "tr", "id", "ar"):
        assert f'data-language="{code}"' in overview.text
    first = client.get("/translations/?language=ru")
    assert first.status_code == 200
    assert first.text.count('class="panel panel-default catalogue-entry"') == 25
    assert 'id="catalogue-pages"' in first.text
    last = client.get("/translations/?language=ru&page=9999")
    assert last.status_code == 200 and "catalogue-entry" in last.text
    plural = client.get("/translations/", query_string={"language": "ru",
                                                        "search": "job was queued again"})
    assert plural.text.count('name="translation"') >= 3  # one field per plural form
    refused = client.post("/translations/save", data={
        "language": "ru", "id": PERCENT_MSGID, "context": "", "plural": "0",
        "translation": "%(minutes)d мин", "search": "%(minutes)d min"})
    assert refused.status_code == 200
    assert "catalogue-error" in refused.text and "%(minutes)d мин</textarea>" in refused.text
    saved = client.post("/translations/save", data={
        "language": "ru", "id": PERCENT_MSGID, "context": "", "plural": "0",
        "translation": "%(minutes)d мин. %(seconds)d с"})
    assert saved.status_code == 302 and "language=ru" in saved.headers["Location"]
    assert _po(catalogues, "ru")[PERCENT_MSGID].string == "%(minutes)d мин. %(seconds)d с"
    assert client.get("/translations/?language=../es").status_code == 404
    assert client.post("/translations/save", data={
        "language": "ru", "id": "No such text", "translation": "x"}).status_code == 404
    added = client.post("/translations/add", data={"new_language": "de"})
    assert added.status_code == 302 and "language=de" in added.headers["Location"]
    assert client.post("/translations/add", data={"new_language": "../x"}).status_code == 302
    assert "de" in editor.languages() and not (catalogues.parent / "x").exists()
