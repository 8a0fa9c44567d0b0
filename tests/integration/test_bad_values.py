"""Every field of the Playground and the Translations forms sent bad values over HTTP by a
signed-in user: missing, empty, 100 KB, the wrong type, unknown and other workspaces' ids,
HTML and script, NUL bytes, boxes left off. Each is answered with a clear error beside the
field (the form again, what was typed kept) or a 400/404, never a 500, and nothing is stored
or sent."""
from __future__ import annotations

import re
from html import unescape

import pytest

from app.extensions import db
from app.models import InboundEvent, OutboundMessage
from tests.integration.test_catalogue_editor import catalogues, translator  # noqa: F401
from tests.integration.test_playground import CUSTOMER, demo_manager

BIG = "x" * 100_000
SCRIPT = "<script>alert(1)</script>"
MISSING = object()


def field_cell(page: str, name: str) -> str:
    """The markup of the Playground's form group holding the field `name`."""
    found = re.search(rf'<(?:input|select|textarea)\b[^>]*\bname="{name}"', page)
    assert found, f"no field {name} on the page"
    start = page.rfind('<div class="form-group', 0, found.start())
    end = page.find('<div class="form-group', found.end())
    return page[start:end if end > 0 else len(page)]


def error_beside(page: str, name: str) -> str | None:
    cell = field_cell(page, name)
    if "has-error" not in cell[:cell.find(">")]:
        return None
    texts = re.findall(r'<span class="help-block field-error">(.*?)</span>', cell, re.S)
    return " ".join(unescape(t).strip() for t in texts) or None


# --- Playground ---------------------------------------------------------------------------------

PLAYGROUND_CASES = [
    # (field, value, words of the error beside that field)
    ("channel_id", MISSING, "Choose a channel"),
    ("channel_id", "", "Choose a channel"),
    ("channel_id", "abc", "Choose a channel"),
    ("channel_id", "1.5", "Choose a channel"),
    ("channel_id", "-1", "Choose a channel"),
    ("channel_id", "99999999999999999999", "Choose a channel"),
    ("channel_id", "987654", "Choose a channel"),
    ("channel_id", "OTHER", "Choose a channel"),
    ("channel_id", "1\x00", "Choose a channel"),
    ("channel_id", BIG, "Choose a channel"),
    ("chat_id", MISSING, "chat id"),
    ("chat_id", "", "chat id"),
    ("chat_id", "   ", "chat id"),
    ("chat_id", BIG, "at most 160"),
    ("chat_id", "7900\x00123@c.us", "control characters"),
    ("chat_id", "7900\r\n123@c.us", "control characters"),
    ("text", MISSING, "Write a message"),
    ("text", "", "Write a message"),
    ("text", " \n ", "Write a message"),
    ("text", BIG, "at most 4000"),
    ("text", "2274209 refill\x00", "NUL"),
]


@pytest.mark.parametrize("for_real", [False, True], ids=["dry", "for_real"])
@pytest.mark.parametrize("field,value,words", PLAYGROUND_CASES,
                         ids=[f"{f}-{i}" for i, (f, _v, _w) in enumerate(PLAYGROUND_CASES)])
def test_playground_refuses_each_bad_value_beside_its_field(factory, auth, client, field,
                                                            value, words, for_real):
    workspace, channel = demo_manager(factory)
    other, _manager = factory.populated_workspace("bravo")
    foreign = factory.channel(other, name="Theirs")
    auth.login("demo-manager")
    data = {"channel_id": str(channel.id), "chat_id": CUSTOMER, "text": "2274209 refill"}
    if for_real:
        data["for_real"] = "y"
    if value is MISSING:
        data.pop(field)
    else:
        data[field] = str(foreign.id) if value == "OTHER" else value
    response = client.post("/playground/", data=data)
    assert response.status_code in (200, 400), response.status_code
    page = response.get_data(as_text=True)
    error = error_beside(page, field)
    assert error and words.lower() in error.lower(), (field, error)
    assert "Refill requested" not in page and "Theirs" not in page
    # nothing stored, nothing sent
    assert db.session.query(InboundEvent).count() == 0
    assert db.session.query(OutboundMessage).count() == 0
    # what was typed is kept (the other fields as they were; this one without NUL)
    if field != "chat_id":
        assert f'value="{CUSTOMER}"' in page
    if field != "text":
        assert ">2274209 refill</textarea>" in page
    if value is BIG and field in ("chat_id", "text"):
        assert BIG in page


