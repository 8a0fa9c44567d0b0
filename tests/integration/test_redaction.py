"""The panel echoes its key: the key appears in no trace, status, flash, call log or log line
(issue 10, deliverable 3; app/redaction.py)."""
from __future__ import annotations

import io
import json
import logging

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Channel, CommandLog, ExternalCall, InboundEvent, OutboundMessage
from app.redaction import (REDACTED, RedactingFilter, install_log_filter, redact, redact_data,
                           remember)
from tests.integration.pipeline_support import build_desk, seed_refill_order, send

KEY = "pp-admin-key"  # the fake panel's admin key (tests/fakes/perfectpanel.py)
ORDER = "2274209"


@pytest.fixture
def pp(fake_perfectpanel):
    return seed_refill_order(fake_perfectpanel, ORDER, "EXT-1")


@pytest.fixture
def log_text():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    root.addHandler(handler)
    install_log_filter()
    yield stream
    root.removeHandler(handler)


def everything_stored() -> str:
    """Every text column of every row the command could have touched, raw from the database."""
    parts = []
    with db.engine.connect() as connection:
        for model in (CommandLog, ExternalCall, InboundEvent, OutboundMessage, Channel):
            for row in connection.execute(sa.select(model.__table__)):
                parts.append(json.dumps([str(v) for v in row], ensure_ascii=False))
    return "\n".join(parts)


def test_a_key_echoed_by_the_panel_reaches_no_trace_call_log_or_log(client, factory, pp,
                                                                      redis_conn, log_text):
    desk = build_desk(factory, pp.url, api_key=KEY)
    pp.error_next(401, f"Invalid API key: {KEY} (length {len(KEY)})", n=10)
    logging.getLogger("app.test").warning("the panel said %s", f"Invalid API key: {KEY}")
    log = send(client, desk.channel, f"{ORDER} refill")
    assert pp.request_count >= 1, "the panel was never asked: the test proves nothing"
    trace = json.dumps(log.trace)
    assert "Invalid API key" in trace and REDACTED in trace, trace  # the echo arrived, redacted
    stored = everything_stored()
    assert KEY not in stored
    assert KEY not in log_text.getvalue()
    assert REDACTED in log_text.getvalue()


def test_test_connection_shows_and_stores_no_echoed_key(client, factory, auth, pp, redis_conn):
    desk = build_desk(factory, pp.url, api_key=KEY)
    factory.member(desk.workspace, "acme-manager", "manager")
    auth.login("acme-manager")
    pp.error_next(401, f"Invalid API key: {KEY}", n=10)
    response = client.post(f"/panelconnectionview/action/test_panel/{desk.panel.id}",
                           follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The panel refused the API key." in page  # the flash: a sentence, no upstream text
    assert KEY not in page
    stored = db.session.get(type(desk.panel), desk.panel.id).status_detail
    assert "Invalid API key" in stored, "the upstream text was not kept: nothing was tested"
    show = client.get(f"/panelconnectionview/show/{desk.panel.id}").get_data(as_text=True)
    assert "Invalid API key" in show and KEY not in show  # folded technical detail
    with client.session_transaction() as session:
        assert KEY not in json.dumps(session.get("_flashes", []))
    db.session.expire_all()
    assert KEY not in (db.session.get(type(desk.panel), desk.panel.id).status_detail or "")
    assert KEY not in everything_stored()


def test_an_exception_quoting_a_secret_is_logged_redacted(log_text):
    secret = "tok-3f9a8b7c6d5e"
    remember(secret)
    try:
        raise RuntimeError(f"GET https://api.example/bot{secret}/getMe failed")
    except RuntimeError:
        logging.getLogger("app.jobs").exception("send failed for %s", secret)
    text = log_text.getvalue()
    assert "send failed for ****" in text and "getMe failed" in text
    assert secret not in text


def test_status_details_and_errors_are_redacted_whoever_sets_them(factory):
    ws = factory.workspace("redact")
    channel = factory.channel(ws, kind="telegram", bot_token="123456:AAsecret-bot-token")
    channel.status_detail = "Unauthorized for token 123456:AAsecret-bot-token"
    db.session.commit()
    raw = db.session.execute(sa.text("SELECT status_detail FROM channel WHERE id = :i"),
                             {"i": channel.id}).scalar()
    assert raw == f"Unauthorized for token {REDACTED}"


def test_redact_forms():
    remember("abcdef123456", "short")
    assert redact("key=abcdef123456&x=1") == f"key={REDACTED}&x=1"
    assert redact("short stays") == "short stays"  # below the minimum length: not tracked
    remember("sp ace/slash+plus")
    assert redact("q=sp%20ace%2Fslash%2Bplus") == f"q={REDACTED}"
    assert redact("q=sp+ace%2Fslash%2Bplus") == f"q={REDACTED}"
    assert redact("given xyzw1", extra=("xyzw1",)) == f"given {REDACTED}"
    assert redact(None) is None and redact(5) == 5
    assert redact_data({"a": ["abcdef123456", 3], "b": ("abcdef123456",)}) == {
        "a": [REDACTED, 3], "b": (REDACTED,)}


def test_the_filter_keeps_records_usable():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "n=%d %s", (3, "abcdef123456"),
                               None)
    assert RedactingFilter().filter(record)
    assert record.getMessage() == f"n=3 {REDACTED}"


def test_template_gettext_escapes_what_the_catalogues_do_not_know(app):
    """FAB prints every form error through `_()`, which Jinja marks safe: typed input quoted in
    an error must still come out escaped, while catalogue texts stay as translated."""
    from flask import render_template_string

    with app.test_request_context("/"):
        html = render_template_string("{{ _(x) }}|{{ _('Channels') }}",
                                      x='Bad {<img src=x onerror=alert(1)>}')
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.endswith("|Channels")
    with app.test_request_context("/", headers={"Accept-Language": "ru"}):
        from flask_babel import refresh

        refresh()
        html = render_template_string("{{ _('Channels') }}")
    assert html in ("Каналы", "Channels")
