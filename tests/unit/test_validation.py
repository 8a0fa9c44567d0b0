"""The shared checks of app/validation.py, value by value (no database)."""
from __future__ import annotations

import pytest

from app.validation import (CHAT_ID_EXAMPLES, COLUMN_RULES, CURRENCIES, ISO_639_1, FieldError,
                            FieldErrors, chat_id_problem, marshmallow_validator)

ALL_RULES = {rule for columns in COLUMN_RULES.values() for rules in columns.values()
             for rule in rules}


@pytest.mark.parametrize("rule", sorted(ALL_RULES, key=lambda r: r.name), ids=lambda r: r.name)
def test_every_rule_passes_its_valid_example_and_refuses_its_invalid_one(rule):
    assert rule.problem(rule.valid_example) is None
    message = rule.problem(rule.invalid_example)
    assert message and isinstance(message, str)


@pytest.mark.parametrize("rule", sorted(ALL_RULES, key=lambda r: r.name), ids=lambda r: r.name)
def test_blank_is_left_to_required(rule):
    if rule.checks_blank:  # declared: a list that may not be empty ("Choose at least one.")
        assert rule.problem("  ") and rule.problem([])
        return
    assert rule.problem(None) is None and rule.problem("  ") is None


RULES = {rule.name: rule for rule in ALL_RULES}


@pytest.mark.parametrize("name, good, bad", [
    ("language", ["en", "pt_BR", "de", "es", "ar", "en_GB"],
     ["klingon", "xx", "EN", "pt-br", "pt_br", "tlh", "e"]),
    ("timezone", ["UTC", "Europe/Istanbul", "America/Sao_Paulo"],
     ["Mars/Olympus", "utc/", "Europe/Nowhere", "../etc/passwd"]),
    ("currency", ["USD", "EUR", "TRY", "IDR", "BRL"], ["dollars", "usd", "DOL", "US", "XXX"]),
    ("slug", ["acme", "acme-smm", "a1", "7"], ["Acme Shop!", "acme_", "-acme", "acme-", "ACME",
                                               "a" * 65]),
    ("instance_id", ["7103123456", "1101"], ["abc", "71 03", "7103a", "-1"]),
    ("actions", ["refill", "refill, speed, cancel", "Refill,Speed"],
     ["refil, boost", "refill, refill", "details", ", ,"]),
    ("cooldown", [0, "0", 86400, 365 * 86400], [-5, "-1", 365 * 86400 + 1, "soon"]),
    ("max_ids", [1, 1000], [0, -3, 1001]),
    ("price", [0, 1900], [-500, -1]),
    ("amount", [1, 1900], [0, -100]),
    ("requests_per_second", [0.1, 5, 100], [0, 0.05, 101]),
    ("timeout", [1, 300], [0, 301]),
    ("plan_limit", [0, 1, 10_000_000], [-1, 10_000_001, 10**20, "many"]),
    ("plan_mediums", ["greenapi", "greenapi,meta,telegram,webchat", ["telegram", "webchat"]],
     ["sms", "greenapi,sms", "greenapi,greenapi", ["meta", "meta"], "", []]),
    ("plan_modules", ["api", "tickets,broadcasts,service_cache,api,inbox,marketing",
                      ["tickets"], "", []],
     ["crm", "api,api", ["api", "API"]]),
    ("plan_code", ["free", "pro", "team-2026", "pro_yearly", "x"],
     ["Pro", "pro plan", "-pro", "pro-", "a" * 41, "<b>"]),
    ("plain_name", ["Pro", "Pro & Co", "A < B", "Pro (yearly)"],
     ["<b>Gold</b>", "<script>alert(1)</script>", "x</p>", "<!-- -->", "<img src=x>"]),
    ("stripe_price_id", ["price_1MoBy5LkdIwHu7ix"], ["prod_NZKdYqrwEYx6iK", "price_", "1234"]),
    ("razorpay_plan_id", ["plan_NkFzqNqLZRsYfX"], ["sub_NkFzqNqLZRsYfX", "plan_", "plan x"]),
])
def test_rule_values(name, good, bad):
    rule = RULES[name]
    for value in good:
        assert rule.problem(value) is None, value
    for value in bad:
        assert rule.problem(value) is not None, value


@pytest.mark.parametrize("kind, good, bad", [
    ("greenapi", ["79001234567@c.us", "120363000000000001@g.us", "79001234567-1581234048@g.us"],
     ["hello world", "79001234567", "abc@c.us", "79001234567@s.whatsapp.net", "-100123"]),
    ("telegram", ["123456789", "-1001234567890", "-42"], ["hello world", "@channel", "12a", "1.5"]),
    ("meta", ["79001234567", "14155550100"], ["+79001234567", "hello world", "7900@c.us"]),
    ("webchat", ["visitor-3f2a", "a_b.c:1"], ["hello world", ""]),
])
def test_chat_id_shapes_per_platform(kind, good, bad):
    for value in good:
        assert chat_id_problem(value, kind) is None, value
    for value in bad:
        if value:
            assert chat_id_problem(value, kind) is not None, value
    assert chat_id_problem(CHAT_ID_EXAMPLES[kind], kind) is None


def test_without_a_channel_any_platforms_shape_passes():
    assert chat_id_problem("79001234567@c.us", None) is None
    assert chat_id_problem("-1001234567890", None) is None
    assert chat_id_problem("hello world", None) is not None


def test_the_lists_are_complete_enough():
    assert len(ISO_639_1) == 184
    assert {"en", "es", "pt", "ru", "tr", "id", "ar"} <= ISO_639_1
    assert len(CURRENCIES) >= 170
    assert all(len(code) == 3 and code.isupper() for code in CURRENCIES)


def test_field_errors_carry_fields():
    error = FieldErrors({"name": ["taken"], "slug": ["bad", "worse"]})
    assert error.problems == {"name": ["taken"], "slug": ["bad", "worse"]}
    assert str(error) == "taken bad worse"
    one = FieldError("amount_cents", "negative")
    assert one.field == "amount_cents" and one.problems == {"amount_cents": ["negative"]}
    assert isinstance(one, ValueError)


def test_marshmallow_adapter_refuses_with_the_same_message():
    from marshmallow import ValidationError

    validate = marshmallow_validator(RULES["timezone"])
    validate("UTC")
    with pytest.raises(ValidationError) as refused:
        validate("Mars/Olympus")
    assert refused.value.messages == [RULES["timezone"].problem("Mars/Olympus")]