def test_playground_shows_html_and_script_as_text(factory, auth, client):
    workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    page = client.post("/playground/", data={
        "channel_id": channel.id, "chat_id": f"{SCRIPT}@c.us",
        "text": f"2274209 refill {SCRIPT}"}).get_data(as_text=True)
    assert SCRIPT not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert error_beside(page, "chat_id") is None and error_beside(page, "text") is None


def test_playground_boxes_left_off_are_a_dry_run_of_a_private_chat(factory, auth, client):
    workspace, channel = demo_manager(factory)
    auth.login("demo-manager")
    for extra in ({}, {"is_group": "maybe", "for_real": ""}):
        page = client.post("/playground/", data={
            "channel_id": channel.id, "chat_id": CUSTOMER, "text": "2274209 refill",
            **extra}).get_data(as_text=True)
        assert "Refill requested: 2274209" in page
    assert db.session.query(InboundEvent).count() == 0


# --- Translations -------------------------------------------------------------------------------

SAVE_ID = "Saved."  # any entry of the catalogue; replaced by a real one below
ENTRY = "Choose a channel."


@pytest.mark.parametrize("field,value,statuses", [
    ("language", MISSING, (404,)), ("language", "", (404,)), ("language", "xx", (404,)),
    ("language", "../../etc", (404,)), ("language", "es\x00", (404,)),
    ("language", BIG, (404,)),
    ("id", MISSING, (200, 400)), ("id", "", (200, 400)), ("id", "no such text here", (404,)),
    ("id", BIG, (404,)), ("id", "Choose\x00", (404,)),
    ("context", "no-such-context", (404,)), ("context", BIG, (404,)),
    ("translation", MISSING, (400,)), ("translation", BIG, (200,)),
    ("translation", "Elija\x00", (200,)), ("translation", ["a", "b", "c"], (400,)),
    ("plural", "1", (200,)),
])
def test_translations_save_refuses_each_bad_value(client, translator, catalogues, field,  # noqa: F811
                                                  value, statuses):
    from babel.messages.pofile import read_po

    path = catalogues / "es" / "LC_MESSAGES" / "messages.po"
    before = path.read_bytes()
    data = {"language": "es", "id": ENTRY, "translation": "Elija un canal."}
    if value is MISSING:
        data.pop(field)
    else:
        data[field] = value
    response = client.post("/translations/save", data=data)
    assert response.status_code in statuses, (response.status_code,
                                              response.get_data(as_text=True)[:300])
    assert path.read_bytes() == before  # nothing saved
    if response.status_code in (200, 400):  # the page again, the error beside the entry or above
        page = response.get_data(as_text=True)
        errors = re.findall(r'class="help-block catalogue-error"[^>]*>(.*?)<', page, re.S)
        errors += re.findall(r'class="alert alert-danger[^"]*"[^>]*>(.*?)</div>', page, re.S)
        assert [e for e in errors if e.strip()], page[:500]
        assert "\x00" not in page
    with path.open("rb") as handle:
        assert read_po(handle).get(ENTRY) is not None


@pytest.mark.parametrize("value", [MISSING, "", "xx-not-a-language", BIG, "es\x00",
                                   "../../../etc", SCRIPT, "es", "en"])
def test_translations_add_refuses_each_bad_value(client, translator, catalogues, value):  # noqa: F811
    languages = sorted(p.name for p in catalogues.iterdir() if p.is_dir())
    data = {} if value is MISSING else {"new_language": value}
    response = client.post("/translations/add", data=data)
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "alert-danger" in page or "alert-warning" in page
    assert SCRIPT not in page
    assert sorted(p.name for p in catalogues.iterdir() if p.is_dir()) == languages


def test_translations_page_filters_take_bad_values(client, translator, catalogues):  # noqa: F811
    for query in ("?language=es&page=abc", "?language=es&page=-5", f"?language=es&search={BIG}",
                  "?language=es&search=%00", "?language=es&page=99999999999999999999",
                  "?language=xx", "?language=", f"?language=es&untranslated={SCRIPT}"):
        response = client.get(f"/translations/{query}")
        assert response.status_code in (200, 400, 404), (query, response.status_code)
