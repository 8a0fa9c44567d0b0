"""Every customer reply in every shipped language, plural forms included.

The catalogues are compiled in memory from translations/<lang>/LC_MESSAGES/messages.po and
asked the way the pipeline asks them (app/jobs/replies.py `ReplyBook`: `ungettext` with the
number of orders a line lists, `ugettext` for the rest). Each text must be a real translation,
a valid template of its key, and render every id it is given; the plural form must follow the
language's rule (Russian: 1 and 21 share a form, 2 and 5 do not; Arabic: six forms).
"""
from __future__ import annotations

import gettext
import io

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from app.domain.replies import (COUNTED_REPLIES, DEFAULT_REPLIES, Outcome, PLAIN_REPLIES, compose,
                                english, render_reply)
from app.domain.templates import compile_template, reply_kind
from tests.unit.test_translations import SHIPPED, _po_path

COUNTS = {"ru": (1, 2, 5, 21), "ar": (0, 1, 2, 3, 11, 100)}
IDS = [str(2_274_219 + k) for k in range(100)]


def _translations(code: str) -> gettext.GNUTranslations:
    with _po_path(code).open("rb") as handle:
        catalogue = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


CATALOGUES = {code: _translations(code) for code in SHIPPED}


def _values(key: str, count: int) -> dict:
    return {"order_ids": IDS[:count], "count": count, "time_left": "3h", "max_ids": count,
            "order_id": "2274219", "status": "Completed", "start_count": "10", "remains": "0",
            "balance": "12.50 USD", "username": "alice",
            "choices": "\"2274219 refill\" · \"2274219 cancel\""}


def _counts(code: str) -> tuple[int, ...]:
    return COUNTS.get(code, (1, 2, 5))


CASES = [(code, key, count) for code in SHIPPED for key in COUNTED_REPLIES
         for count in _counts(code)]


@pytest.mark.parametrize(("code", "key", "count"), CASES,
                         ids=[f"{c}-{k}-{n}" for c, k, n in CASES])
def test_every_counted_reply_in_every_language_and_plural_form(code, key, count):
    one, other = COUNTED_REPLIES[key]
    text = CATALOGUES[code].ngettext(one, other, count)
    assert text not in (one, other), f"{code} {key}: not translated"
    template = compile_template(reply_kind(key), text)  # raises if not a valid template
    rendered = template.render(_values(key, count))
    assert "{" not in rendered and "}" not in rendered, rendered
    if key != "too_many_ids" and count:
        assert all(order_id in rendered for order_id in IDS[:count]), rendered
    if count >= 3:  # a form used for 3 or more states the number (no dual/singular wording)
        assert str(count) in rendered, (code, key, count, rendered)


@pytest.mark.parametrize("code", SHIPPED)
@pytest.mark.parametrize("key", sorted(PLAIN_REPLIES))
def test_every_plain_reply_in_every_language(code, key):
    text = CATALOGUES[code].gettext(PLAIN_REPLIES[key])
    assert text != PLAIN_REPLIES[key], f"{code} {key}: not translated"
    rendered = compile_template(reply_kind(key), text).render(_values(key, 1))
    assert "{" not in rendered.replace("{{", ""), rendered


def test_russian_plural_forms_follow_the_number():
    ru = CATALOGUES["ru"]
    one, other = COUNTED_REPLIES["not_owner"]

    def said(count):
        return compile_template(reply_kind("not_owner"), ru.ngettext(one, other, count)) \
            .render(_values("not_owner", count))

    assert said(1).startswith("1 заказ не числится")
    assert said(21).startswith("21 заказ не числится")
    assert said(2).startswith("2 заказа не числятся")
    assert said(5).startswith("5 заказов не числятся")
    assert len({ru.ngettext(one, other, n) for n in (1, 2, 5)}) == 3
    assert ru.ngettext(one, other, 1) == ru.ngettext(one, other, 21)


def test_arabic_has_six_distinct_forms():
    ar = CATALOGUES["ar"]
    for key, (one, other) in COUNTED_REPLIES.items():
        forms = [ar.ngettext(one, other, n) for n in (0, 1, 2, 3, 11, 100)]
        assert len(set(forms)) == 6, (key, forms)
    one, other = COUNTED_REPLIES["not_owner"]
    assert ar.ngettext(one, other, 1) == "هذا الطلب ليس في حسابك: {order_ids}"
    assert ar.ngettext(one, other, 2) == "هذان الطلبان ليسا في حسابك: {order_ids}"
    assert "{count} طلبات" in ar.ngettext(one, other, 3)
    assert "{count} طلبًا" in ar.ngettext(one, other, 11)
    assert "{count} طلب" in ar.ngettext(one, other, 100)


def test_english_says_one_order_in_the_singular():
    assert compose([Outcome("2274219", "refill", "not_owner")], english) == \
        "This order is not on your account: 2274219"
    assert compose([Outcome("2274219", "refill", "not_owner"),
                    Outcome("2274220", "refill", "not_owner")], english) == \
        "These 2 orders are not on your account: 2274219, 2274220"
    assert render_reply("too_many_ids", count=1, max_ids=1) == \
        "Please send at most 1 order id in one message."
    assert render_reply("too_many_ids", count=10, max_ids=10) == \
        "Please send at most 10 order ids in one message."


def test_every_counted_key_has_a_one_variant_with_the_same_placeholders():
    for key in COUNTED_REPLIES:
        assert DEFAULT_REPLIES[key + "_one"] == COUNTED_REPLIES[key][0]
        assert reply_kind(key + "_one").placeholders == reply_kind(key).placeholders


@pytest.mark.parametrize("key", sorted(COUNTED_REPLIES))
def test_arabic_text_for_any_count_is_not_the_dual(key):
    """The text of a counted key for any number of orders (built-in replies screen, a new
    override, a line without a count) is Arabic's general plural: no dual, no singular, no
    number, and no prefix written apart from its noun."""
    from app.domain.replies import general_count

    ar = CATALOGUES["ar"]
    one, other = COUNTED_REPLIES[key]
    general = ar.ngettext(one, other, general_count("ar"))
    assert general_count("ar") != 2 and general_count("en") == 2
    assert general != ar.ngettext(one, other, 2) and general != ar.ngettext(one, other, 1)
    for dual in ("هذين", "هذان", "الطلبين", "الطلبان", "رقمي"):
        assert dual not in general, (key, general)
    assert "{count}" not in general, (key, general)
    for n in (0, 1, 2, 3, 11, 100):
        assert "لـ ال" not in ar.ngettext(one, other, n), (key, n)
        assert "أرقام أرقام" not in ar.ngettext(one, other, n), (key, n)
