"""Amounts of money (app/money.py): typed as money, stored in the currency's minor units."""
from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import Babel, force_locale

from app.money import amount_problem, from_minor, minor_digits, money_text, parse_amount, to_minor


@pytest.fixture
def babel_app():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield app


def test_minor_units_follow_the_currency():
    assert [minor_digits(c) for c in ("USD", "EUR", "INR", "JPY", "KWD")] == [2, 2, 2, 0, 3]
    assert minor_digits(None) == 2 and minor_digits("XYZ") == 2
    assert to_minor("19.00", "USD") == 1900 and to_minor("19", "USD") == 1900
    assert to_minor("19,5", "EUR") == 1950
    assert to_minor("2900", "JPY") == 2900 and to_minor("1.234", "KWD") == 1234
    assert from_minor(1999, "USD") == Decimal("19.99") and str(from_minor(1900, "USD")) == "19.00"
    assert str(from_minor(2900, "JPY")) == "2900" and from_minor(None, "USD") is None


@pytest.mark.parametrize("text, currency, says", [
    ("19.00", "USD", None), ("0", "USD", None), ("1000000", "USD", None),
    ("19,50", "EUR", None), ("100000000", "JPY", None), ("1.234", "KWD", None),
    ("-5", "USD", "at least 0"), ("nineteen", "USD", "such as 19.00"),
    ("1,000", "USD", "without thousands separators"), ("1 000,5", "EUR", None),
    ("$19", "USD", "such as 19.00"), ("19.999", "USD", "at most 2 decimals"),
    ("19.5", "JPY", "JPY amounts have no decimals"), ("1.2345", "KWD", "at most 3 decimals"),
    ("1000000.01", "USD", "at most 1000000"), ("100001", "KWD", "at most 100000"),
    ("9" * 30, "USD", "such as 19.00"), ("1e5", "USD", "such as 19.00"),
])
def test_typed_amounts(babel_app, text, currency, says):
    problem = amount_problem(text, currency)
    if says is None:
        assert problem is None, problem
    else:
        assert problem is not None and says in str(problem), problem


def test_parse_keeps_what_was_meant():
    assert parse_amount(" 19.00 ") == Decimal("19.00")
    assert parse_amount("abc") is None and parse_amount(None) is None
    assert parse_amount(True) is None


def test_money_reads_in_the_readers_notation(babel_app):
    assert money_text(1900, "USD") == "19.00 USD"
    assert money_text(150_000_00, "INR") == "150,000.00 INR"
    assert money_text(2900, "JPY") == "2,900 JPY"
    with force_locale("es"):
        assert money_text(1950, "EUR") == "19,50 EUR"
    with force_locale("ar"):
        assert money_text(1900, "USD") == "19.00 USD"  # Latin digits
    assert money_text(None, "USD") == ""
