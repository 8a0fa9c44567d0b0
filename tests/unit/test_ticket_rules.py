"""Subject rules of the panel ticket workflow (app/domain/ticket_rules.py): plain words, folded,
the defaults in every shipped language, bounds, and nothing a customer writes is a pattern."""
from __future__ import annotations

import time

import pytest

from app.domain.ticket_rules import (DEFAULT_RULES, MAX_WORDS, Rule, choose, fold, might_match,
                                     words_problem)


@pytest.mark.parametrize("subject, action", [
    ("Order - Refill", "refill"), ("order - REFILL", "refill"), ("Speed up", "speed"),
    ("Order - Speed Up", "speed"), ("Cancel", "cancel"), ("Refund", "cancel"),
    ("Order - Cancel and refund", "cancel"),
    # es
    ("Pedido - Recarga", "refill"), ("Pedido - Reposición", "refill"),
    ("Acelerar pedido", "speed"), ("Cancelación", "cancel"), ("Reembolso", "cancel"),
    # pt_BR
    ("Pedido - Reposição", "refill"), ("Pedido - Reposicao", "refill"),
    ("Velocidade", "speed"), ("Cancelamento", "cancel"),
    # ru
    ("Заказ - Рефилл", "refill"), ("Восстановление", "refill"), ("Ускорение заказа", "speed"),
    ("Отмена", "cancel"), ("Возврат средств", "cancel"),
    # tr
    ("Sipariş - Telafi", "refill"), ("SİPARİŞ - TELAFİ", "refill"), ("Hızlandırma", "speed"),
    ("İptal", "cancel"), ("İade", "cancel"),
    # id
    ("Pesanan - Isi ulang", "refill"), ("Percepat", "speed"), ("Pembatalan", "cancel"),
    # ar
    ("طلب - إعادة تعبئة", "refill"), ("تسريع الطلب", "speed"), ("إلغاء", "cancel"),
    ("استرداد", "cancel"),
])
def test_default_subjects_in_every_shipped_language(subject, action):
    rule = choose([], subject, "2274209")
    assert rule is not None and rule.action == action and rule.builtin


@pytest.mark.parametrize("subject", ["Payment", "Other", "Pagamento", "Оплата", "Ödeme",
                                     "Hello", "", None, "Hizmet listesi"])
def test_other_subjects_match_no_default(subject):
    assert choose([], subject, "2274209 refill") is None


def test_short_words_stand_alone():
    # "iade" must not be found inside another word; "hız" neither
    assert choose([], "Kampanya hizmeti", "x") is None
    assert choose([], "Hız", "x").action == "speed"


def test_workspace_rules_come_first_and_need_every_part():
    both = Rule.of("both", "details", subject="order", message="where is, status")
    ignore = Rule.of("refunds by hand", "ignore", subject="refund")
    assert choose([ignore, both], "Refund", "x") is ignore
    assert choose([ignore, both], "Order - Refill", "where is my order") is both
    assert choose([ignore, both], "Order - Refill", "2274209").action == "refill"
    assert choose([Rule.of("empty", "cancel")], "anything", "anything") is None
    assert choose([both], "Order", "status?", with_defaults=False) is both


def test_words_are_literal_never_patterns():
    rule = Rule.of("odd", "details", subject="(.*)+$, a.b")
    assert choose([rule], "(.*)+$ please", "", with_defaults=False) is rule
    assert choose([rule], "axb", "", with_defaults=False) is None
    started = time.perf_counter()
    evil = "a" * 20_000 + "!"
    for _ in range(20):
        choose([rule, *DEFAULT_RULES], evil, evil)
    assert time.perf_counter() - started < 2.0


def test_fold():
    assert fold("  ORDER -- Refill ") == "order refill"
    assert fold("İPTAL") == fold("iptal") == fold("ıptal")
    assert fold("Reposição") == "reposicao"
    assert fold("إلغاء") == fold("الغاء")


@pytest.mark.parametrize("text, problem", [
    (None, None), ("", None), ("refill, recarga", None), ("a" * 81, "word_too_long"),
    ("ok, refill", "word_too_short"), (", ".join(f"w{n:03d}" for n in range(MAX_WORDS + 1)),
                                       "too_many"),
    ("refill," * 400, "too_long"),
])
def test_words_problem(text, problem):
    assert words_problem(text) == problem


def test_might_match_saves_reading_tickets_no_rule_could_match():
    assert might_match([], "Order - Refill")
    assert not might_match([], "Payment")
    assert might_match([Rule.of("m", "details", message="status")], "Payment")
